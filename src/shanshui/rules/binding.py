"""Which permit binds each outlet in a window, and the alarm key.

:func:`bind_outlets` is the one place that decides which permit (and so which limits and
reporting interval) the rules apply to an outlet; see :mod:`shanshui.rules`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from shanshui.permits.model import Limit, Outlet, Permit
from shanshui.rules.episodes import Episode, Run

__all__ = [
    "BEIJING",
    "DELIVERY",
    "Bound",
    "Key",
    "bind_outlets",
    "day_start",
    "hour_start",
    "judged_end",
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

    def episodes(
        self,
        runs: Sequence[Run],
        threshold: float | None,
        detail: Mapping[str, Any],
        *,
        step_hours: int = 1,
    ) -> list[Episode]:
        """Runs of a condition (:func:`~shanshui.rules.episodes.hourly_episodes`) as this
        outlet's episodes under its permit; ``hours`` = the run's steps × ``step_hours``
        (24 for natural days)."""
        enterprise, permit = self.permit.enterprise.id, self.permit.id
        return [
            Episode(s, last, end, step_hours * n, worst, threshold, enterprise, permit, detail)
            for s, last, end, n, worst in runs
        ]


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
