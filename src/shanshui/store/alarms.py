"""Alarms in the store (migration 0003) behind :class:`AlarmStore`, a mixin of
:class:`~shanshui.store.sqlstore.SQLStore`.

The rules read the readings through ``rule_*`` (by integer ids on ``obs``) and the write
path's marks through :meth:`AlarmStore.rule_marks` (migration 0005).

The alarm model (fields, when an alarm opens and closes, which hours label it) is written down
in :mod:`shanshui.rules`. The rules engine writes alarms with :meth:`AlarmStore.save_alarms`;
operators acknowledge and close them (:meth:`acknowledge_alarm`, :meth:`close_alarm`), which
is recorded in the alarm (who, when, note) and in the audit log (entity ``alarm``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from shanshui.store.api import StoreError, StoreInputError
from shanshui.store.mixin import SQLParts

__all__ = ["ALARM_STATES", "RULES", "Alarm", "AlarmStore", "RuleBackfill", "RuleMark"]

#: Alarm states: open → acknowledged → closed.
ALARM_STATES = frozenset({"open", "acknowledged", "closed"})
#: The rules of :mod:`shanshui.rules`.
RULES = frozenset(
    {"exceedance", "daily_exceedance", "rate_exceedance", "offline", "flag", "annual_total"}
)


@dataclass(frozen=True)
class Alarm:
    """One alarm (see :mod:`shanshui.rules` for the meaning of each field). ``id`` is None
    until the store has it."""

    site: str
    rule: str
    parameter: str
    opened_at: datetime
    last_seen: datetime
    state: str = "open"
    closed_at: datetime | None = None
    hours: int = 0
    value: float | None = None
    threshold: float | None = None
    enterprise: str | None = None
    permit: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None
    created: datetime | None = None
    updated: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    ack_note: str | None = None
    closed_by: str | None = None
    close_note: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """The de-duplication key: (site, rule, parameter)."""
        return (self.site, self.rule, self.parameter)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["detail"] = dict(self.detail)
        for k, v in out.items():
            if isinstance(v, datetime):
                out[k] = v.astimezone(UTC).isoformat()
        return out

    def same_content(self, other: Alarm) -> bool:
        """Equal apart from bookkeeping (id, created, updated)."""
        a = replace(self, id=None, created=None, updated=None)
        b = replace(other, id=None, created=None, updated=None)
        return a == b


_COLUMNS = (
    "site", "id", "rule", "parameter", "state", "opened_at", "closed_at", "last_seen", "hours",
    "value", "threshold", "enterprise", "permit", "detail", "created", "updated",
    "acknowledged_by", "acknowledged_at", "ack_note", "closed_by", "close_note",
)  # fmt: skip


class RuleMark(NamedTuple):
    """A site's mark for the rules job (migration 0005): ``gen`` counts the writes that
    inserted or corrected its readings (a new gen: changed since a job last read it),
    ``tmax`` is the newest data time among them."""

    site_id: int
    site: str
    gen: int
    tmax: datetime


class RuleBackfill(NamedTuple):
    """A site's back-fill noted for the rules job (migration 0006): ``gen`` is the gen its
    :class:`RuleMark` got at its latest write reaching back more than
    :data:`~shanshui.store.writing.BACKFILL_AGE`, ``since`` the oldest data time
    back-filled (the rules read the site again from there)."""

    site_id: int
    site: str
    gen: int
    since: datetime


def _utc(value: Any) -> Any:
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _alarm(row: Sequence[Any]) -> Alarm:
    data = {k: _utc(v) for k, v in zip(_COLUMNS, row, strict=True)}
    detail = data["detail"]
    data["detail"] = (json.loads(detail) if isinstance(detail, str) else detail) or {}
    data["id"] = int(data["id"])
    data["hours"] = int(data["hours"])
    return Alarm(**data)


def _params(a: Alarm, now: datetime) -> dict[str, Any]:
    row = {k: getattr(a, k) for k in _COLUMNS}
    row["detail"] = json.dumps(dict(a.detail), ensure_ascii=False, sort_keys=True)
    row["created"] = a.created or now
    row["updated"] = now
    return row


def _columns(alarms: Sequence[Alarm], now: datetime, *, insert: bool = False) -> dict[str, Any]:
    """The parameters of ``alarm_update_rules_many.sql`` (``insert``:
    ``alarm_insert_many.sql``): one list per column."""
    rows = [_params(a, now) for a in alarms]
    out: dict[str, Any] = {"updated": now, "created": now}
    plural = {"id": "ids", "site": "sites", "state": "states", "rule": "rules",
              "parameter": "parameters"}  # fmt: skip
    names = ["site", "state", "opened_at", "closed_at", "last_seen", "hours", "value",
             "threshold", "enterprise", "permit", "detail", "close_note", "closed_by"]  # fmt: skip
    names += (
        ["rule", "parameter", "acknowledged_by", "acknowledged_at", "ack_note"]
        if insert
        else ["id"]
    )
    for key in names:
        out[plural.get(key, key)] = [r[key] for r in rows]
    return out


#: ``closed_by`` of the alarms the rules engine closes (:data:`shanshui.rules.episodes.ENGINE`).
_ENGINE = "rules"


def _twins_of(alarms: Sequence[Alarm]) -> dict[str, Any]:
    """``alarm_select`` parameters: the alarms of ``alarms``' sites and rules opened since the
    first of them (among them, any of the same episode)."""
    return {
        "id": None, "states": None,
        "sites": sorted({a.site for a in alarms}), "rules": sorted({a.rule for a in alarms}),
        "enterprise": None, "since": min(a.opened_at for a in alarms), "active_since": None,
    }  # fmt: skip


def _names(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


class AlarmStore(SQLParts):
    """The alarm operations of :class:`~shanshui.store.Store` over SQL."""

    if TYPE_CHECKING:  # provided by CodeIds
        _site_code: dict[int, str]
        _parameter_code: dict[int, str]

        def _known_ids(self, codes: Sequence[str] | None, *, site: bool) -> list[int] | None: ...

    def alarms(
        self,
        *,
        state: str | Sequence[str] | None = None,
        site: str | Sequence[str] | None = None,
        rule: str | Sequence[str] | None = None,
        enterprise: str | None = None,
        since: datetime | None = None,
        active_since: datetime | None = None,
    ) -> list[Alarm]:
        """Alarms, newest ``opened_at`` first. ``since``: opened at or after; ``active_since``:
        not closed, closed at or after that instant, or whose condition was seen then or later
        (``last_seen``: an alarm closed by hand while its condition lasts)."""
        states = _names(state)
        for s in states or ():
            if s not in ALARM_STATES:
                raise StoreInputError(f"unknown alarm state {s!r}; allowed {sorted(ALARM_STATES)}")
        for t, name in ((since, "since"), (active_since, "active_since")):
            if t is not None and t.utcoffset() is None:
                raise StoreInputError(f"{name} must be timezone-aware")
        params = {
            "id": None, "states": states, "sites": _names(site), "rules": _names(rule),
            "enterprise": enterprise, "since": since, "active_since": active_since,
        }  # fmt: skip
        with self._session(write=False):
            rows = self._fetch("alarm_select", params)
        return [_alarm(r) for r in rows]

    def _alarm_by_id(self, alarm_id: int) -> Alarm | None:
        params = {
            "id": int(alarm_id), "states": None, "sites": None, "rules": None,
            "enterprise": None, "since": None, "active_since": None,
        }  # fmt: skip
        rows = self._fetch("alarm_select", params)
        return _alarm(rows[0]) if rows else None

    def alarm(self, alarm_id: int) -> Alarm | None:
        """The alarm ``alarm_id``, or None."""
        with self._session(write=False):
            return self._alarm_by_id(alarm_id)

    @contextmanager
    def rules_turn(self, *, wait: float = 0.0) -> Iterator[bool]:
        """Whether this connection may evaluate the alarm rules now (True) or another
        process is (False), held until the block ends.

        DESIGN §6: any number of ``serve`` processes share one PostgreSQL, each with a rules
        job; two runs that read the lasting alarms at once would each open the same alarm. A
        session-level advisory lock (``rules_turn.sql``) makes the runs take turns; one that
        finds it taken skips (its changes wait for its next run, which sees the other run's
        alarms). ``wait`` [s]: try again until then (a run asked for by hand). An embedded
        store is one process: always its turn. A connection lost meanwhile releases the lock
        with it: :meth:`save_alarms` checks again what is stored (the turn saves work; the
        save keeps one alarm per episode)."""
        deadline = time.monotonic() + wait
        while True:
            with self._session():
                mine = bool(self._fetch("rules_turn")[0][0])
            if mine or time.monotonic() >= deadline:
                break
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        try:
            yield mine
        finally:
            if mine:
                try:
                    with self._session():
                        self._fetch("rules_turn_end")
                except StoreError:  # the connection is gone, and its lock with it
                    pass

    def save_alarms(self, alarms: Sequence[Alarm]) -> list[Alarm]:
        """The rules engine's write: insert the alarms without id, update those with one (what
        the data say: times, hours, values, state; an alarm an operator closed meanwhile stays
        closed, one acknowledged meanwhile stays acknowledged); one transaction. The alarms as
        stored (with ids)."""
        now = datetime.now(UTC)
        out = []
        for a in alarms:
            if a.state not in ALARM_STATES or a.rule not in RULES:
                raise StoreInputError(f"alarm {a.key}: unknown state or rule")
            for t in (a.opened_at, a.last_seen, a.closed_at):
                if t is not None and t.utcoffset() is None:
                    raise StoreInputError(f"alarm {a.key}: times must be timezone-aware")
        new = [a for a in alarms if a.id is None]
        known = [a for a in alarms if a.id is not None]
        with self._session():
            inserted = {}
            # one save at a time over a shared database (alarm_save_turn.sql), and no second
            # alarm for an episode another process's run saved meanwhile (an alarm of the same
            # site, rule, parameter and opening, still open or acknowledged, or closed by an
            # operator, whose close stands; DESIGN §6, rules_turn lost with its connection):
            # that alarm is the one returned. One the engine closed is no twin: the engine
            # may open its episode again (the annual rule opens at the hour: review 19 #3)
            self._fetch("alarm_save_turn")
            if new:
                lasting = {
                    (a.site, a.rule, a.parameter, _utc(a.opened_at)): a
                    for a in map(_alarm, self._fetch("alarm_select", _twins_of(new)))
                    if a.state != "closed" or a.closed_by not in (None, _ENGINE)
                }
                for a in new:
                    twin = lasting.get((a.site, a.rule, a.parameter, _utc(a.opened_at)))
                    if twin is not None:
                        inserted[id(a)] = twin
                new = [a for a in new if id(a) not in inserted]
            keys = [(a.site, a.rule, a.parameter, a.opened_at) for a in new]
            if len(set(keys)) == len(keys) > 1:  # one statement, ids mapped back by key
                got = self._fetch("alarm_insert_many", _columns(new, now, insert=True))
                new_ids = {(s, r, p, _utc(t)): int(i) for i, s, r, p, t in got}
                for a, key in zip(new, keys, strict=True):
                    inserted[id(a)] = replace(a, id=new_ids[key], created=now, updated=now)
            else:
                for a in new:
                    new_id = self._fetch("alarm_insert", _params(a, now))[0][0]
                    inserted[id(a)] = replace(a, id=int(new_id), created=now, updated=now)
            stored: dict[int, Alarm] = {}
            if known:
                # one statement for all (the offline rule updates every silent outlet's alarm
                # at every run); never undoes an operator's acknowledgement or close meanwhile
                self._exec("alarm_update_rules_many", _columns(known, now))
                ids = [int(a.id) for a in known if a.id is not None]
                rows = self._fetch("alarm_select_ids", {"ids": ids})
                stored = {int(r.id or 0): r for r in map(_alarm, rows)}
            for a in alarms:
                if a.id is None:
                    out.append(inserted[id(a)])
                elif a.id in stored:
                    out.append(stored[a.id])
                else:
                    raise StoreInputError(f"no alarm {a.id}")
        return out

    def acknowledge_alarm(self, alarm_id: int, *, actor: str, note: str | None = None) -> Alarm:
        """Acknowledge an open alarm (who, when, note); audited. Unknown or not open:
        StoreInputError."""
        now = datetime.now(UTC)
        with self._session():
            a = self._alarm_by_id(alarm_id)
            if a is None:
                raise StoreInputError(f"no alarm {alarm_id}")
            if a.state != "open":
                raise StoreInputError(f"alarm {alarm_id} is {a.state}, not open")
            new = replace(a, state="acknowledged", acknowledged_by=actor, acknowledged_at=now,
                          ack_note=note)  # fmt: skip
            self._exec("alarm_update", _params(new, now))
            self._insert_audit(
                changed=now, actor=actor, action="acknowledge", entity="alarm", site=a.site,
                key=str(alarm_id), old={"state": a.state}, new={"state": new.state},
                reason=note,
            )  # fmt: skip
        return replace(new, updated=now)

    def close_alarm(
        self,
        alarm_id: int,
        *,
        actor: str,
        note: str | None = None,
        at: datetime | None = None,
    ) -> Alarm:
        """Close an alarm by hand; ``closed_at`` is the hour of ``at`` (default now); audited.
        Unknown or already closed: StoreInputError."""
        now = datetime.now(UTC)
        when = (at or now).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        with self._session():
            a = self._alarm_by_id(alarm_id)
            if a is None:
                raise StoreInputError(f"no alarm {alarm_id}")
            if a.state == "closed":
                raise StoreInputError(f"alarm {alarm_id} is closed already")
            new = replace(a, state="closed", closed_at=max(when, a.opened_at), closed_by=actor,
                          close_note=note)  # fmt: skip
            self._exec("alarm_update", _params(new, now))
            self._insert_audit(
                changed=now, actor=actor, action="close", entity="alarm", site=a.site,
                key=str(alarm_id), old={"state": a.state}, new={"state": "closed"}, reason=note,
            )  # fmt: skip
        return replace(new, updated=now)

    # -- what the rules read (shanshui.rules) --------------------------------------------------
    # By integer ids on obs (migration 0004): the codes map to ids through the cached
    # dictionaries of CodeIds (an unknown code selects nothing) and back the same way; the
    # results are sorted here by code, as the view-based queries sorted them.
    def _rule_sites(self, sites: Sequence[str]) -> dict[str, Any]:
        return {"site_ids": self._known_ids(list(sites), site=True)}

    def rule_flag_hours(
        self, sites: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[str, datetime, str, int]]:
        """(site, hour, flag, count) of the observations of ``sites`` in ``[start, end)``."""
        with self._session(write=False):
            params = {**self._rule_sites(sites), "start": start, "end": end}
            rows = self._fetch("alarm_flag_hours", params)
        code = self._site_code
        out = [
            (code[int(s)], datetime.fromtimestamp(int(h) * 3600, UTC), str(f), int(n))
            for s, h, f, n in rows
        ]
        out.sort(key=lambda r: (r[0], r[1], r[2]))
        return out

    def rule_gaps(
        self, sites: Sequence[str], start: datetime, end: datetime, min_gap_s: float
    ) -> list[tuple[str, datetime, datetime]]:
        """(site, previous, next) data times further apart than ``min_gap_s`` seconds, from
        each site's last data time before ``start`` (:meth:`rule_data_span`: on PostgreSQL
        from the ends of its series, not its whole history) to ``end``."""
        with self._session(write=False):
            wanted = self._rule_sites(sites)
            before = self._fetch("alarm_data_span", {**wanted, "end": start})
            params = {**wanted, "start": start, "end": end, "min_gap": float(min_gap_s),
                      "prev_site_ids": [int(s) for s, _f, _l in before],
                      "prev_times": [last for _s, _f, last in before]}  # fmt: skip
            rows = self._fetch("alarm_gaps", params)
        code = self._site_code
        out = [(code[int(s)], _utc(p), _utc(t)) for s, p, t in rows]
        out.sort(key=lambda r: (r[0], r[1]))
        return out

    def rule_cou_sums(
        self,
        sites: Sequence[str],
        parameters: Sequence[str],
        start: datetime,
        end: datetime,
    ) -> dict[tuple[str, str], float]:
        """Sums of hourly ``cou`` values per (site, parameter) in ``[start, end)``."""
        with self._session(write=False):
            params = {
                **self._rule_sites(sites),
                "parameter_ids": self._known_ids(list(parameters), site=False),
                "start": start, "end": end,
            }  # fmt: skip
            rows = self._fetch("alarm_cou_sums", params)
        site, par = self._site_code, self._parameter_code
        return dict(sorted(((site[int(s)], par[int(p)]), float(v)) for s, p, v, _n in rows))

    def rule_data_span(
        self, sites: Sequence[str], end: datetime
    ) -> dict[str, tuple[datetime, datetime]]:
        """(first, last) data time before ``end`` of each of ``sites`` that has data."""
        with self._session(write=False):
            rows = self._fetch("alarm_data_span", {**self._rule_sites(sites), "end": end})
        code = self._site_code
        return dict(sorted((code[int(s)], (_utc(f), _utc(t))) for s, f, t in rows))

    # -- the rules job's marks (migrations 0005, 0006) ----------------------------------------
    def rule_backfills(self) -> list[RuleBackfill]:
        """The back-fills noted by the write path (migration 0006), one per site: the gen its
        mark got at its latest write reaching back more than
        :data:`~shanshui.store.writing.BACKFILL_AGE`, and the oldest data time back-filled."""
        with self._session(write=False):
            rows = self._fetch("rules_backfills")
        return [RuleBackfill(int(i), str(c), int(g), _utc(t)) for i, c, g, t in rows]

    def rule_marks(self) -> list[RuleMark]:
        """The mark of every site that had readings inserted or corrected, by site code (the
        write path makes them in its transaction, :mod:`~shanshui.store.writing`). Reading
        them changes nothing: each rules job compares a mark's gen with the one it last read
        (:mod:`shanshui.rules.engine`), so several jobs on one database each see every
        change. The table has a row per site that ever had a reading: a small read."""
        with self._session(write=False):
            rows = self._fetch("rules_take")
        return [RuleMark(int(i), str(c), int(g), _utc(t)) for i, c, g, t in rows]

    def rule_device_activation(self) -> list[tuple[str, str | None, datetime | None]]:
        """(mn, site, activated) of every active device: when it was last made active (the
        audit log; None: unknown)."""
        with self._session(write=False):
            rows = self._fetch("alarm_device_activation")
        return [(str(m), None if s is None else str(s), _utc(a)) for m, s, a in rows]

    def rule_device_version(self) -> tuple[int, datetime | None]:
        """(count, newest change) of the device registry: equal versions, equal registry."""
        with self._session(write=False):
            n, updated = self._fetch("alarm_device_version")[0]
        return int(n), _utc(updated)
