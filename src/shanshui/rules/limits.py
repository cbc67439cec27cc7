"""The daily-mean and emission-rate rules (rules (e) and (f) of :mod:`shanshui.rules`) as
functions from hourly values (:func:`shanshui.rules.hours.hour_values`) to episodes.

Both are pure: the caller reads the hours once and hands each rule its window starts.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import numpy as np

from shanshui.permits.model import Limit
from shanshui.rules.binding import Bound, Describe, Key, Step, Term, day_start, judged_end
from shanshui.rules.episodes import Episode, hourly_episodes
from shanshui.rules.exceedance import exceeds
from shanshui.rules.hours import FLOW, HourValues
from shanshui.standards.emissions import emission_rate, flow_m3s_to_m3h

__all__ = [
    "DAILY_RULE",
    "MIN_VALID_HOURS_PER_DAY",
    "RATE_RULE",
    "daily_episodes",
    "daily_means",
    "flow_to_m3h",
    "rate_episodes",
]

DAILY_RULE = "daily_exceedance"
RATE_RULE = "rate_exceedance"
#: HJ 76-2017 Annex B (and HJ 75-2017's data validity): a daily value needs at least 20
#: valid hourly values in the natural day.
MIN_VALID_HOURS_PER_DAY = 20


def daily_means(
    hours: Mapping[datetime, float | None], tz: str, now: datetime
) -> dict[datetime, tuple[float | None, int]]:
    """Per natural day (自然日 of zone ``tz``, labelled by its start, UTC) whose last hour is
    judged at ``now`` (:func:`~shanshui.rules.binding.judged_end`): (mean of its valid
    hourly values, how many there are); the mean is None when fewer than 20 (HJ 76-2017
    Annex B). Days without any hourly value are absent."""
    by_day: dict[datetime, list[float]] = defaultdict(list)
    seen: set[datetime] = set()
    for hour, value in hours.items():
        day = day_start(hour, tz)
        seen.add(day)
        if value is not None:
            by_day[day].append(value)
    out: dict[datetime, tuple[float | None, int]] = {}
    for day in seen:
        end = day_start(day + timedelta(hours=36), tz)  # the next day's start (any DST)
        if end > judged_end(now):
            continue  # a day is judged once its last hour is (its mean is not final before)
        values = by_day.get(day, [])
        # fsum: the same mean whatever order the hours come in (idempotent runs)
        mean = math.fsum(values) / len(values) if len(values) >= MIN_VALID_HOURS_PER_DAY else None
        out[day] = (mean, len(values))
    return out


def daily_episodes(
    hours: HourValues,
    bound: Mapping[str, Bound],
    starts: Mapping[str, datetime],
    now: datetime,
    tz: Mapping[str, str],
) -> dict[Key, list[Episode]]:
    """Rule (e): runs of natural days whose daily mean exceeds the permitted daily-mean
    concentration (strictly greater), per outlet and pollutant with a ``Limit.daily``.

    The daily mean is the mean of the day's valid hourly values as rule (a) compares them
    (converted where the permit says so; CHOICE: the mean of the hourly converted values,
    as the CEMS daily report lists it, not the conversion of daily means), judged when the
    day has at least 20 of them (HJ 76-2017 Annex B) and is over. Days from ``starts[site]``
    (a day start) on; episodes labelled by day starts; ``hours`` = 24 per exceeding day.
    """
    out: dict[Key, list[Episode]] = {}
    for site, b in bound.items():
        start = starts.get(site)
        if start is None:
            continue
        zone = tz.get(site, "Asia/Shanghai")
        for par in _limited(b, "daily"):
            values = hours.get((site, par), {})
            days = daily_means({h: v.value for h, v in values.items()}, zone, now)
            steps: list[Step] = []
            for d, (mean, _n) in days.items():
                # a day is judged under the permit that holds its middle (permits' dates are
                # Beijing natural days: in Beijing time the whole day is one permit's; a day
                # of another zone goes with the permit that holds most of it)
                lim = _limit(b, d + MIDDAY, par)
                if d >= start and lim is not None and lim.daily is not None:
                    steps.append((d, None if mean is None else exceeds(mean, lim.daily), mean))
            # a run closes at the first day no permit limits the daily mean any more
            steps += b.closes(
                partial(Term.sets, parameter=par, kind="daily"), start, judged_end(now),
                snap=partial(_midday_start, zone=zone),
            )  # fmt: skip
            runs = hourly_episodes(sorted(steps, key=lambda step: step[0]))
            if not runs:
                continue
            extra = {"tz": zone, "min_valid_hours": MIN_VALID_HOURS_PER_DAY}
            describe = _describe(par, "daily", extra)
            out[(site, DAILY_RULE, par)] = [
                replace(e, detail={**e.detail, "days": e.hours // 24})
                for e in b.episodes(runs, describe, step_hours=24, middle=MIDDAY)
            ]
    return out


#: The middle of a natural day from its start (a day of daylight saving is close enough).
MIDDAY = timedelta(hours=12)


def _midday_start(t: datetime, zone: str) -> datetime:
    """The start of the natural day of ``zone`` whose middle comes first at or after ``t``
    (a permit's first instant: the first day judged under it). A day whose middle is ``t``
    itself is that day (in a zone 12 h behind Beijing every permit starts at a midday)."""
    return day_start(t + MIDDAY - timedelta(microseconds=1), zone)


def _limited(b: Bound, kind: str) -> list[str]:
    """The pollutants some permit of ``b`` limits by ``kind`` (``daily``, ``rate_kg_h``)."""
    pars = {lim.parameter for o in b.outlets for lim in o.limits if getattr(lim, kind) is not None}
    return sorted(pars)


def _limit(b: Bound, t: datetime, parameter: str) -> Limit | None:
    """The limit of ``parameter`` in the permit that holds ``b`` at ``t`` (None: none)."""
    term = b.at(t)
    return None if term is None else term.outlet.limit(parameter)


def _describe(parameter: str, kind: str, extra: Mapping[str, Any]) -> Describe:
    """A daily or rate rule's threshold and detail under a term."""

    def describe(term: Term) -> tuple[float | None, Mapping[str, Any]]:
        lim = term.outlet.limit(parameter)
        assert lim is not None  # the run's first step was judged under this term
        threshold: float | None = getattr(lim, kind)
        if kind == "daily":
            return threshold, {**term.limit_detail(lim), **extra}
        return threshold, {**extra, "standard": lim.standard, "outlet": term.outlet.code}

    return describe


def flow_to_m3h(flow: np.ndarray, unit: str | None) -> np.ndarray | None:
    """The flow in m³/h from its stored unit (the unit travels with the parameter, DESIGN
    §4): m³/s × 3600 (HJ 212 ``a00000``), m³/h as is; None for any other unit."""
    norm = (unit or "m³/s").replace("3", "³").replace(" ", "").lower()
    if norm == "m³/s":
        return flow_m3s_to_m3h(flow)
    if norm == "m³/h":
        return flow.astype(np.float64)
    return None


def rate_episodes(
    hours: HourValues,
    bound: Mapping[str, Bound],
    starts: Mapping[str, datetime],
    flow_unit: str | None = "m³/s",
    until: datetime | None = None,
) -> dict[Key, list[Episode]]:
    """Rule (f): runs of hours whose emission rate exceeds the permitted rate [kg/h]
    (strictly greater), per air outlet and pollutant with a ``Limit.rate_kg_h``.

    The hourly rate is ``G = C × Q × 10⁻⁶`` (HJ 75-2017, :func:`~shanshui.standards.
    emissions.emission_rate`) from the MEASURED hourly mean concentration C [mg/m³] (never
    the converted one: the flow already carries the dilution) and the hour's mean dry
    standard flow Q [m³/h] (HJ 212 ``a00000``, stored in m³/s:
    :func:`~shanshui.standards.emissions.flow_m3s_to_m3h`). An hour is judged when both
    hourly means are valid (≥ 45 valid minutes or a valid hourly record, HJ 76-2017 Annex B).
    """
    out: dict[Key, list[Episode]] = {}
    for site, b in bound.items():
        start = starts.get(site)
        if start is None:
            continue
        flow = {h: v.mean for h, v in hours.get((site, FLOW), {}).items() if v.mean is not None}
        for par in _limited(b, "rate_kg_h"):
            conc = hours.get((site, par), {})
            order = []
            for h in sorted(conc):
                term = b.at(h)  # each hour under the permit that holds it
                if h < start or term is None or term.outlet.kind != "air":
                    continue
                lim = term.outlet.limit(par)
                if lim is not None and lim.rate_kg_h is not None:
                    order.append((h, lim.rate_kg_h))
            both = [h for h, _r in order if conc[h].mean is not None and h in flow]
            q = flow_to_m3h(np.array([flow[h] for h in both], dtype=np.float64), flow_unit)
            if q is None:
                continue
            c = np.array([conc[h].mean for h in both], dtype=np.float64)
            rate = dict(zip(both, emission_rate(c, q).tolist(), strict=True))
            steps: list[Step] = [
                (h, None if h not in rate else exceeds(rate[h], permitted), rate.get(h))
                for h, permitted in order
            ]
            if until is not None:
                applies = partial(Term.sets, parameter=par, kind="rate_kg_h")
                steps += b.closes(applies, start, until)
            runs = hourly_episodes(sorted(steps, key=lambda step: step[0]))
            if not runs:
                continue
            extra = {"unit": "kg/h", "basis": "measured", "flow": FLOW}
            out[(site, RATE_RULE, par)] = b.episodes(runs, _describe(par, "rate_kg_h", extra))
    return out
