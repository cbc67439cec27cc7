"""Pollution sources' compliance (issue 6, items 3 and 5), public:

- ``GET /sources/compliance?from&to&region`` — regional compliance (全面达标排放): the share of
  sources and of source-hours in compliance over the natural days ``from``–``to`` (Beijing
  time, both included); the rules are in :mod:`shanshui.rules.regional`;
- ``GET /enterprises/{id}/totals?year`` — emissions so far in the year against the permitted
  annual totals (t), with the projection of the annual-total rule.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request

from shanshui.api.common import TIME_CONVENTION, From, To, day_span, store_of
from shanshui.api.errors import ApiError
from shanshui.rules.regional import enterprise_totals, regional_compliance

router = APIRouter(tags=["sources"])

_BEIJING = ZoneInfo("Asia/Shanghai")
#: Longest period one compliance request may cover (it evaluates minute data).
MAX_COMPLIANCE_DAYS = 92


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=_BEIJING)


@router.get("/sources/compliance")
def compliance(
    request: Request,
    start: From,
    end: To,
    region: Annotated[
        str | None, Query(pattern=r"^\d{6}$", description="GB/T 2260 code; regions below too")
    ] = None,
) -> dict[str, Any]:
    """Share of sources and of source-hours in compliance (全面达标排放)."""
    day_span(start, end, max_days=MAX_COMPLIANCE_DAYS)
    with store_of(request) as store:
        out = regional_compliance(
            store, _midnight(start), _midnight(end + dt.timedelta(days=1)), region=region
        )
    return {**out, "time_convention": TIME_CONVENTION}


@router.get("/enterprises/{enterprise_id}/totals")
def totals(
    request: Request,
    enterprise_id: str,
    year: Annotated[int, Query(ge=2000, le=2100, description="natural year (Beijing time)")],
) -> dict[str, Any]:
    """Emitted so far in ``year`` against the permitted annual totals [t]."""
    with store_of(request) as store:
        if not any(e.id == enterprise_id for e in store.enterprises()):
            raise ApiError(404, "not_found", f"no enterprise {enterprise_id!r}")
        return enterprise_totals(store, enterprise_id, year, dt.datetime.now(dt.UTC))
