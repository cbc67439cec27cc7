"""The four rules as functions from the store's data to episodes per alarm key.

Each function returns ``{(site, rule, parameter): [Episode, …]}`` for the window
``[start, now)``; the rules themselves are written down in :mod:`shanshui.rules`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from shanshui.permits.model import Outlet, Permit
from shanshui.rules.compliance import evaluate_hours
from shanshui.rules.episodes import Episode, hourly_episodes
from shanshui.standards.emissions import VALID_FLAGS
from shanshui.store.api import Store

__all__ = [
    "BEIJING",
    "Bound",
    "annual_projection",
    "exceedance_episodes",
    "flag_episodes",
    "offline_episodes",
]

#: Permits' dates and the natural year are Beijing time (DESIGN §4).
BEIJING = ZoneInfo("Asia/Shanghai")

Key = tuple[str, str, str]


@dataclass(frozen=True)
class Bound:
    """An outlet under the permit that binds it in the evaluated window."""

    permit: Permit
    outlet: Outlet

    @cached_property
    def start(self) -> datetime:
        """First instant of the permit's validity (00:00 Beijing of ``valid_from``)."""
        return datetime.combine(self.permit.valid_from, time(), BEIJING).astimezone(UTC)

    @cached_property
    def end(self) -> datetime:
        """First instant after the validity (00:00 Beijing of the day after ``valid_to``)."""
        day = self.permit.valid_to + timedelta(days=1)
        return datetime.combine(day, time(), BEIJING).astimezone(UTC)


def bind_outlets(permits: Sequence[Permit], start: datetime, end: datetime) -> dict[str, Bound]:
    """Site → the permit and outlet that bind it: among the permits valid at some time in
    ``[start, end)``, the one that starts last (CHOICE: a renewed permit replaces the old one
    for the whole window)."""
    found: dict[str, Bound] = {}
    for p in permits:
        for o in p.outlets:
            b = Bound(p, o)
            if b.end <= start or b.start >= end:
                continue
            old = found.get(o.site)
            if old is None or p.valid_from > old.permit.valid_from:
                found[o.site] = b
    return found


