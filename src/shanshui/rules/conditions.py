"""The hourly rules (exceedance, flag) and the annual projection, from the store's data to
episodes per alarm key.

Each episode function returns ``{(site, rule, parameter): [Episode, …]}``; the rules
themselves are written down in :mod:`shanshui.rules`. The offline rule is in
:mod:`shanshui.rules.offline`, the daily-mean and rate rules in :mod:`shanshui.rules.limits`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from shanshui.permits.model import Limit, Permit
from shanshui.rules.binding import BEIJING, Bound, Describe, Key, Term, bind_outlets, judged_end
from shanshui.rules.episodes import Episode, hourly_episodes
from shanshui.rules.exceedance import exceeds
from shanshui.rules.hours import HourValues, hour_values
from shanshui.standards.emissions import VALID_FLAGS
from shanshui.store.alarms import AlarmStore
from shanshui.store.api import Store

__all__ = [
    "BEIJING",
    "Bound",
    "Judged",
    "annual_projection",
    "bind_outlets",
    "exceedance_episodes",
    "flag_episodes",
    "judge_hours",
    "judged_from",
]

Judged = dict[tuple[str, str], dict[datetime, tuple[bool | None, float | None]]]


def judged_from(hours: HourValues, bound: Mapping[str, Bound]) -> Judged:
    """Per (site, pollutant with a permitted hourly concentration) and hour: (exceeds,
    value), ``exceeds`` None when the hour is not judged (rule (a) of :mod:`shanshui.rules`:
    the compared value strictly above ``Limit.hourly`` of the permit that holds the hour)."""
    judged: Judged = {}
    for (site, par), by_hour in hours.items():
        b = bound.get(site)
        if b is None:
            continue
        # the permitted hourly concentration under each term (None: that permit sets none)
        limits = [_hourly_limit(t.outlet.limit(par)) for t in b.terms]
        steps = {}
        for h, v in by_hour.items():
            i = b.index(h)
            limit = None if i is None else limits[i]
            if limit is not None:
                steps[h] = (None if v.value is None else exceeds(v.value, limit), v.value)
        if steps:
            judged[(site, par)] = steps
    return judged


def _hourly_limit(lim: Limit | None) -> float | None:
    return None if lim is None else lim.hourly


def judge_hours(store: Store, bound: Mapping[str, Bound], start: datetime, end: datetime) -> Judged:
    """Per (site, pollutant) and hour in ``[start, end)``: (exceeds, value), ``exceeds`` None
    when the hour is not judged (rule (a) of :mod:`shanshui.rules`)."""
    return judged_from(hour_values(store, bound, start, end, hourly_only=True), bound)


def exceedance_episodes(
    hours: HourValues,
    bound: Mapping[str, Bound],
    starts: Mapping[str, datetime],
    until: datetime | None = None,
) -> dict[Key, list[Episode]]:
    """Rule (a): runs of hours whose valid hourly value exceeds the permitted hourly limit,
    from the hours at or after ``starts[site]``.

    Minute data decide an hour (≥ 45 valid minutes, HJ 76-2017 Annex B, through
    :func:`shanshui.rules.compliance.evaluate_hours`); the device's hourly records decide the
    hours that have no minute data. Each hour is judged under the limit of the permit that
    holds it (:func:`~shanshui.rules.binding.bind_outlets`); hours no permit holds are not
    judged. A run closes where no permit limits the pollutant's hourly concentration any
    more, once that instant is judged (before ``until``, :func:`judged_end`; None: never).
    """
    out: dict[Key, list[Episode]] = {}
    for (site, par), by_hour in judged_from(hours, bound).items():
        start = starts.get(site)
        if start is None:
            continue
        steps = [(h, by_hour[h][0], by_hour[h][1]) for h in by_hour if h >= start]
        if until is not None:
            applies = partial(Term.sets, parameter=par, kind="hourly")
            steps += bound[site].closes(applies, start, until)
        runs = hourly_episodes(sorted(steps, key=lambda step: step[0]))
        if not runs:
            continue
        out[(site, "exceedance", par)] = bound[site].episodes(runs, _hourly(par))
    return out


def _hourly(parameter: str) -> Describe:
    """Rule (a)'s threshold and detail under a term (which limits ``parameter`` hourly)."""

    def describe(term: Term) -> tuple[float | None, Mapping[str, Any]]:
        lim = term.outlet.limit(parameter)
        assert lim is not None  # the run's first hour was judged under this term
        return lim.hourly, term.limit_detail(lim)

    return describe


def flag_episodes(
    store: AlarmStore, bound: Mapping[str, Bound], starts: Mapping[str, datetime], now: datetime
) -> dict[Key, list[Episode]]:
    """Rule (c): runs of hours where an outlet's data carry a flag other than N, from the
    hours at or after ``starts[site]`` to the last hour judged at ``now`` (:func:`judged_end`:
    the first clean minute of an hour under way does not end a run). Hours no permit holds
    are not judged, and a run closes where no permit holds the outlet any more."""
    sites = sorted(s for s in bound if s in starts)
    if not sites:
        return {}
    start = min(starts[s] for s in sites)
    until = judged_end(now)
    by_site: dict[str, dict[datetime, set[str]]] = defaultdict(dict)
    for site, hour, flag, _n in store.rule_flag_hours(sites, start, until):
        if hour >= starts[site] and bound[site].index(hour) is not None:
            by_site[site].setdefault(hour, set()).add(flag)
    out: dict[Key, list[Episode]] = {}
    for site, hours in by_site.items():
        b = bound[site]
        flags = set().union(*hours.values()) - VALID_FLAGS
        ends = b.closes(lambda _t: True, starts[site], until)
        for flag in sorted(flags):
            steps = [(h, flag in marks, None) for h, marks in hours.items()] + ends
            runs = hourly_episodes(sorted(steps, key=lambda step: step[0]))
            out[(site, "flag", flag)] = b.episodes(runs, _flagged(flag))
    return out


def _flagged(flag: str) -> Describe:
    """Rule (c)'s detail under a term (no threshold)."""

    def describe(term: Term) -> tuple[float | None, Mapping[str, Any]]:
        return None, {"outlet": term.outlet.code, "flag": flag}

    return describe


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
    # so far = the judged hours' totals, and the elapsed fraction up to the same instant: up
    # to ``now`` the fraction grew by the minute while the totals grew by the hour, and the
    # projection fell below the permitted total and rose above it again every hour
    until = judged_end(now)
    if until <= y0:
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
        out += permit_totals(store, p, year, until)
    return out
