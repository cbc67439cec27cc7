"""Which permit holds each outlet at each hour of a window, and the alarm key.

:func:`bind_outlets` is the one place that decides which permit (and so which limits and
reporting interval) the rules apply to an outlet at a time; see :mod:`shanshui.rules`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shanshui.permits.model import Limit, Outlet, Permit
from shanshui.rules.episodes import Episode, Run

__all__ = [
    "BEIJING",
    "DELIVERY",
    "Bound",
    "Describe",
    "Key",
    "Step",
    "Term",
    "bind_outlets",
    "day_start",
    "hour_start",
    "judged_end",
    "validity",
]

#: Permits' dates and the natural year are Beijing time (DESIGN §4).
BEIJING = ZoneInfo("Asia/Shanghai")

#: The de-duplication key of an alarm: (site, rule, parameter).
Key = tuple[str, str, str]


#: How long after an interval ends its record may still be on its way. A data logger sends
#: minute and hourly data (CN 2051, 2061) once their interval is over, DataTime being its start
#: (HJ 212-2017 Appendix C), and resends an upload that is not acknowledged ``ReCount`` times,
#: ``OverTime`` seconds apart (HJ 212-2017 CN 1000; the standard's example: 5 s, 3 times).
#: CHOICE: 10 minutes, well above that cycle, so that what the rules judge is complete: an
#: hour is judged from ``DELIVERY`` after its end (:func:`judged_end`), and an outlet is offline
#: once its next record is that much overdue (:func:`shanshui.rules.offline.overdue`).
DELIVERY = timedelta(minutes=10)


def judged_end(now: datetime) -> datetime:
    """The end (exclusive) of the hours judged at ``now``: hour ``H`` (its start) is judged
    once its records are due, ``H + 1 h + DELIVERY ≤ now``. Judging an hour earlier, from the
    45 minutes of it that are in (HJ 76-2017 Annex B's count is the validity of a finished
    hour), or before its hourly record can have come, opens alarms that the rest of the hour
    then withdraws."""
    return hour_start(now - DELIVERY)


def hour_start(t: datetime) -> datetime:
    """The start of the UTC clock hour of ``t`` (= the Beijing hour: UTC+8 is whole hours)."""
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_start(t: datetime, tz: str | ZoneInfo = BEIJING) -> datetime:
    """The start (UTC instant) of the natural day (自然日, 00:00–24:00 local, DESIGN §4) of
    the zone ``tz`` that holds ``t``."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    local = t.astimezone(zone)
    return datetime.combine(local.date(), time(), zone).astimezone(UTC)


@dataclass(frozen=True)
class Term:
    """One permit's hold on an outlet: ``[start, end)``, within its validity (00:00 Beijing
    of ``valid_from`` to 00:00 Beijing of the day after ``valid_to``), cut where a permit that
    started later holds the outlet (:func:`bind_outlets`; a permit may hold it in two terms,
    before and after a shorter one)."""

    permit: Permit
    outlet: Outlet
    start: datetime
    end: datetime

    def sets(self, parameter: str, kind: str) -> bool:
        """Whether this term's permit limits ``parameter`` by ``kind`` (a ``Limit`` field:
        ``hourly``, ``daily``, ``rate_kg_h``; a rate at an air outlet only: rule (f) judges
        air outlets only)."""
        if kind == "rate_kg_h" and self.outlet.kind != "air":
            return False
        lim = self.outlet.limit(parameter)
        return lim is not None and getattr(lim, kind) is not None

    def limit_detail(self, lim: Limit) -> dict[str, Any]:
        """An alarm's detail for one of the outlet's concentration limits: its unit, whether
        it applies to the value converted at the reference O2 or to the measured one, that
        reference, the standard it comes from, and the outlet."""
        return {
            "unit": lim.unit,
            "basis": "converted" if lim.converted else "measured",
            "reference_o2": lim.reference_o2 if lim.converted else None,
            "standard": lim.standard,
            "outlet": self.outlet.code,
        }


def validity(p: Permit) -> tuple[datetime, datetime]:
    """``[start, end)`` of permit ``p``: its dates are Beijing natural days (DESIGN §4)."""
    start = datetime.combine(p.valid_from, time(), BEIJING).astimezone(UTC)
    end = datetime.combine(p.valid_to + timedelta(days=1), time(), BEIJING).astimezone(UTC)
    return start, end


#: One time step of a rule: (its label, whether the condition holds — None: not judged, the
#: worst value in it); see :func:`~shanshui.rules.episodes.hourly_episodes`.
Step = tuple[datetime, bool | None, float | None]

#: What a rule takes from the term that holds an episode's first step: its threshold and the
#: alarm's detail (:meth:`Bound.episodes`).
Describe = Callable[[Term], tuple[float | None, Mapping[str, Any]]]


