"""Episodes of a condition and their reconciliation with the stored alarms.

A rule turns data into *episodes* per key (site, rule, parameter): a run of time steps where
the condition holds, from ``start`` (first step that holds) to ``end`` (first later step that
is judged and does not hold; None while it lasts). :func:`reconcile` compares them with the
stored alarms of the same key and returns only the alarms to insert or change, which makes a
second evaluation over the same data a no-op (idempotent) and lets late data move an alarm.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from shanshui.store.alarms import Alarm

__all__ = ["ENGINE", "Episode", "Run", "hourly_episodes", "reconcile"]

#: ``closed_by`` of alarms the engine closed (any other value: an operator).
ENGINE = "rules"


@dataclass(frozen=True)
class Episode:
    """One run of a condition: ``start`` … ``last`` held, ``end`` cleared (None: lasting)."""

    start: datetime
    last: datetime
    end: datetime | None
    hours: int
    value: float | None = None
    threshold: float | None = None
    enterprise: str | None = None
    permit: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


#: A run of a condition: (start, last, end, steps, worst value); see :func:`hourly_episodes`.
Run = tuple[datetime, datetime, datetime | None, int, float | None]


def hourly_episodes(
    steps: Iterable[tuple[datetime, bool | None, float | None]],
) -> list[Run]:
    """Runs of hours where the condition holds.

    ``steps``: (hour, holds, value) sorted by hour; ``holds`` None = not judged (missing or
    invalid data), which neither extends nor ends a run. Returns (start, last, end, hours,
    worst value) per run; ``end`` is the first later judged hour that does not hold.
    """
    out: list[Run] = []
    start: datetime | None = None
    last: datetime | None = None
    count = 0
    worst: float | None = None
    for hour, holds, value in steps:
        if holds is None:
            continue
        if holds:
            if start is None:
                start, count, worst = hour, 0, None
            last = hour
            count += 1
            if value is not None and (worst is None or value > worst):
                worst = value
        elif start is not None:
            assert last is not None
            out.append((start, last, hour, count, worst))
            start = None
    if start is not None:
        assert last is not None
        out.append((start, last, None, count, worst))
    return out


#: The close note of an alarm whose condition later data withdrew, per rule: an offline
#: alarm's silent period was filled by data the device sent afterwards (HJ 212 history
#: uploads after an outage); other conditions were changed by corrected or late data.
WITHDRAWN = {
    "offline": "the silent period's data arrived later (back-filled by the device)",
    "": "the condition is no longer in the data (corrected data)",
}

#: ``detail`` key where the engine keeps where the alarm's condition cleared in the data (ISO
#: time; null while it lasts): an alarm closed by hand covers its condition until then.
EPISODE_END = "episode_end"


def _alarm_end(a: Alarm) -> datetime | None:
    """Where alarm ``a`` stops covering its condition (None: not yet)."""
    hand_closed = a.state == "closed" and a.closed_by not in (None, ENGINE)
    if hand_closed and EPISODE_END in a.detail:
        end = a.detail[EPISODE_END]
        return None if end is None else datetime.fromisoformat(str(end))
    return a.closed_at


def _overlaps(a: Alarm, e: Episode) -> bool:
    """Whether alarm ``a`` ([opened_at, end)) and episode ``e`` ([start, end)) meet. The end of
    an alarm closed by hand is where its condition cleared in the data, once the engine saw
    it (its close time before); an alarm closed in the hour it opened covers that instant."""
    a_end = _alarm_end(a)
    if a_end is not None and a_end <= a.opened_at:
        a_end = a.opened_at + timedelta(seconds=1)
    ends_after_start = a_end is None or a_end > e.start
    starts_before_end = e.end is None or a.opened_at < e.end
    return ends_after_start and starts_before_end


def _from_episode(a: Alarm, e: Episode) -> Alarm:
    """``a`` (a stored alarm or a blank) brought up to the episode ``e``."""
    hand_closed = a.state == "closed" and a.closed_by not in (None, ENGINE)
    new = replace(
        a,
        opened_at=e.start,
        last_seen=e.last,
        hours=e.hours,
        value=e.value,
        threshold=e.threshold,
        enterprise=e.enterprise,
        permit=e.permit,
        detail={**e.detail, EPISODE_END: None if e.end is None else e.end.isoformat()},
    )
    if hand_closed:  # an operator's close stands (rules/__init__.py)
        return new
    if e.end is None:
        state = "acknowledged" if a.acknowledged_by else "open"
        return replace(new, state=state, closed_at=None, closed_by=None, close_note=None)
    return replace(new, state="closed", closed_at=e.end, closed_by=ENGINE, close_note=None)


def _follow(a: Alarm, e: Episode) -> Alarm:
    """An alarm closed by hand before the window while its condition lasted, brought up to
    the tail ``e`` of its episode: ``last_seen`` and where the condition cleared
    (``episode_end``); any other alarm unchanged. The recent ``last_seen`` keeps it in the
    window's sight (:meth:`~shanshui.store.alarms.AlarmStore.alarms`' ``active_since``), so
    that the operator's close stands for as long as the condition lasts, however long that
    is; its ``hours`` stop growing once its opening is behind the window (it cannot count
    them)."""
    hand_closed = a.state == "closed" and a.closed_by not in (None, ENGINE)
    if not hand_closed or _alarm_end(a) is not None:
        return a
    end = None if e.end is None else e.end.isoformat()
    return replace(a, last_seen=max(a.last_seen, e.last), detail={**a.detail, EPISODE_END: end})


def reconcile(
    key: tuple[str, str, str],
    episodes: Sequence[Episode],
    stored: Sequence[Alarm],
    window_start: datetime,
) -> list[Alarm]:
    """The alarms to save so that the stored alarms of ``key`` match ``episodes``.

    ``stored``: the key's alarms not closed before ``window_start``; alarms opened before
    ``window_start`` are history the window cannot see whole, and are left alone (the window
    always reaches back to the oldest alarm still open). Each episode takes the earliest
    stored alarm it overlaps, or a new one. A stored alarm the engine manages that no episode
    overlaps any more (the data were corrected), or a second one overlapped by the same
    episode (late data joined two runs), is closed with a note.
    """
    site, rule, parameter = key
    mine = sorted(
        (a for a in stored if a.opened_at >= window_start), key=lambda a: (a.opened_at, a.id or 0)
    )
    history = [a for a in stored if a.opened_at < window_start]
    taken: set[int] = set()
    out: list[Alarm] = []
    followed = list(history)
    for e in episodes:
        behind = [i for i, a in enumerate(followed) if _overlaps(a, e)]
        if behind:  # the tail of an episode that began before the window
            for i in behind:
                followed[i] = _follow(followed[i], e)
            continue
        match = [a for a in mine if a.id not in taken and _overlaps(a, e)]
        if match:
            first = match[0]
            taken.update(a.id for a in match if a.id is not None)
            new = _from_episode(first, e)
            if not new.same_content(first):
                out.append(new)
            for other in match[1:]:
                if other.state != "closed":
                    out.append(
                        replace(other, state="closed", closed_at=other.last_seen,
                                closed_by=ENGINE,
                                close_note=f"joined to alarm {first.id} by later data")
                    )  # fmt: skip
        else:
            blank = Alarm(site=site, rule=rule, parameter=parameter, opened_at=e.start,
                          last_seen=e.last)  # fmt: skip
            out.append(_from_episode(blank, e))
    out += [new for new, a in zip(followed, history, strict=True) if not new.same_content(a)]
    for a in mine:
        if a.id in taken or a.state == "closed":
            continue
        out.append(
            replace(a, state="closed", closed_at=a.last_seen, closed_by=ENGINE,
                    close_note=WITHDRAWN.get(rule, WITHDRAWN[""]))
        )  # fmt: skip
    return out
