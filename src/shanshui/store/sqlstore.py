"""The store's logic over SQL, shared by the DuckDB and PostgreSQL back ends.

A back end supplies a few primitives (connect, transactions, execute, fetch, stage an Arrow
table under a name); everything else — checking input, the write path, aggregates, the audit
log — is here once, with its SQL in ``queries/``.
"""

from __future__ import annotations

import abc
import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import pyarrow as pa

from shanshui.store.alarms import AlarmStore
from shanshui.store.api import (
    KINDS,
    LEVELS,
    ROLES,
    STATUSES,
    AuditEntry,
    Device,
    Parameter,
    Region,
    Site,
    Store,
    StoreError,
    StoreInputError,
)
from shanshui.store.codes import CodeIds
from shanshui.store.events import EventStore
from shanshui.store.keys import KeyStore
from shanshui.store.permits import PermitStore
from shanshui.store.recalls import RecallStore
from shanshui.store.sql import Dialect, Query, migrations, query
from shanshui.store.stages import DAILY_COLUMNS, OBS_COLUMNS, STAGES
from shanshui.store.writing import ObservationWriter

#: GB 3095-2012 Table 4: a 24-hour mean needs at least 20 hourly means in the natural day.
MIN_VALID_HOURS = 20
#: How many marked (site, day) pairs one :meth:`recompute_daily` call takes from the queue.
DIRTY_CHUNK = 5000


def _now() -> datetime:
    return datetime.now(UTC)


