"""The rules job: evaluate every rule and write the differences to the alarm table.

``RulesJob(store).run_once(now)`` is what ``shanshui serve`` calls periodically and after the
writer's batches (:func:`run_periodically`). See :mod:`shanshui.rules` for the alarm model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from shanshui.permits.model import Permit
from shanshui.rules.conditions import (
    annual_projection,
    bind_outlets,
    exceedance_episodes,
    flag_episodes,
    offline_episodes,
)
from shanshui.rules.episodes import ENGINE, reconcile
from shanshui.store.alarms import Alarm
from shanshui.store.api import Store
from shanshui.store.duck import DuckDBStore
from shanshui.store.postgres import PostgresStore

__all__ = ["RulesJob", "RunResult", "run_periodically"]

LOG = logging.getLogger("shanshui.rules")

_HOURLY_RULES = {
    "exceedance": exceedance_episodes,
    "flag": flag_episodes,
    "offline": offline_episodes,
}


def _hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class RunResult:
    """What one evaluation changed: alarms opened, updated (still open or re-opened) and
    closed by the engine."""

    now: datetime
    opened: int
    updated: int
    closed: int

    @property
    def changed(self) -> int:
        return self.opened + self.updated + self.closed


class RulesJob:
    """Evaluate the rules of :mod:`shanshui.rules` over ``store``.

    Parameters
    ----------
    store : the store holding permits, observations and alarms.
    lookback : how far back each run re-evaluates the data (late data inside it are taken
        into account); the window also reaches back to the oldest alarm still open.
    rules : the rules to run (default: all four).
    own_reader : read through a separate connection to the same database (a DuckDB cursor, a
        PostgreSQL connection), so that a long evaluation never holds ``store`` (and the
        gateway's writes behind it); alarms are written through ``store``. :meth:`close`
        closes that connection.
    """

    def __init__(
        self,
        store: Store,
        *,
        lookback: timedelta = timedelta(days=2),
        rules: frozenset[str] = frozenset({"exceedance", "offline", "flag", "annual_total"}),
        own_reader: bool = False,
    ) -> None:
        self.store = store
        self.lookback = lookback
        self.rules = rules
        self._own: Store | None = None
        if own_reader and isinstance(store, DuckDBStore):
            self._own = store.reader()
        elif own_reader and isinstance(store, PostgresStore):
            self._own = PostgresStore(store.url)
        self.reader: Store = self._own or store

    def close(self) -> None:
        """Close the job's own read connection (not ``store``)."""
        own, self._own = self._own, None
        if own is not None:
            own.close()
        self.reader = self.store

    def run_once(self, now: datetime | None = None) -> RunResult:
        """Evaluate all rules at ``now`` (tz-aware; default the clock) and save the changes."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        if now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        permits = self.reader.permits()
        lasting = self.reader.alarms(state=["open", "acknowledged"])
        changes: list[Alarm] = []
        for rule, evaluate in _HOURLY_RULES.items():
            if rule not in self.rules:
                continue
            start = _hour(now - self.lookback)
            for a in lasting:
                if a.rule == rule and a.opened_at < start:
                    start = _hour(a.opened_at)
            bound = bind_outlets(permits, start, now)
            episodes = evaluate(self.reader, bound, start, now)
            stored: dict[tuple[str, str, str], list[Alarm]] = defaultdict(list)
            for a in self.reader.alarms(rule=rule, active_since=start):
                stored[a.key].append(a)
            for key in sorted(set(episodes) | set(stored)):
                changes += reconcile(key, episodes.get(key, []), stored.get(key, []), start)
        if "annual_total" in self.rules:
            changes += self._annual(permits, lasting, now)
        saved = self.store.save_alarms(changes) if changes else []
        opened = sum(1 for a, s in zip(changes, saved, strict=True) if a.id is None and s.id)
        closed = sum(1 for a in changes if a.id is not None and a.state == "closed")
        result = RunResult(now, opened, len(changes) - opened - closed, closed)
        if result.changed:
            LOG.info(
                "rules evaluated",
                extra={"opened": opened, "updated": result.updated, "closed": closed},
            )
        return result

    def _annual(self, permits: list[Permit], lasting: list[Alarm], now: datetime) -> list[Alarm]:
        """Rule (d): one alarm per enterprise and pollutant while the projection is over."""
        hour = _hour(now)
        out: list[Alarm] = []
        projections = annual_projection(self.reader, permits, now)
        open_by_key = {a.key: a for a in lasting if a.rule == "annual_total"}
        recent = self.reader.alarms(rule="annual_total", active_since=hour - timedelta(days=366))
        for p in projections:
            key = (p.enterprise, "annual_total", p.parameter)
            detail = {"year": p.year, "so_far_t": p.so_far, "elapsed_fraction": p.fraction}
            current = open_by_key.pop(key, None)
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
            elif current is not None:
                out.append(
                    replace(current, state="closed", closed_at=max(hour, current.opened_at),
                            closed_by=ENGINE, value=p.projection, detail=detail)
                )  # fmt: skip
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
