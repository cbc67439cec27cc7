"""The offline rule (rule (b) of :mod:`shanshui.rules`): silences longer than an outlet's
reporting interval, from its data times and its expectation anchor.

Split in a read (:func:`read_silences`: what the store says about each outlet's data times,
which the rules job keeps between runs for outlets without new readings) and a pure part
(:func:`offline_episodes`: the episodes at ``now``, since a silence grows with the clock).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from shanshui.rules.binding import DELIVERY, Bound, Key, Term
from shanshui.rules.episodes import Episode
from shanshui.store.alarms import AlarmStore

__all__ = [
    "OFFLINE",
    "Activation",
    "Silences",
    "anchors",
    "evaluate_offline",
    "offline_episodes",
    "overdue",
    "read_silences",
]

OFFLINE = "offline"


@dataclass(frozen=True)
class Silences:
    """One outlet's data times as the offline rule needs them.

    ``gaps``: (previous, next) consecutive data times further apart than the smallest
    interval read, with ``next`` at or after ``start`` (``previous`` may be earlier);
    ``first``/``last``: its first and last data time before the evaluation instant (None:
    no data); ``start``: the window start the gaps were read from.
    """

    start: datetime
    gaps: tuple[tuple[datetime, datetime], ...]
    first: datetime | None
    last: datetime | None


def read_silences(
    store: AlarmStore,
    bound: Mapping[str, Bound],
    starts: Mapping[str, datetime],
    now: datetime,
) -> dict[str, Silences]:
    """:class:`Silences` of the outlets of ``bound`` (window ``[starts[site], now)``)."""
    sites = sorted(s for s in bound if s in starts)
    if not sites:
        return {}
    start = min(starts[s] for s in sites)
    min_gap = min(o.reporting_interval_s for s in sites for o in bound[s].outlets)
    gaps: dict[str, list[tuple[datetime, datetime]]] = {s: [] for s in sites}
    for site, prev, nxt in store.rule_gaps(sites, start, now, min_gap):
        # the gap ending in the site's own window (its previous time may lie before it)
        if nxt >= starts[site]:
            gaps[site].append((prev, nxt))
    span = store.rule_data_span(sites, now)
    return {
        s: Silences(
            starts[s],
            tuple(sorted(gaps[s])),
            span[s][0] if s in span else None,
            span[s][1] if s in span else None,
        )
        for s in sites
    }


def _late(first: datetime | None, b: Bound) -> bool:
    """Whether an outlet's first data time leaves room for an anchor (none, or after the
    permit's start)."""
    return first is None or first > b.start


#: An active device as :func:`anchors` needs it: (MN, its site, when it was made active).
Activation = tuple[str, str | None, datetime | None]


def anchors(
    bound: Mapping[str, Bound],
    silences: Mapping[str, Silences],
    devices: Sequence[Activation],
) -> dict[str, datetime]:
    """Site → its expectation anchor: the later of the validity start of the first permit that
    holds it in the window and the activation of its linked active device (``devices``: every
    active device; linked: the device's site is the outlet, or its MN is one a permit names;
    several: the earliest activation; activation: the newest audit entry that made the device
    active, its registration or approval; unknown: the permit's start). Outlets without a linked
    active device have no anchor (no one is expected to report), nor have those whose
    first data time is at or before their permit's start (they sent data before any
    anchor)."""
    wanted = {s: b for s, b in bound.items() if s in silences and _late(silences[s].first, b)}
    if not wanted:
        return {}
    by_mn = {o.mn: s for s, b in wanted.items() for o in b.outlets if o.mn}
    found: dict[str, list[datetime | None]] = {}
    for mn, site, activated in devices:
        for s in {site, by_mn.get(mn)}:
            if s is not None and s in wanted:
                found.setdefault(s, []).append(activated)
    out = {}
    for s, times in found.items():
        b = wanted[s]
        known = [t for t in times if t is not None]
        out[s] = max(b.start, min(known)) if known else b.start
    return out


def _interval(term: Term) -> timedelta:
    """The reporting interval of the outlet under ``term``'s permit."""
    return timedelta(seconds=term.outlet.reporting_interval_s)


def _episode(
    term: Term, *, opened: datetime, prev: datetime | None, resumed: datetime | None,
    now: datetime, since: datetime,
) -> Episode:  # fmt: skip
    interval = _interval(term)
    until = resumed if resumed is not None else now
    detail = {
        "outlet": term.outlet.code,
        "last_data": None if prev is None else prev.isoformat(),
        "mn": term.outlet.mn,
    }
    if prev is None:
        detail["expected_since"] = since.isoformat()
    return Episode(
        opened,
        until,
        resumed,
        math.floor((until - opened).total_seconds() / 3600),
        (until - since).total_seconds(),
        interval.total_seconds(),
        term.permit.enterprise.id,
        term.permit.id,
        detail,
    )


def overdue(last: datetime, now: datetime, interval: timedelta) -> bool:
    """Whether the datum after data time ``last`` is overdue at ``now``: ``now − last >
    2 × interval + min(interval, DELIVERY)``.

    A data time is the label of an interval: HJ 212-2017 gives minute, hourly and daily data
    (CN 2051/2061/2031) the start of the interval they describe as DataTime, and a data logger
    sends them once that interval has ended. The datum after ``last`` is labelled ``last +
    interval`` and is sent at ``last + 2 × interval``; it may take a while more to arrive
    (resends, :data:`~shanshui.rules.binding.DELIVERY`; CHOICE: at most one interval, so
    that a minute outlet is offline 3 minutes after its last minute, an hourly one 2 h 10 min
    after its last hour label). Only then has the device been silent for longer than its
    reporting interval: ``now − last > interval`` held for every live hourly outlet between
    one hour's end and the arrival of its record, and opened an offline alarm every hour.
    The episode is still dated in data time, opened at ``last + interval`` like a gap
    between two stored data times, so that the alarm raised live and the one judged later
    from the stored data agree.
    CHOICE: real-time data (CN 2011, DataTime the sampling instant, sent at once) are judged
    the same way, one interval late.
    """
    return now - last > 2 * interval + min(interval, DELIVERY)


