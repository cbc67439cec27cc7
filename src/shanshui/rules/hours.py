"""The hourly values of outlets under permit: one read behind the hourly, daily-mean and
emission-rate rules (rules (a), (e) and (f) of :mod:`shanshui.rules`).

:func:`hour_values` asks :func:`shanshui.rules.compliance.evaluate_hours` once per stored
period (the device's hourly records, then the minute records, which take precedence for
the hours they cover) for every pollutant with any permitted limit (hourly, daily or
rate) and, at air outlets with a permitted rate, for the flue-gas flow (HJ 212 ``a00000``).
Per (site, parameter) and hour it keeps:

- ``mean`` — the MEASURED hourly mean [the parameter's unit] when the hour is valid
  (≥ 45 valid minutes, HJ 76-2017 Annex B, or else a valid hourly record), else None;
- ``value`` — the value a concentration limit is compared with: the reference-oxygen
  converted hourly mean where the permit says the limits apply to it (GB 13223-2011 §5.2,
  with the hour's valid O2 mean), else the measured mean; None when not judged.

Hours outside the binding permit's validity are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pyarrow as pa

from shanshui.rules.binding import Bound
from shanshui.rules.compliance import evaluate_hours
from shanshui.store.api import Store

__all__ = ["FLOW", "HourValue", "HourValues", "hour_values", "limits_table"]

#: HJ 212-2017 code of the flue-gas flow (废气流量, dry, standard conditions; m³/s).
FLOW = "a00000"


class HourValue(NamedTuple):
    """One outlet-parameter-hour: measured mean and compared value (None: not valid)."""

    mean: float | None
    value: float | None


HourValues = dict[tuple[str, str], dict[datetime, HourValue]]

_SCHEMA = pa.schema(
    [
        ("site", pa.string()),
        ("parameter", pa.string()),
        ("limit", pa.float64()),
        ("reference_o2", pa.float64()),
        ("basis", pa.string()),
    ]
)


def limits_table(bound: Mapping[str, Bound], *, hourly_only: bool = False) -> pa.Table:
    """The limits table of :func:`~shanshui.rules.compliance.evaluate_hours` for ``bound``:
    one row per outlet and limited pollutant (``limit`` the permitted hourly concentration,
    +inf where the permit gives none: such rows are read for their values, never judged
    there) and the flow at air outlets with a permitted rate. ``hourly_only``: only the
    pollutants with a permitted hourly concentration."""
    rows: list[dict[str, Any]] = []
    for site, b in bound.items():
        wanted = {lim.parameter for lim in b.outlet.limits}
        for lim in b.outlet.limits:
            if hourly_only and lim.hourly is None:
                continue
            rows.append(
                {
                    "site": site,
                    "parameter": lim.parameter,
                    "limit": math.inf if lim.hourly is None else lim.hourly,
                    # the permit says whether the limits bind the converted value (GB 13223 §5.2)
                    "reference_o2": lim.reference_o2 if lim.converted else None,
                    "basis": "converted" if lim.converted else "measured",
                }
            )
        rated = any(lim.rate_kg_h is not None for lim in b.outlet.limits)
        if not hourly_only and rated and b.outlet.kind == "air" and FLOW not in wanted:
            rows.append(
                {"site": site, "parameter": FLOW, "limit": math.inf, "reference_o2": None,
                 "basis": "measured"}
            )  # fmt: skip
    return pa.Table.from_pylist(rows, _SCHEMA)


def hour_values(
    store: Store,
    bound: Mapping[str, Bound],
    start: datetime,
    end: datetime,
    *,
    hourly_only: bool = False,
) -> HourValues:
    """Per (site, parameter) and hour in ``[start, end)`` within the binding permit's
    validity: :class:`HourValue` (module docstring)."""
    limits = limits_table(bound, hourly_only=hourly_only)
    out: HourValues = {}
    if limits.num_rows == 0:
        return out
    # hourly records first, minute data overwrite them (minute data take precedence) where
    # they make a valid hour or the device sent no valid hourly record of it. CHOICE: minute
    # records that do not make a valid hour leave it to a valid hourly record: HJ 212-2017
    # lets a data logger send CN 2051 every MinInterval minutes (CN 1063/1064): every 10
    # minutes, six records an hour that never reach HJ 76-2017 Annex B's 45, and the
    # logger's hourly record is then the hour's value.
    for period in ("hour", "minute"):
        table = evaluate_hours(store, limits, start=start, end=end, period=period)
        cols = table.select(["site", "parameter", "hour", "valid", "mean", "value"])
        for site, par, label, valid, mean, value in zip(
            *(c.to_pylist() for c in cols.columns), strict=True
        ):
            b = bound[site]
            hour = label.astimezone(UTC)
            if not b.start <= hour < b.end:
                continue
            ok = bool(valid)
            hours = out.setdefault((site, par), {})
            kept = hours.get(hour)
            if not ok and kept is not None and kept.mean is not None:
                continue  # a valid hourly record stands (see above)
            hours[hour] = HourValue(mean if ok else None, value if ok else None)
    return out
