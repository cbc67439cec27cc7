"""The daily aggregates the store keeps: ``/sites/{code}/daily``.

``serve`` recomputes a site's natural day whenever new or late hourly data, or a correction,
reach it (the store's ``daily`` table, :meth:`shanshui.store.Store.recompute_daily`). This face
publishes those rows as they stand, with when each was computed, so that a reader can see a
late day change and the figures the platform itself keeps; ``/sites/{code}/series`` computes
the same 24-hour means on the fly from the hours.

Every row carries its period (``day``, a natural day in Beijing time: GB 3095-2012 §3.11,
DESIGN §4), the hours ``expected`` (24), ``observed`` (hours of valid data, flag N: the
count GB 3095-2012 Table 4 judges, as ``series`` names it) and ``stored`` (hours stored with
any flag), whether it is ``valid`` (≥ 20 valid hours) and the ``computed`` time. ``value``,
``min`` and ``max`` are of the valid hours, and null when the day is not valid (DESIGN §4:
never computed from too little).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Request

from shanshui.api.common import TIME_CONVENTION, From, To, day_span, sites_of, store_of
from shanshui.api.errors import ApiError

router = APIRouter(tags=["series"])


def _number(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


@router.get("/sites/{code}/daily")
def daily(
    request: Request,
    code: str,
    start: From,
    end: To,
    parameters: Annotated[
        str | None, Query(description="comma-separated parameter codes; default all")
    ] = None,
) -> dict[str, Any]:
    """The site's stored daily aggregates of ``from`` … ``to``: per parameter and natural
    day, the 24-hour mean of its valid hourly means with min, max, counts and validity
    (GB 3095-2012 Table 4), as the platform last computed them."""
    day_span(start, end)
    if not any(s.code == code for s in sites_of(request)):
        raise ApiError(404, "not_found", f"no site {code!r}")
    wanted = [p.strip() for p in parameters.split(",") if p.strip()] if parameters else None
    if parameters is not None and not wanted:
        raise ApiError(422, "validation_failed", "parameters is empty")
    with store_of(request) as store:
        rows = store.daily(code, wanted, start=start, end=end + dt.timedelta(days=1))
    rows = rows[rows["statistic"] == "avg"]
    valid = rows["valid"].to_numpy(dtype=bool)
    items = [
        {
            "day": pd.Timestamp(r.day).date().isoformat(),
            "parameter": str(r.parameter),
            "value": _number(r.value) if ok else None,
            "min": _number(r.min) if ok else None,
            "max": _number(r.max) if ok else None,
            "expected": int(r.expected),
            "observed": int(r.valid_count),
            "stored": int(r.observed),
            "valid": bool(ok),
            "computed": pd.Timestamp(r.computed).isoformat(),
        }
        for r, ok in zip(rows.itertuples(index=False), valid, strict=True)
    ]
    items.sort(key=lambda item: (item["parameter"], item["day"]))
    return {
        "site": code,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "time_convention": TIME_CONVENTION,
        "valid_rule": "GB 3095-2012 Table 4: a 24-hour mean needs at least 20 valid hours",
        "count": len(items),
        "valid_days": int(np.count_nonzero(valid)),
        "items": items,
    }