@dataclass(frozen=True)
class Bound:
    """An outlet under the permits that hold it in the evaluated window, term by term
    (``terms``: sorted, disjoint; gaps between them are hours no permit holds)."""

    terms: tuple[Term, ...]

    @property
    def start(self) -> datetime:
        """First instant any permit holds the outlet in the window's terms."""
        return self.terms[0].start

    @property
    def outlets(self) -> tuple[Outlet, ...]:
        """The outlet as each term's permit describes it."""
        return tuple(t.outlet for t in self.terms)

    def index(self, t: datetime) -> int | None:
        """The index in ``terms`` of the term that holds instant ``t`` (None: none does)."""
        if len(self.terms) == 1:  # most outlets, most windows: no renewal in sight
            only = self.terms[0]
            return 0 if only.start <= t < only.end else None
        for i, term in enumerate(self.terms):
            if term.start <= t < term.end:
                return i
        return None

    def at(self, t: datetime) -> Term | None:
        """The term that holds instant ``t`` (None: no permit holds the outlet then)."""
        i = self.index(t)
        return None if i is None else self.terms[i]

    def near(self, t: datetime) -> Term:
        """The term that holds ``t``, else the last that began before it, else the first: the
        permit an event at ``t`` is told under (an offline silence may begin in a gap)."""
        before = [term for term in self.terms if term.start <= t]
        return before[-1] if before else self.terms[0]

    def closes(
        self,
        applies: Callable[[Term], bool],
        start: datetime,
        until: datetime,
        snap: Callable[[datetime], datetime] | None = None,
    ) -> list[Step]:
        """Steps that end a rule's runs where the rule stops applying to the outlet: at the
        end of a stretch of terms under which ``applies`` (the permit expired with nothing
        after it, or the next permit sets no such limit), once that instant (``snap``-ped to
        the rule's step: a natural day's start) is in ``[start, until]``, the part of the
        window judged. A run that lasts to such an end closes there (the condition can no
        longer hold: there is no limit to exceed), where it would otherwise stay open with
        no later step judged, and hold its outlet's window open from its start on."""
        out: list[Step] = []
        for i, term in enumerate(self.terms):
            if not applies(term):
                continue
            after = self.terms[i + 1] if i + 1 < len(self.terms) else None
            if after is not None and after.start == term.end and applies(after):
                continue  # the next permit goes on with the same kind of limit
            end = term.end if snap is None else snap(term.end)
            if start <= end <= until:
                out.append((end, False, None))
        return out

    def episodes(
        self,
        runs: Sequence[Run],
        describe: Describe,
        *,
        step_hours: int = 1,
        middle: timedelta = timedelta(0),
    ) -> list[Episode]:
        """Runs of a condition (:func:`~shanshui.rules.episodes.hourly_episodes`) as this
        outlet's episodes, each under the term that holds its first step (at ``middle`` after
        its label: a natural day is judged under the permit that holds its middle) (CHOICE: an
        episode that goes on across a renewal stays the alarm it opened as, under the permit
        it opened under; its later steps were judged under their own terms); ``hours`` = the
        run's steps × ``step_hours`` (24 for natural days)."""
        out = []
        for s, last, end, n, worst in runs:
            term = self.near(s + middle)
            threshold, detail = describe(term)
            enterprise, permit = term.permit.enterprise.id, term.permit.id
            out.append(
                Episode(s, last, end, step_hours * n, worst, threshold, enterprise, permit, detail)
            )
        return out


def bind_outlets(permits: Sequence[Permit], start: datetime, end: datetime) -> dict[str, Bound]:
    """Site → the permits that hold it in ``[start, end)``, term by term: each instant is held
    by the permit valid then (a renewal's limits from its first day, the old permit's before).
    Where several permits of an outlet are valid at once, the one that started last holds it
    (CHOICE: a renewal issued before the old permit expires replaces it from its own first
    day; a permit that ends first hands the outlet back to the one it interrupted; two
    starting the same day: the first listed). Terms are cut at permits' starts and ends only,
    never at the window's: a term's start is where its permit began to hold the outlet."""
    found: dict[str, list[tuple[Permit, Outlet, datetime, datetime]]] = {}
    for p in permits:
        p_start, p_end = validity(p)
        for o in p.outlets:
            found.setdefault(o.site, []).append((p, o, p_start, p_end))
    out: dict[str, Bound] = {}
    for site, held in found.items():
        if not any(a < end and b > start for _p, _o, a, b in held):
            continue
        cuts = sorted({t for _p, _o, a, b in held for t in (a, b)})
        terms: list[Term] = []
        for a, b in itertools.pairwise(cuts):
            valid = [(p, o) for p, o, p_start, p_end in held if p_start <= a < p_end]
            if not valid:
                continue
            # the latest start holds it; max() keeps the first listed of equal starts
            p, o = max(valid, key=lambda v: v[0].valid_from)
            last = terms[-1] if terms else None
            if last is not None and last.permit is p and last.outlet is o and last.end == a:
                terms[-1] = Term(p, o, last.start, b)
            else:
                terms.append(Term(p, o, a, b))
        # the terms that reach into the window (whole: a term keeps its own start and end)
        kept = tuple(t for t in terms if t.end > start and t.start < end)
        if kept:
            out[site] = Bound(kept)
    return out