def _limits_table(bound: Mapping[str, Bound]) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for site, b in bound.items():
        for lim in b.outlet.limits:
            if lim.hourly is None:
                continue
            rows.append(
                {
                    "site": site,
                    "parameter": lim.parameter,
                    "limit": lim.hourly,
                    # the permit says whether the limit binds the converted value (GB 13223 §5.2)
                    "reference_o2": lim.reference_o2 if lim.converted else None,
                    "basis": "converted" if lim.converted else "measured",
                }
            )
    schema = pa.schema(
        [
            ("site", pa.string()),
            ("parameter", pa.string()),
            ("limit", pa.float64()),
            ("reference_o2", pa.float64()),
            ("basis", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema)


Judged = dict[tuple[str, str], dict[datetime, tuple[bool | None, float | None]]]


def judge_hours(store: Store, bound: Mapping[str, Bound], start: datetime, end: datetime) -> Judged:
    """Per (site, pollutant) and hour in ``[start, end)``: (exceeds, value), ``exceeds`` None
    when the hour is not judged (rule (a) of :mod:`shanshui.rules`)."""
    limits = _limits_table(bound)
    judged: Judged = {}
    if limits.num_rows == 0:
        return judged
    # hourly records first, minute data overwrite them (minute data take precedence)
    for period in ("hour", "minute"):
        table = evaluate_hours(store, limits, start=start, end=end, period=period)
        cols = table.select(["site", "parameter", "hour", "valid", "value", "exceeded"])
        for site, par, label, valid, value, exceeded in zip(
            *(c.to_pylist() for c in cols.columns), strict=True
        ):
            b = bound[site]
            hour = label.astimezone(UTC)
            if not b.start <= hour < b.end:
                continue
            ok = bool(valid) and value is not None
            judged.setdefault((site, par), {})[hour] = (bool(exceeded) if ok else None, value)
    return judged


def exceedance_episodes(
    store: Store, bound: Mapping[str, Bound], start: datetime, now: datetime
) -> dict[Key, list[Episode]]:
    """Rule (a): runs of hours whose valid hourly value exceeds the permitted hourly limit.

    Minute data decide an hour (≥ 45 valid minutes, HJ 76-2017 Annex B, through
    :func:`shanshui.rules.compliance.evaluate_hours`); the device's hourly records decide the
    hours that have no minute data. Hours outside the permit's validity are not judged.
    """
    judged = judge_hours(store, bound, start, now)
    out: dict[Key, list[Episode]] = {}
    for (site, par), hours in judged.items():
        b = bound[site]
        lim = b.outlet.limit(par)
        assert lim is not None
        steps = [(h, hours[h][0], hours[h][1]) for h in sorted(hours)]
        runs = hourly_episodes(steps)
        if not runs:
            continue
        detail = {
            "unit": lim.unit,
            "basis": "converted" if lim.converted else "measured",
            "reference_o2": lim.reference_o2 if lim.converted else None,
            "standard": lim.standard,
            "outlet": b.outlet.code,
        }
        out[(site, "exceedance", par)] = [
            Episode(s, last, end, n, worst, lim.hourly, b.permit.enterprise.id, b.permit.id, detail)
            for s, last, end, n, worst in runs
        ]
    return out


def flag_episodes(
    store: Store, bound: Mapping[str, Bound], start: datetime, now: datetime
) -> dict[Key, list[Episode]]:
    """Rule (c): runs of hours where an outlet's data carry a flag other than N."""
    if not bound:
        return {}
    by_site: dict[str, dict[datetime, set[str]]] = defaultdict(dict)
    for site, hour, flag, _n in store.rule_flag_hours(sorted(bound), start, now):
        by_site[site].setdefault(hour, set()).add(flag)
    out: dict[Key, list[Episode]] = {}
    for site, hours in by_site.items():
        b = bound[site]
        flags = set().union(*hours.values()) - VALID_FLAGS
        order = sorted(hours)
        for flag in sorted(flags):
            runs = hourly_episodes((h, flag in hours[h], None) for h in order)
            detail = {"outlet": b.outlet.code, "flag": flag}
            out[(site, "flag", flag)] = [
                Episode(s, last, end, n, None, None, b.permit.enterprise.id, b.permit.id, detail)
                for s, last, end, n, _w in runs
            ]
    return out


def offline_episodes(
    store: Store, bound: Mapping[str, Bound], start: datetime, now: datetime
) -> dict[Key, list[Episode]]:
    """Rule (b): silences longer than the outlet's reporting interval."""
    if not bound:
        return {}
    sites = sorted(bound)
    interval = {s: timedelta(seconds=bound[s].outlet.reporting_interval_s) for s in sites}
    min_gap = min(i.total_seconds() for i in interval.values())
    silences: dict[str, list[tuple[datetime, datetime | None]]] = defaultdict(list)
    for site, prev, nxt in store.rule_gaps(sites, start, now, min_gap):
        if nxt - prev > interval[site]:
            silences[site].append((prev, nxt))
    for site, last in store.rule_last_times(sites, now).items():
        if now - last > interval[site]:
            silences[site].append((last, None))
    out: dict[Key, list[Episode]] = {}
    for site, spans in silences.items():
        b = bound[site]
        episodes = []
        for prev, resumed in sorted(spans, key=lambda x: x[0]):
            opened = prev + interval[site]
            until = resumed if resumed is not None else now
            silence = (until - prev).total_seconds()
            hours = math.floor((until - opened).total_seconds() / 3600)
            episodes.append(
                Episode(
                    opened,
                    until,
                    resumed,
                    hours,
                    silence,
                    interval[site].total_seconds(),
                    b.permit.enterprise.id,
                    b.permit.id,
                    {"outlet": b.outlet.code, "last_data": prev.isoformat(), "mn": b.outlet.mn},
                )
            )
        out[(site, "offline", "")] = episodes
    return out


@dataclass(frozen=True)
class Projection:
    """Rule (d) for one enterprise, pollutant and year (masses in t)."""

    enterprise: str
    permit: str
    parameter: str
    year: int
    so_far: float
    fraction: float
    projection: float
    permitted: float

    @property
    def over(self) -> bool:
        return self.projection > self.permitted


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """The natural year in Beijing time as UTC instants [start, end)."""
    return (
        datetime(year, 1, 1, tzinfo=BEIJING).astimezone(UTC),
        datetime(year + 1, 1, 1, tzinfo=BEIJING).astimezone(UTC),
    )


def permit_totals(store: Store, permit: Permit, year: int, until: datetime) -> list[Projection]:
    """Emissions so far of ``permit``'s enterprise in ``year`` (up to ``until``) against its
    permitted totals for that year: ``so_far`` = Σ hourly ``cou`` [kg] / 1000 of its outlets;
    ``projection = so_far / f``, ``f`` = elapsed fraction of the Beijing natural year."""
    y0, y1 = year_bounds(year)
    upto = min(max(until, y0), y1)
    fraction = (upto - y0) / (y1 - y0)
    totals = [t for t in permit.totals if t.year == year]
    if not totals:
        return []
    sites = [o.site for o in permit.outlets]
    sums = store.rule_cou_sums(sites, [t.parameter for t in totals], y0, upto)
    out = []
    for t in totals:
        kg = sum(v for (_s, par), v in sums.items() if par == t.parameter)
        so_far = kg / 1000.0  # HJ 212-2017: a pollutant's Cou is in kg; permits in t/a
        projection = so_far / fraction if fraction > 0 else float("nan")
        out.append(
            Projection(permit.enterprise.id, permit.id, t.parameter, year, so_far, fraction,
                       projection, t.tonnes)
        )  # fmt: skip
    return out


def annual_projection(store: Store, permits: Sequence[Permit], now: datetime) -> list[Projection]:
    """Rule (d): per enterprise and pollutant with a permitted total for the year of ``now``,
    ``projection = so_far / elapsed fraction of the year`` (see :mod:`shanshui.rules`)."""
    year = now.astimezone(BEIJING).year
    y0, _y1 = year_bounds(year)
    if now <= y0:
        return []
    chosen: dict[str, Permit] = {}  # enterprise → the permit valid now that starts last
    day = now.astimezone(BEIJING).date()
    for p in permits:
        if p.valid_on(day) and any(t.year == year for t in p.totals):
            old = chosen.get(p.enterprise.id)
            if old is None or p.valid_from > old.valid_from:
                chosen[p.enterprise.id] = p
    out = []
    for _ent, p in sorted(chosen.items()):
        out += permit_totals(store, p, year, now)
    return out
