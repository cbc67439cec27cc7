"""The rules job: evaluate every rule and write the differences to the alarm table.

``RulesJob(store).run_once(now)`` is what ``shanshui serve`` calls periodically and after the
writer's batches (:func:`run_periodically`). See :mod:`shanshui.rules` for the alarm model
and for what an incremental run re-reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shanshui.permits.model import Permit
from shanshui.rules.binding import BEIJING, Bound, bind_outlets, day_start, hour_start, judged_end
from shanshui.rules.conditions import annual_projection, exceedance_episodes, flag_episodes
from shanshui.rules.episodes import ENGINE, Episode, reconcile
from shanshui.rules.hours import FLOW, HourValues, hour_values
from shanshui.rules.limits import DAILY_RULE, RATE_RULE, daily_episodes, rate_episodes
from shanshui.rules.offline import (
    OFFLINE,
    Activation,
    Silences,
    anchors,
    offline_episodes,
    read_silences,
)
from shanshui.store.alarms import Alarm, AlarmStore, RuleBackfill, RuleMark
from shanshui.store.api import Store
from shanshui.store.duck import DuckDBStore
from shanshui.store.postgres import PostgresStore

__all__ = ["ALL_RULES", "RulesJob", "RunResult", "run_periodically"]

LOG = logging.getLogger("shanshui.rules")

#: Every rule of :mod:`shanshui.rules`.
ALL_RULES = frozenset({"exceedance", DAILY_RULE, RATE_RULE, OFFLINE, "flag", "annual_total"})
#: Rules judged on hourly values, read once per run for all three.
VALUE_RULES = ("exceedance", DAILY_RULE, RATE_RULE)
#: The groups of rules that share one read of the store.
GROUPS: dict[str, tuple[str, ...]] = {
    "value": VALUE_RULES,
    "flag": ("flag",),
    "offline": (OFFLINE,),
}


@dataclass(frozen=True)
class RunResult:
    """What one evaluation changed: alarms opened, updated (still open or re-opened) and
    closed by the engine; ``full``: whether every outlet's data were read (else only those
    of ``evaluated`` outlets with changed data, :mod:`shanshui.rules`)."""

    now: datetime
    opened: int
    updated: int
    closed: int
    full: bool = True
    evaluated: int = 0
    #: Another process was evaluating: this run did nothing (:meth:`RulesJob.run_once`).
    skipped: bool = False

    @property
    def changed(self) -> int:
        return self.opened + self.updated + self.closed


@dataclass
class _State:
    """What an incremental run needs from the previous ones."""

    now: datetime
    full_at: float
    #: the gen of each site's mark (migration 0005) whose readings this job has read, for
    #: marks whose readings all lie before ``now`` (others are read again at the next run)
    seen: dict[int, int] = field(default_factory=dict)
    bound: dict[str, dict[str, tuple[object, ...] | None]] = field(default_factory=dict)
    start: dict[str, dict[str, datetime]] = field(default_factory=dict)
    silences: dict[str, Silences] = field(default_factory=dict)
    devices: tuple[tuple[int, datetime | None], list[Activation]] | None = None


class RulesJob:
    """Evaluate the rules of :mod:`shanshui.rules` over ``store``.

    Parameters
    ----------
    store : the store holding permits, observations and alarms.
    lookback : how far back each run re-evaluates the data (late data inside it are taken
        into account); an outlet's window also reaches back to its oldest alarm of the rule
        still open.
    rules : the rules to run (default: all six, :data:`ALL_RULES`).
    own_reader : read through a separate connection to the same database (a DuckDB cursor, a
        PostgreSQL connection), so that a long evaluation never holds ``store`` (and the
        gateway's writes behind it); alarms are written through ``store``. :meth:`close`
        closes that connection.
    incremental : after the first run, read again only the outlets whose readings changed
        (:mod:`shanshui.rules`, "Incremental runs"); False: every run reads everything.
    full_every : a full evaluation at least this often (wall clock; None: only the first).
    """

    def __init__(
        self,
        store: Store,
        *,
        lookback: timedelta = timedelta(days=2),
        rules: frozenset[str] = ALL_RULES,
        own_reader: bool = False,
        incremental: bool = True,
        full_every: timedelta | None = timedelta(hours=1),
    ) -> None:
        unknown = set(rules) - ALL_RULES
        if unknown:
            raise ValueError(f"unknown rules {sorted(unknown)}; known {sorted(ALL_RULES)}")
        self.store = store
        self.lookback = lookback
        self.rules = rules
        self.incremental = incremental
        self.full_every = full_every
        self._own: Store | None = None
        if own_reader and isinstance(store, DuckDBStore):
            self._own = store.reader()
        elif own_reader and isinstance(store, PostgresStore):
            self._own = PostgresStore(store.url)
        self.reader: Store = self._own or store
        self._state: _State | None = None

    def close(self) -> None:
        """Close the job's own read connection (not ``store``)."""
        own, self._own = self._own, None
        if own is not None:
            own.close()
        self.reader = self.store

    def _rules_reader(self) -> AlarmStore:
        if not isinstance(self.reader, AlarmStore):
            raise TypeError(f"the rules need a SQL store, not {type(self.reader).__name__}")
        return self.reader

    def _is_full(self, now: datetime, full: bool) -> bool:
        state = self._state
        if full or not self.incremental or state is None or now < state.now:
            return True
        every = self.full_every
        return every is not None and time.monotonic() - state.full_at >= every.total_seconds()

    def run_once(
        self, now: datetime | None = None, *, full: bool = False, wait: float = 0.0
    ) -> RunResult:
        """Evaluate all rules at ``now`` (tz-aware; default the clock when the run gets its
        turn) and save the changes; ``full``: read every outlet's data (as the first run
        does). Runs of several processes on one database take turns
        (:meth:`AlarmStore.rules_turn`): one that finds another evaluating returns at once,
        ``skipped`` (its changes wait for its next run), or tries again for ``wait`` [s]."""
        if now is not None and now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        reader = self._rules_reader()
        with reader.rules_turn(wait=wait) as mine:
            at = (now or datetime.now(UTC)).astimezone(UTC)
            if not mine:  # another process's job is evaluating: this one's next run will
                LOG.debug("rules run skipped: another process is evaluating")
                return RunResult(at, 0, 0, 0, full=False, skipped=True)
            return self._run(reader, at, full)

    def _run(self, reader: AlarmStore, now: datetime, full: bool) -> RunResult:
        """:meth:`run_once` in this process's turn (:meth:`AlarmStore.rules_turn`)."""
        old = self._state
        full = self._is_full(now, full)
        # what changed first: readings committed while this run reads are seen by the next
        tz = {s.code: s.tz for s in self.reader.sites(kind="outlet")}
        changed, seen = _changed(reader.rule_marks(), None if full else old, now, tz)
        back = _backfilled(reader.rule_backfills(), old, now)
        full_at = old.full_at if old is not None and not full else time.monotonic()
        state = _State(now, full_at, seen)
        if old is not None and not full:
            state.bound = {g: dict(v) for g, v in old.bound.items()}
            state.start = {g: dict(v) for g, v in old.start.items()}
            state.silences = dict(old.silences)
            state.devices = old.devices
        permits = self.reader.permits()
        lasting = self.reader.alarms(state=["open", "acknowledged"])
        evaluated: set[str] = set()
        changes: list[Alarm] = []
        for group, names in GROUPS.items():
            rules = tuple(r for r in names if r in self.rules)
            if rules:
                ctx = _Window(
                    self, permits=permits, lasting=lasting, tz=tz, now=now, rules=rules, back=back
                )
                sites = ctx.evaluated(group, changed, state)
                evaluated |= sites
                episodes, judged = self._episodes(group, ctx, sites, state, reader)
                changes += ctx.reconcile(episodes, judged)
        if "annual_total" in self.rules:
            changes += self._annual(permits, lasting, now)
        saved = self.store.save_alarms(changes) if changes else []
        self._state = state  # only once the run succeeded
        opened = sum(1 for a, s in zip(changes, saved, strict=True) if a.id is None and s.id)
        closed = sum(1 for a in changes if a.id is not None and a.state == "closed")
        result = RunResult(now, opened, len(changes) - opened - closed, closed, full,
                           len(evaluated))  # fmt: skip
        if result.changed:
            LOG.info(
                "rules evaluated",
                extra={"opened": opened, "updated": result.updated, "closed": closed,
                       "full": full, "sites": len(evaluated)},
            )  # fmt: skip
        return result

    def _episodes(
        self, group: str, ctx: _Window, sites: set[str], state: _State, reader: AlarmStore
    ) -> tuple[dict[tuple[str, str, str], list[Episode]], set[str]]:
        """The episodes of ``group``'s rules and the sites they speak for."""
        bound = {s: ctx.bound[s] for s in sorted(sites) if s in ctx.bound}
        starts = {s: ctx.gstart[s] for s in bound}
        state.bound.setdefault(group, {}).update({s: _signature(ctx.bound.get(s)) for s in sites})
        state.start.setdefault(group, {}).update({s: ctx.gstart[s] for s in sites})
        if group == "offline":
            fresh: dict[str, Silences] = {}
            for part in _by_start(bound, starts):
                fresh.update(read_silences(reader, part, starts, ctx.now))
            for s in sites:
                state.silences.pop(s, None)
            state.silences.update(fresh)
            everyone = {s: b for s, b in ctx.bound.items() if s in state.silences}
            sil = {s: state.silences[s] for s in everyone}
            found = anchors(everyone, sil, self._devices(state, reader))
            episodes = offline_episodes(everyone, sil, found, ctx.now, ctx.starts[OFFLINE])
            return episodes, set(ctx.gstart)  # the offline rule speaks for every outlet
        out: dict[tuple[str, str, str], list[Episode]] = {}
        if group == "flag":
            for part in _by_start(bound, starts):
                out.update(flag_episodes(reader, part, starts, ctx.now))
            return out, sites
        hours: HourValues = {}
        for part in _by_start(bound, starts):
            start = min(starts[s] for s in part)
            hours.update(hour_values(self.reader, part, start, judged_end(ctx.now)))
        until = judged_end(ctx.now)
        if "exceedance" in ctx.rules:
            out.update(exceedance_episodes(hours, bound, ctx.starts["exceedance"], until))
        if DAILY_RULE in ctx.rules:
            out.update(daily_episodes(hours, bound, ctx.starts[DAILY_RULE], ctx.now, ctx.tz))
        if RATE_RULE in ctx.rules:
            units = {p.code: p.unit for p in self.reader.parameters()}
            out.update(rate_episodes(hours, bound, ctx.starts[RATE_RULE], units.get(FLOW), until))
        return out, sites

    @staticmethod
    def _devices(state: _State, reader: AlarmStore) -> list[Activation]:
        """The active devices and their activation, read again when the registry changed."""
        version = reader.rule_device_version()
        if state.devices is None or state.devices[0] != version:
            state.devices = (version, reader.rule_device_activation())
        return state.devices[1]

    def _annual(self, permits: list[Permit], lasting: list[Alarm], now: datetime) -> list[Alarm]:
        """Rule (d): one alarm per enterprise and pollutant while the projection is over."""
        hour = hour_start(now)
        out: list[Alarm] = []
        projections = annual_projection(self.reader, permits, now)
        open_by_key = {a.key: a for a in lasting if a.rule == "annual_total"}
        recent = self.reader.alarms(rule="annual_total", active_since=hour - timedelta(days=366))
        for p in projections:
            key = (p.enterprise, "annual_total", p.parameter)
            detail = {"year": p.year, "so_far_t": p.so_far, "elapsed_fraction": p.fraction}
            current = open_by_key.pop(key, None)
            if current is not None and current.detail.get("year") != p.year:
                out.append(_engine_closed(current, hour, note="the year it projected is over"))
                current = None
            if p.over and current is None:
                hand_closed = any(
                    a.key == key and a.closed_by not in (None, ENGINE)
                    and a.detail.get("year") == p.year
                    for a in recent
                )  # fmt: skip
                if not hand_closed:
                    out.append(
                        Alarm(p.enterprise, "annual_total", p.parameter, hour, hour,
                              value=p.projection, threshold=p.permitted,
                              enterprise=p.enterprise, permit=p.permit, detail=detail)
                    )  # fmt: skip
            elif p.over and current is not None:
                new = replace(current, last_seen=hour, value=p.projection, detail=detail)
                if not new.same_content(current):
                    out.append(new)
            elif current is not None:  # the projection fell to the permitted total or below
                out.append(_engine_closed(current, hour, value=p.projection, detail=detail))
        # open alarms nothing is projected for any more: their year is over and the new one
        # has no permitted total (a permit not renewed yet, or without that pollutant's total)
        for current in open_by_key.values():
            out.append(_engine_closed(current, hour, note="no permitted total to project against"))
        return out


#: How far back a back-fill reaches the rules at most (:func:`_backfilled`). CHOICE: a year,
#: the horizon of the annual total; a data logger keeps months of history, and a reading
#: labelled years back is a logger's clock gone wrong more likely than history.
BACKFILL_HORIZON = timedelta(days=366)


def _backfilled(
    backfills: list[RuleBackfill], old: _State | None, now: datetime
) -> dict[str, datetime]:
    """Site → the oldest data time of the back-fills written since the job last read the
    site (those whose gen is newer than the mark's gen it remembers; none at a job's first
    run, which starts from its look-back like any fresh job), no further back than
    :data:`BACKFILL_HORIZON`. The run reads those sites from there: history a device uploads
    after a long outage is judged once."""
    if old is None:
        return {}
    out: dict[str, datetime] = {}
    for b in backfills:
        if b.gen > old.seen.get(b.site_id, 0):
            out[b.site] = max(now - BACKFILL_HORIZON, min(b.since, out.get(b.site, b.since)))
    return out


def _engine_closed(
    a: Alarm,
    hour: datetime,
    *,
    note: str | None = None,
    value: float | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Alarm:
    """An open ``annual_total`` alarm closed by the engine at ``hour`` (not before it
    opened), with ``note`` as its close note, ``value`` [t/a] its last projection and
    ``detail`` its last detail; each of them left as the alarm has it where not given (None)."""
    return replace(
        a,
        state="closed",
        closed_at=max(hour, a.opened_at),
        closed_by=ENGINE,
        close_note=a.close_note if note is None else note,
        value=a.value if value is None else value,
        detail=a.detail if detail is None else detail,
    )


def _changed(
    marks: list[RuleMark], old: _State | None, now: datetime, tz: Mapping[str, str]
) -> tuple[set[str] | None, dict[int, int]]:
    """The sites whose readings changed since the job last read them (None: read all, no
    ``old`` state) and the marks to remember as read once this run succeeds.

    Every mark is read at every run and none is deleted (a row per site that ever had a
    reading, a small table): a site changed when its mark's gen differs from the one this
    job remembers, so several jobs on one database (``shanshui serve`` processes sharing a
    PostgreSQL) each see every change, and none steals another's (each job keeps the data
    times of the outlets it read for the offline rule: they must follow every change). A
    mark whose newest data time is at or after ``now`` (readings labelled ahead of the job's
    clock) is not remembered: the site is read again at every run until they are inside its
    window (they replace the old "labelled in [previous now, now)" scan of the readings).
    Sites are also read again when what is judged of their unchanged data grew
    (:func:`_newly_judged`)."""
    seen = {m.site_id: m.gen for m in marks if m.tmax < now}
    if old is None:
        return None, seen
    before, after = judged_end(old.now), judged_end(now)
    return {
        m.site
        for m in marks
        if old.seen.get(m.site_id) != m.gen or _newly_judged(m, before, after, tz)
    }, seen


def _newly_judged(m: RuleMark, before: datetime, after: datetime, tz: Mapping[str, str]) -> bool:
    """Whether hours or a natural day holding some of ``m``'s site's readings became judged
    between two runs whose judged hours end at ``before`` and ``after``
    (:func:`judged_end`): its newest data time is in an hour not judged before, or in the
    natural day (site's zone) that ``before`` lay in and that is now over (a day is judged
    with its last hour, which may have no data of its own)."""
    if after <= before:
        return False
    if m.tmax >= before:
        return True
    zone = tz.get(m.site, BEIJING.key)
    day = day_start(before, zone)
    return day_start(after, zone) > day and m.tmax >= day


def _by_start(bound: Mapping[str, Bound], starts: Mapping[str, datetime]) -> list[dict[str, Bound]]:
    """``bound`` split by window start, so that an outlet with an alarm open for months does
    not make every outlet's read reach back as far (one read per distinct start)."""
    parts: dict[datetime, dict[str, Bound]] = defaultdict(dict)
    for site, b in bound.items():
        parts[starts[site]][site] = b
    return [parts[k] for k in sorted(parts)]


def _signature(b: Bound | None) -> tuple[object, ...] | None:
    """What the rules take from the permits that hold one outlet, term by term: a change (a
    renewal imported, a validity or a limit corrected) re-reads it."""
    if b is None:
        return None
    return tuple((t.permit.id, t.permit.enterprise.id, t.start, t.end, t.outlet) for t in b.terms)


class _Window:
    """One group of rules at one run: each outlet's window start per rule, the permits that
    hold it, and the stored alarms to reconcile with."""

    def __init__(
        self,
        job: RulesJob,
        *,
        permits: list[Permit],
        lasting: list[Alarm],
        tz: Mapping[str, str],
        now: datetime,
        rules: tuple[str, ...],
        back: Mapping[str, datetime],
    ) -> None:
        self.now, self.rules, self.tz, self.back = now, rules, tz, back
        self.base = hour_start(now - job.lookback)
        oldest: dict[tuple[str, str], datetime] = {}
        for a in lasting:
            if a.rule in rules:
                k = (a.rule, a.site)
                oldest[k] = min(a.opened_at, oldest.get(k, a.opened_at))
        self._oldest = oldest
        sites = {o.site for p in permits for o in p.outlets} | {s for _r, s in oldest}
        self.starts: dict[str, dict[str, datetime]] = {r: {} for r in rules}
        self.gstart: dict[str, datetime] = {}
        self._add(sites)
        # the stored alarms that any outlet's window can see
        self.stored = job.reader.alarms(
            rule=list(rules), active_since=min(self.gstart.values(), default=self.base)
        )
        self._add({a.site for a in self.stored} - set(self.gstart))
        memo: dict[datetime, dict[str, Bound]] = {}
        self.bound: dict[str, Bound] = {}
        for site, start in self.gstart.items():
            if start not in memo:
                memo[start] = bind_outlets(permits, start, now)
            b = memo[start].get(site)
            if b is not None:
                self.bound[site] = b

    def _start(self, rule: str, site: str) -> datetime:
        """The window start of ``rule`` at ``site``: the look-back's hour (its natural day
        for the daily rule), earlier where an alarm of the rule still open began earlier or
        where history was back-filled further back (:func:`_backfilled`)."""
        zone = self.tz.get(site, BEIJING)
        floor = (lambda t: day_start(t, zone)) if rule == DAILY_RULE else hour_start
        start = floor(self.base)
        for earlier in (self._oldest.get((rule, site)), self.back.get(site)):
            if earlier is not None:
                start = min(start, floor(earlier))
        return start

    def _add(self, sites: Iterable[str]) -> None:
        for site in sites:
            for rule in self.rules:
                self.starts[rule][site] = self._start(rule, site)
            self.gstart[site] = min(self.starts[r][site] for r in self.rules)

    def evaluated(self, group: str, changed: set[str] | None, state: _State) -> set[str]:
        """The outlets whose data this run reads: all (``changed`` None), else those with
        changed readings, other permits holding them or an earlier window start than when they
        were read last, or never read."""
        if changed is None:
            return set(self.gstart)
        seen_bound = state.bound.get(group, {})
        seen_start = state.start.get(group, {})
        out = set()
        for site, start in self.gstart.items():
            if (
                site in changed
                or site not in seen_start
                or start < seen_start[site]
                or seen_bound.get(site) != _signature(self.bound.get(site))
            ):
                out.add(site)
        return out

    def reconcile(
        self, episodes: Mapping[tuple[str, str, str], list[Episode]], sites: set[str]
    ) -> list[Alarm]:
        """The alarm changes of ``sites`` (:func:`shanshui.rules.episodes.reconcile` per key,
        each with its outlet's window start)."""
        stored: dict[tuple[str, str, str], list[Alarm]] = defaultdict(list)
        for a in self.stored:
            if a.site not in sites:
                continue
            start = self.starts[a.rule][a.site]
            # (an alarm closed by hand while its condition lasts keeps a recent last_seen)
            if a.closed_at is None or a.closed_at >= start or a.last_seen >= start:
                stored[a.key].append(a)
        keys = {k for k in episodes if k[0] in sites} | set(stored)
        out: list[Alarm] = []
        for key in sorted(keys):
            site, rule, _par = key
            out += reconcile(
                key, episodes.get(key, []), stored.get(key, []), self.starts[rule][site]
            )
        return out


async def run_periodically(
    job: RulesJob,
    stop: asyncio.Event,
    *,
    every: float = 60.0,
    wake: asyncio.Event | None = None,
    min_interval: float = 5.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Run ``job`` every ``every`` seconds, and sooner when ``wake`` is set (the writer sets it
    after a batch) but never twice within ``min_interval`` seconds, until ``stop``. Errors
    are logged and the loop goes on (the store may be down for a while)."""
    loop = asyncio.get_running_loop()
    wake = wake or asyncio.Event()
    while not stop.is_set():
        started = loop.time()
        wake.clear()
        try:
            await asyncio.to_thread(job.run_once, clock())
        except Exception as exc:
            LOG.warning("rules evaluation failed", extra={"error": str(exc)})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=min_interval)
        remaining = every - (loop.time() - started)
        if stop.is_set() or remaining <= 0:
            continue
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
        _done, pending = await asyncio.wait(
            waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
        )
        for w in pending:
            w.cancel()
