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

Each hour is read as the permit that holds it reads it (:func:`~shanshui.rules.binding.
bind_outlets`); hours no permit holds are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pyarrow as pa

from shanshui.permits.model import Outlet
from shanshui.rules.binding import Bound
from shanshui.rules.compliance import evaluate_hours
from shanshui.store.api import Store

__all__ = ["FLOW", "HourValue", "HourValues", "hour_values"]

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


def _rows(site: str, outlet: Outlet, *, hourly_only: bool) -> list[dict[str, Any]]:
    """The rows of the limits table :func:`~shanshui.rules.compliance.evaluate_hours` reads for
    one outlet as one permit describes it: one per limited pollutant (``limit`` the permitted
    hourly concentration, +inf where the permit gives none: such rows are read for their
    values, never judged there) and the flow at an air outlet with a permitted rate."""
    rows: list[dict[str, Any]] = []
    wanted = {lim.parameter for lim in outlet.limits}
    for lim in outlet.limits:
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
    rated = any(lim.rate_kg_h is not None for lim in outlet.limits)
    if not hourly_only and rated and outlet.kind == "air" and FLOW not in wanted:
        rows.append(
            {"site": site, "parameter": FLOW, "limit": math.inf, "reference_o2": None,
             "basis": "measured"}
        )  # fmt: skip
    return rows


#: One read of :func:`_layers`: its limits table's rows and, per site, the terms it speaks for
#: (indices in ``Bound.terms``) with the pollutants each term's permit reads.
_Layer = tuple[list[dict[str, Any]], dict[str, dict[int, set[str]]]]


def _layers(bound: Mapping[str, Bound], *, hourly_only: bool) -> list[_Layer]:
    """The reads one window needs: each a limits table and, per site, the terms (indices in
    ``Bound.terms``) it speaks for, with the pollutants each reads. The terms of an outlet
    share a read unless two of them read a pollutant differently (one converted at a
    reference O2, the other not, or at another reference): a renewal that keeps the
    conversion costs no second read."""
    layers: list[_Layer] = []
    for site, b in bound.items():
        placed: list[dict[str, tuple[Any, Any]]] = []  # per layer: parameter → how it is read
        for i, term in enumerate(b.terms):
            rows = _rows(site, term.outlet, hourly_only=hourly_only)
            how = {r["parameter"]: (r["reference_o2"], r["basis"]) for r in rows}
            fits = (k for k, seen in enumerate(placed)
                    if all(seen.get(par, v) == v for par, v in how.items()))  # fmt: skip
            k = next(fits, len(placed))
            if k == len(placed):
                placed.append({})
            if k == len(layers):
                layers.append(([], {}))
            table, terms = layers[k]
            table += [r for r in rows if r["parameter"] not in placed[k]]
            placed[k].update(how)
            terms.setdefault(site, {})[i] = set(how)
    return layers


def hour_values(
    store: Store,
    bound: Mapping[str, Bound],
    start: datetime,
    end: datetime,
    *,
    hourly_only: bool = False,
) -> HourValues:
    """Per (site, parameter) and hour in ``[start, end)`` that a permit holds and reads it:
    :class:`HourValue` (module docstring), as the permit that holds the hour reads it."""
    out: HourValues = {}
    for rows, terms in _layers(bound, hourly_only=hourly_only):
        if rows:
            limits = pa.Table.from_pylist(rows, _SCHEMA)
            _read(store, limits, bound=bound, terms=terms, span=(start, end), out=out)
    return out


def _read(
    store: Store,
    limits: pa.Table,
    *,
    bound: Mapping[str, Bound],
    terms: Mapping[str, Mapping[int, set[str]]],
    span: tuple[datetime, datetime],
    out: HourValues,
) -> None:
    """:func:`hour_values` of one read (:func:`_layers`): the hours of ``terms`` into ``out``."""
    # outlets one term holds over the whole span: no look-up per row
    whole = {
        site: 0
        for site, b in bound.items()
        if len(b.terms) == 1 and b.terms[0].start <= span[0] and span[1] <= b.terms[0].end
    }
    # hourly records first, minute data overwrite them (minute data take precedence) where
    # they make a valid hour or the device sent no valid hourly record of it. CHOICE: minute
    # records that do not make a valid hour leave it to a valid hourly record: HJ 212-2017
    # lets a data logger send CN 2051 every MinInterval minutes (CN 1063/1064): every 10
    # minutes, six records an hour that never reach HJ 76-2017 Annex B's 45, and the
    # logger's hourly record is then the hour's value.
    for period in ("hour", "minute"):
        table = evaluate_hours(store, limits, start=span[0], end=span[1], period=period)
        cols = table.select(["site", "parameter", "hour", "valid", "mean", "value"])
        for site, par, label, valid, mean, value in zip(
            *(c.to_pylist() for c in cols.columns), strict=True
        ):
            b = bound[site]
            hour = label.astimezone(UTC)
            i = whole.get(site)
            if i is None:
                i = b.index(hour)
            # hours no permit holds, or held by a term another read speaks for, are not here,
            # nor a pollutant this hour's permit does not limit
            if i is None or par not in terms[site].get(i, ()):
                continue
            ok = bool(valid)
            hours = out.setdefault((site, par), {})
            kept = hours.get(hour)
            if not ok and kept is not None and kept.mean is not None:
                continue  # a valid hourly record stands (see above)
            hours[hour] = HourValue(mean if ok else None, value if ok else None)