def offline_episodes(
    bound: Mapping[str, Bound],
    silences: Mapping[str, Silences],
    anchor: Mapping[str, datetime],
    now: datetime,
    starts: Mapping[str, datetime] | None = None,
) -> dict[Key, list[Episode]]:
    """Rule (b) at ``now``: per outlet, the silences longer than its reporting interval.

    - between two consecutive data times ``prev`` < ``next`` with ``next − prev >
      interval``: opened at ``prev + interval``, closed at ``next``;
    - after the last data time ``last`` when the next datum is overdue (:func:`overdue`):
      opened at ``last + interval``, lasting;
    - before the first data time (or with no data at all), from the anchor ``A``
      (:func:`anchors`) when no data time precedes it: opened at ``A + interval`` when
      ``first − A > interval``, or, with no data yet, when the datum after ``A`` is overdue;
      closed at the first data time (lasting without).

    ``value`` is the silence [s] (from ``prev`` or ``A`` to ``next`` or ``now``),
    ``threshold`` the interval [s], ``hours`` the whole hours from the opening. Episodes
    that ended before the site's window start (``starts``, default the one read) are left
    out.
    """
    out: dict[Key, list[Episode]] = {}
    for site, sil in silences.items():
        b = bound.get(site)
        if b is None:
            continue
        start = sil.start if starts is None else starts.get(site, sil.start)
        found: list[_Silence] = []
        a = anchor.get(site)
        if a is not None and (sil.first is None or sil.first > a):
            term = b.near(a)
            interval = _interval(term)
            silent = (
                sil.first - a > interval if sil.first is not None else overdue(a, now, interval)
            )
            if silent and (sil.first is None or sil.first >= start):
                found.append(_Silence(term, a + interval, None, sil.first, a))
        for prev, nxt in sil.gaps:
            # a silence is told under the permit that held the outlet's last datum before it
            # (its reporting interval says when the next was due)
            term = b.near(prev)
            if nxt - prev > _interval(term) and nxt >= start:
                found.append(_Silence(term, prev + _interval(term), prev, nxt, prev))
        if sil.last is not None and overdue(sil.last, now, _interval(b.near(sil.last))):
            term = b.near(sil.last)
            found.append(_Silence(term, sil.last + _interval(term), sil.last, None, sil.last))
        episodes = []
        for silence in found:
            for held in _held(b, silence, now):
                episodes.append(
                    _episode(held.term, opened=held.opened, prev=held.prev, resumed=held.resumed,
                             now=now, since=held.since)
                )  # fmt: skip
        if episodes:
            out[(site, OFFLINE, "")] = sorted(episodes, key=lambda e: e.start)
    return out


class _Silence(NamedTuple):
    """A silence found in the data: told under ``term``, opened at ``opened``, the last datum
    before it ``prev`` (None: before the first), the next after it ``resumed`` (None: none
    yet), silent since ``since`` (``prev`` or the anchor)."""

    term: Term
    opened: datetime
    prev: datetime | None
    resumed: datetime | None
    since: datetime


def _held(b: Bound, s: _Silence, now: datetime) -> list[_Silence]:
    """The parts of silence ``s`` during which permits hold the outlet. No one has to report
    for an outlet no permit holds: a silence that begins in a gap between permits (its last
    datum or anchor there, or its opening), or goes on into one, counts again from the next
    permit's start (due one interval later, as from an anchor); a part that lasts past the
    end of the permits holding the outlet closes there, once ``now`` is past it (it stayed
    open for ever, holding its outlet's window open)."""
    out: list[_Silence] = []
    while True:  # each turn moves ``since`` later: it ends
        if b.index(s.since) is None or b.index(s.opened) is None:
            later = [t for t in b.terms if t.start > s.since]
            if not later:
                return out
            term = later[0]
            interval = _interval(term)
            if s.resumed is not None:
                silent = s.resumed - term.start > interval
            else:
                silent = overdue(term.start, now, interval)
            if not silent:
                return out
            s = s._replace(term=term, opened=term.start + interval, since=term.start)
            continue
        # strictly before ``now``: a permit that starts at ``now`` is not among the terms yet
        # (bind_outlets binds ``[start, now)``), and would carry the silence on
        ends = [
            t for t, _holds, _v in b.closes(lambda _t: True, s.opened, now) if s.opened < t < now
        ]
        if not ends or (s.resumed is not None and s.resumed <= ends[0]):
            return [*out, s]
        out.append(s._replace(resumed=ends[0]))
        s = s._replace(opened=ends[0], since=ends[0])  # no permit holds the outlet there


def evaluate_offline(
    store: AlarmStore,
    bound: Mapping[str, Bound],
    starts: Mapping[str, datetime],
    now: datetime,
) -> dict[Key, list[Episode]]:
    """Read and judge in one call (a full evaluation of the given outlets)."""
    silences = read_silences(store, bound, starts, now)
    devices = store.rule_device_activation()
    return offline_episodes(bound, silences, anchors(bound, silences, devices), now)