def _names(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise StoreInputError(f"{name} must be timezone-aware, got {value!r}")
    return value


def _json(value: Any) -> str | None:
    """``value`` as JSON text (None stays None); not serialisable: StoreInputError."""
    if value is None:
        return None
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreInputError(f"not JSON-serialisable: {exc}") from None


def _unjson(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _check(value: str, allowed: frozenset[str], what: str) -> None:
    if value not in allowed:
        raise StoreInputError(f"unknown {what} {value!r}; allowed: {sorted(allowed)}")


class SQLStore(
    ObservationWriter, CodeIds, KeyStore, EventStore, PermitStore, RecallStore, AlarmStore, Store
):
    """Shared implementation of :class:`Store`; subclasses provide the SQL primitives."""

    dialect: Dialect

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        self._closed = False
        self._site_tz: dict[str, str] = {}  # sites are never deleted: a safe cache
        self._init_codes()

    # -- primitives ---------------------------------------------------------------------------
    @abc.abstractmethod
    def _ensure_connected(self) -> None: ...

    @abc.abstractmethod
    def _disconnect(self) -> None: ...

    @abc.abstractmethod
    @contextmanager
    def _transaction(self) -> Iterator[None]: ...

    @abc.abstractmethod
    def _execute(self, q: Query, params: dict[str, Any] | None = None) -> int:
        """Run one statement; the number of rows it changed."""

    @abc.abstractmethod
    def _script(self, text: str) -> None:
        """Run several statements without parameters (migrations)."""

    @abc.abstractmethod
    def _rows(self, q: Query, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]: ...

    @abc.abstractmethod
    def _stage(self, name: str, table: pa.Table) -> None:
        """Make ``table`` readable as ``name`` until the transaction ends."""

    @abc.abstractmethod
    def _lock_schema(self) -> None:
        """Serialise migrations between processes (inside the transaction)."""

    @abc.abstractmethod
    def _db_errors(self) -> tuple[type[BaseException], ...]: ...

    @abc.abstractmethod
    def _connection_lost(self, exc: BaseException) -> bool: ...

    # -- plumbing -----------------------------------------------------------------------------
    def _q(self, name: str) -> Query:
        return query(name, self.dialect)

    def _exec(self, name: str, params: Mapping[str, Any] | None = None) -> int:
        """Run query ``name`` with the parameters it takes from ``params``; rows changed."""
        q = self._q(name)
        return self._execute(q, q.bind(params or {}))

    def _fetch(self, name: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of query ``name`` with the parameters it takes from ``params``."""
        q = self._q(name)
        return self._rows(q, q.bind(params or {}))

    @contextmanager
    def _session(self, *, write: bool = True) -> Iterator[None]:
        """Hold the lock and one transaction; translate database errors to StoreError.

        ``write`` says whether the caller writes (documentation for now; both run the same).
        """
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")  # not the input's fault: retry elsewhere
            try:
                self._ensure_connected()
                with self._transaction():
                    yield
            except self._db_errors() as exc:
                if self._connection_lost(exc):
                    self._disconnect()
                raise StoreError(f"{self.dialect} store {self._safe_url()}: {exc}") from exc

    def _safe_url(self) -> str:
        head, sep, tail = self.url.rpartition("@")
        return f"{head.split('://')[0]}://…@{tail}" if sep else self.url

    def _load(self, name: str, rows: Iterable[Mapping[str, Any]] | pa.Table) -> None:
        """Stage records (or a table) as ``name``; values of the wrong type: StoreInputError."""
        schema = STAGES[name]
        try:
            table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(list(rows), schema)
            table = table.select(schema.names).cast(schema)
        except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
            raise StoreInputError(f"a value of the wrong type for {name}: {exc}") from None
        self._stage(name, table)

    def _table(self, name: str, params: Mapping[str, Any], schema: pa.Schema) -> pa.Table:
        """The result of query ``name`` as an Arrow table of ``schema`` (row by row here;
        a back end may do better)."""
        rows = self._fetch(name, params)
        data = {col: [r[i] for r in rows] for i, col in enumerate(schema.names)}
        return pa.Table.from_pydict(data, schema)

    # -- life cycle ---------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._disconnect()

    def schema_version(self) -> int:
        with self._session():
            self._exec("schema_version_create")
            rows = self._fetch("schema_versions")
        return max((int(r[0]) for r in rows), default=0)

    def migrate(self) -> list[int]:
        applied: list[int] = []
        with self._session():
            self._lock_schema()
            self._exec("schema_version_create")
            done = {int(r[0]) for r in self._fetch("schema_versions")}
            for m in migrations(self.dialect):
                if m.version in done:
                    continue
                self._script(m.text)
                self._exec(
                    "schema_version_insert",
                    {"version": m.version, "name": m.name, "applied": _now()},
                )
                applied.append(m.version)
        return applied

    # -- reference data -----------------------------------------------------------------------
    def upsert_regions(self, regions: Iterable[Region]) -> int:
        rows = []
        for r in regions:
            _check(r.level, LEVELS, "region level")
            rows.append({k: getattr(r, k) for k in ("code", "name", "name_en", "level", "parent")})
        with self._session():
            self._load("stage_regions", rows)
            self._exec("region_upsert")
        return len(rows)

    def upsert_sites(self, sites: Iterable[Site]) -> int:
        rows = []
        for s in sites:
            _check(s.kind, KINDS, "site kind")
            _check(s.role, ROLES, "site role")
            try:
                ZoneInfo(s.tz)
            except (ZoneInfoNotFoundError, ValueError):
                raise StoreInputError(f"site {s.code}: unknown time zone {s.tz!r}") from None
            row = {k: getattr(s, k) for k in ("code", "name", "kind", "region", "role", "tz")}
            try:
                row["lon"] = None if s.lon is None else float(s.lon)
                row["lat"] = None if s.lat is None else float(s.lat)
            except (TypeError, ValueError):
                raise StoreInputError(f"site {s.code}: coordinates must be numbers") from None
            row["attributes"] = _json(dict(s.attributes))
            rows.append(row)
        with self._session():
            self._load("stage_sites", rows)
            self._exec("site_upsert", {"updated": _now()})
            self._exec("site_key_insert")  # a new site gets its integer key at once
        with self._lock:
            self._site_tz.update({r["code"]: r["tz"] for r in rows})
        return len(rows)

    def upsert_parameters(self, parameters: Iterable[Parameter], *, replace: bool = True) -> int:
        rows = [
            {"code": p.code, "name": p.name, "unit": p.unit, "hj212": p.hj212} for p in parameters
        ]
        with self._session():
            self._load("stage_params", rows)
            self._exec("parameter_upsert" if replace else "parameter_insert_new")
            self._exec("parameter_key_insert")  # a new parameter gets its integer key at once
        return len(rows)

    def regions(self) -> list[Region]:
        with self._session(write=False):
            rows = self._fetch("regions")
        return [Region(*r) for r in rows]

    def sites(self, *, kind: str | None = None, region: str | None = None) -> list[Site]:
        with self._session(write=False):
            rows = self._fetch("sites", {"kind": kind, "region": region})
        return [
            Site(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], _unjson(r[8]) or {}) for r in rows
        ]

    def parameters(self) -> list[Parameter]:
        with self._session(write=False):
            rows = self._fetch("parameters")
        return [Parameter(*r) for r in rows]

    # -- devices ------------------------------------------------------------------------------
    def _device_rows(self, *, status: str | None, mns: list[str] | None) -> list[Device]:
        rows = self._fetch("devices", {"status": status, "mns": mns})
        return [Device(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], int(r[8])) for r in rows]

    @staticmethod
    def _device_view(d: Device) -> dict[str, Any]:
        return {
            "status": d.status,
            "protocol": d.protocol,
            "site": d.site,
            "password_set": d.password_hash is not None,
        }

    def upsert_devices(
        self, devices: Iterable[Device], *, actor: str, reason: str | None = None
    ) -> int:
        given = list(devices)
        for d in given:
            _check(d.status, STATUSES, "device status")
            if not d.mn:
                raise StoreInputError("a device needs an MN")
        now = _now()
        with self._session():
            old = {d.mn: d for d in self._device_rows(status=None, mns=[d.mn for d in given])}
            audit = []
            for d in given:
                before = old.get(d.mn)
                new = self._device_view(d)
                changed = (
                    before is None
                    or self._device_view(before) != new
                    or (before.password_hash != d.password_hash)
                )
                if changed:
                    audit.append(
                        {
                            "changed": now, "actor": actor, "action": "upsert",
                            "entity": "device", "site": d.site, "key": d.mn,
                            "old_value": _json(before and self._device_view(before)),
                            "new_value": _json(new), "reason": reason,
                        }
                    )  # fmt: skip
            fields = ("mn", "status", "password_hash", "protocol", "site")
            self._load("stage_devices", [{k: getattr(d, k) for k in fields} for d in given])
            self._exec("device_upsert", {"updated": now})
            if audit:
                self._load("stage_audit", audit)
                self._exec("audit_insert")
        return len(given)

    def device(self, mn: str) -> Device | None:
        with self._session(write=False):
            found = self._device_rows(status=None, mns=[mn])
        return found[0] if found else None

    def devices(self, *, status: str | None = None) -> list[Device]:
        if status is not None:
            _check(status, STATUSES, "device status")
        with self._session(write=False):
            return self._device_rows(status=status, mns=None)

    def note_unknown_device(
        self, mn: str, *, peer: str | None, seen: datetime, protocol: str | None = None
    ) -> None:
        _aware(seen, "seen")
        with self._session():
            self._exec(
                "device_pending", {"mn": mn, "peer": peer, "seen": seen, "protocol": protocol}
            )

    def count_refused_login(self, mn: str, *, peer: str | None, n: int = 1) -> None:
        with self._session():
            self._exec("device_refused", {"mn": mn, "peer": peer, "n": int(n)})

    def touch_devices(self, seen: Mapping[str, tuple[datetime, str | None]]) -> None:
        rows = [
            {"mn": mn, "seen": _aware(t, "seen"), "peer": peer} for mn, (t, peer) in seen.items()
        ]
        if not rows:
            return
        with self._session():
            self._load("stage_touch", rows)
            self._exec("devices_touch")

    def set_device_status(self, mn: str, status: str, *, actor: str, reason: str) -> None:
        _check(status, STATUSES, "device status")
        now = _now()
        with self._session():
            found = self._device_rows(status=None, mns=[mn])
            if not found:
                raise StoreInputError(f"no device with MN {mn!r}")
            self._exec("device_status", {"mn": mn, "status": status, "updated": now})
            self._insert_audit(
                changed=now, actor=actor, action="status", entity="device",
                site=found[0].site, key=mn, old={"status": found[0].status},
                new={"status": status}, reason=reason,
            )  # fmt: skip

    # -- observations -------------------------------------------------------------------------
    def _zones(self, sites: list[str]) -> dict[str, str]:
        """Time zones of ``sites`` (in a session); unknown sites raise StoreInputError.
        :meth:`_sites_in_session` caches each site's zone with its id."""
        self._sites_in_session(sites)
        return {s: self._site_tz[s] for s in sites}

    def observations(
        self,
        sites: str | Sequence[str],
        parameters: str | Sequence[str] | None = None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        statistic: str | None = None,
        period: str | None = None,
    ) -> pd.DataFrame:
        params = {
            "sites": _names(sites),
            "parameters": _names(parameters),
            "start": _aware(start, "start"),
            "end": _aware(end, "end"),
            "statistic": statistic,
            "period": period,
        }
        with self._session(write=False):
            table = self._table("observations", params, OBS_COLUMNS)
        return table.to_pandas()

    def latest(
        self,
        sites: str | Sequence[str] | None = None,
        parameters: str | Sequence[str] | None = None,
        *,
        statistic: str = "avg",
        period: str = "hour",
    ) -> pd.DataFrame:
        params = {
            "sites": _names(sites),
            "parameters": _names(parameters),
            "statistic": statistic,
            "period": period,
        }
        with self._session(write=False):
            table = self._table("latest", params, OBS_COLUMNS)
        return table.to_pandas()

    # -- daily aggregates ---------------------------------------------------------------------
    def _day_windows(self, pairs: list[tuple[str, date, int]]) -> list[dict[str, Any]]:
        """The UTC window of each site's natural day 00:00–24:00 local (DESIGN §4)."""
        zones = self._zones(sorted({p[0] for p in pairs}))
        rows = []
        for site, day, gen in pairs:
            tz = ZoneInfo(zones[site])
            start = datetime(day.year, day.month, day.day, tzinfo=tz)
            nxt = day + timedelta(days=1)
            end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
            hours = round((end - start).total_seconds() / 3600)  # 24 except on DST days
            rows.append(
                {"site": site, "day": day, "start_utc": start, "end_utc": end,
                 "expected": hours, "gen": gen}
            )  # fmt: skip
        return rows

    def recompute_daily(self, days: Iterable[tuple[str, date]] | None = None) -> int:
        params: dict[str, Any] = {"min_valid": MIN_VALID_HOURS, "computed": _now()}
        with self._session():
            if days is None:
                pairs = [
                    (s, d, int(g)) for s, d, g in self._fetch("dirty_take", {"limit": DIRTY_CHUNK})
                ]
            else:
                pairs = [(s, d, 0) for s, d in sorted(set(days))]
            if not pairs:
                return 0
            windows = self._day_windows(pairs)
            params["tmin"] = min(w["start_utc"] for w in windows)
            params["tmax"] = max(w["end_utc"] for w in windows)
            self._load("stage_days", windows)
            self._exec("daily_upsert", params)
            if days is None:
                self._exec("dirty_clear")
        return len(pairs)

    def daily(
        self,
        sites: str | Sequence[str],
        parameters: str | Sequence[str] | None = None,
        *,
        start: date | None = None,
        end: date | None = None,
    ) -> pd.DataFrame:
        params = {
            "sites": _names(sites),
            "parameters": _names(parameters),
            "start": start,
            "end": end,
        }
        with self._session(write=False):
            table = self._table("daily_select", params, DAILY_COLUMNS)
        return table.to_pandas()

    # -- audit --------------------------------------------------------------------------------
    def _insert_audit(
        self,
        *,
        changed: datetime,
        actor: str,
        action: str,
        entity: str,
        site: str | None,
        key: str,
        old: Any,
        new: Any,
        reason: str | None,
    ) -> None:
        row = {
            "changed": changed, "actor": actor, "action": action, "entity": entity,
            "site": site, "key": key, "old_value": _json(old), "new_value": _json(new),
            "reason": reason,
        }  # fmt: skip
        self._load("stage_audit", [row])
        self._exec("audit_insert")

    def record_audit(
        self,
        *,
        actor: str,
        action: str,
        entity: str,
        key: str,
        site: str | None = None,
        old: Any = None,
        new: Any = None,
        reason: str | None = None,
    ) -> None:
        with self._session():
            self._insert_audit(
                changed=_now(), actor=actor, action=action, entity=entity, site=site,
                key=key, old=old, new=new, reason=reason,
            )  # fmt: skip

    def audit_log(
        self,
        *,
        site: str | None = None,
        entity: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[AuditEntry]:
        params = {"site": site, "entity": entity, "since": _aware(since, "since"), "limit": limit}
        with self._session(write=False):
            rows = self._fetch("audit", params)
        return [
            AuditEntry(
                int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], _unjson(r[7]), _unjson(r[8]), r[9]
            )
            for r in rows
        ]
