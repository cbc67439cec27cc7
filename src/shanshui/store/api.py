"""The store's interface: records, results, errors and the :class:`Store` contract.

Both implementations (DuckDB, PostgreSQL) pass the same contract tests
(``tests/test_store.py``). Times are timezone-aware everywhere; the store returns them in UTC.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Self, TypeAlias

import pandas as pd
import pyarrow as pa

from shanshui.errors import CallerError, StoreError

if TYPE_CHECKING:  # permits and alarms (issue 6): shanshui.store.permits / .alarms
    from shanshui.permits.model import Enterprise, Limit, Permit
    from shanshui.store.alarms import Alarm
    from shanshui.store.recalls import Recall

__all__ = [
    "EVENT_KINDS",
    "KEY_ROLES",
    "KINDS",
    "LEVELS",
    "PERIODS",
    "ROLES",
    "STATISTICS",
    "STATUSES",
    "ApiKey",
    "AuditEntry",
    "Device",
    "DeviceEvent",
    "Observation",
    "ObservationBatch",
    "Parameter",
    "Region",
    "Site",
    "Store",
    "StoreError",
    "StoreInputError",
    "WriteResult",
]

#: Site kinds: air station, source outlet, surface-water section, groundwater well.
KINDS = frozenset({"air", "outlet", "water", "groundwater"})
#: Site roles: assessment stations enter the city value, reference (对照点) ones do not.
ROLES = frozenset({"assessment", "reference"})
#: Device statuses: only active devices' data are stored; pending ones await an operator.
STATUSES = frozenset({"active", "pending", "disabled"})
#: Region levels of GB/T 2260 (municipality: 直辖市, a province-level city).
LEVELS = frozenset({"municipality", "province", "prefecture", "county"})
#: Statistics, the HJ 212-2017 field suffixes in lower case (Rtd, Avg, Min, Max, Cou and the
#: reference-oxygen ``Zs`` forms).
STATISTICS = frozenset({"rtd", "avg", "min", "max", "cou", "zsrtd", "zsavg", "zsmin", "zsmax"})
#: Periods: real-time (CN 2011), minute (2051), hour (2061), day (2031) data.
PERIODS = frozenset({"rt", "minute", "hour", "day"})
#: Kinds of device events, the messages of a data logger that are not data (HJ 212-2017
#: Table C.1; HJ/T 212-2005 for 2072): ``state`` 2021 equipment running state, ``runtime``
#: 2041 equipment run time, ``restart`` 2081 data-logger restart, ``info`` 3015/3019/3020
#: (sample retention, instrument id, site/instrument information), ``alarm`` 2072 alarm
#: event (2005), ``clock`` 1013 clock-calibration request.
EVENT_KINDS = frozenset({"state", "runtime", "restart", "info", "alarm", "clock"})


class StoreInputError(CallerError):
    """The caller handed the store something it cannot keep (unknown site, NaN, wrong type).

    Nothing was changed: the operation's transaction was rolled back or never started.
    """


class Observation(NamedTuple):
    """One reading; ``time`` is timezone-aware and labels the start of its period (DESIGN §4)."""

    site: str
    parameter: str
    statistic: str
    period: str
    time: datetime
    value: float
    flag: str | None = None
    received: datetime | None = None
    source: str | None = None


#: What :meth:`Store.write_observations` accepts: a pandas DataFrame or an Arrow table with the
#: columns of :class:`Observation` (``flag``, ``received``, ``source`` optional), or a sequence
#: of :class:`Observation` / plain tuples in that field order.
ObservationBatch: TypeAlias = (
    pd.DataFrame | pa.Table | Sequence[Observation] | Sequence[tuple[Any, ...]]
)


@dataclass(frozen=True)
class Region:
    """An administrative region by its GB/T 2260 code, e.g. ``130100`` 石家庄市."""

    code: str
    name: str
    level: str
    parent: str | None = None
    name_en: str | None = None


@dataclass(frozen=True)
class Site:
    """A monitoring site of any kind; ``tz`` defines its natural day (自然日)."""

    code: str
    name: str
    kind: str
    region: str | None = None
    lon: float | None = None
    lat: float | None = None
    role: str = "assessment"
    tz: str = "Asia/Shanghai"
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Parameter:
    """A measured quantity with its unit: ``Parameter("CO", "CO", "mg/m³", "a21005")``."""

    code: str
    name: str
    unit: str
    hj212: str | None = None


@dataclass(frozen=True)
class Device:
    """An HJ 212 data logger by MN. ``password_hash`` from :func:`shanshui.store.hash_password`
    (never show it outside: API views should drop it)."""

    mn: str
    status: str = "active"
    password_hash: str | None = None
    protocol: str | None = None
    site: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    last_peer: str | None = None
    refused_logins: int = 0


@dataclass(frozen=True)
class DeviceEvent:
    """A message of a device that is not data (:data:`EVENT_KINDS`), kept as the device sent it.

    ``time`` is the event's own time, timezone-aware (the store returns UTC): RestartTime of a
    restart, AlarmTime of an alarm, DataTime otherwise (see
    :func:`shanshui.ingest.events.event_of` for the fallbacks); ``received`` when the gateway
    got it; ``fields`` the CP's ``key=value`` entries as sent (text values; a key sent twice
    keeps every value, as a list). ``site`` is the device's site when it has one.

    The store keeps an event once per (site, MN, CN, time, fields): a resend, or a replay of
    the gateway's journal, adds nothing; the QN kept is the first one received.
    """

    mn: str
    cn: str
    kind: str
    time: datetime
    received: datetime
    fields: Mapping[str, Any]
    qn: str | None = None
    site: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One audit-log row: who changed what, when, from which value to which, and why."""

    id: int
    changed: datetime
    actor: str
    action: str
    entity: str
    site: str | None
    key: str
    old_value: Any
    new_value: Any
    reason: str | None


#: Roles an API key can carry (reading needs no key; see :mod:`shanshui.api.auth`).
KEY_ROLES = frozenset({"operator", "admin"})


@dataclass(frozen=True)
class ApiKey:
    """One API key as stored: ``digest`` is the SHA-256 of the token, never the token itself;
    ``revoked`` is None while the key is in force."""

    id: str
    digest: str
    role: str
    label: str
    created: datetime
    revoked: datetime | None = None


@dataclass(frozen=True)
class WriteResult:
    """Counts of one :meth:`Store.write_observations` call.

    ``inserted + unchanged + corrected`` is the number of distinct keys in the batch;
    ``superseded`` counts rows dropped because a later row of the same batch had the same key.
    """

    inserted: int
    unchanged: int
    corrected: int
    superseded: int = 0
    #: Device events of the call (``events=``) stored now (new keys; resends are not).
    events: int = 0
    #: Keys among ``unchanged`` whose stored reading has another value and arrived later
    #: (its ``received``): the batch's reading is stale and replaced nothing (DESIGN §4, a
    #: later correction replaces; several gateways' journals drain in any order).
    stale: int = 0


class Store(abc.ABC):
    """Where every reading is kept once, with sites, devices, aggregates and the audit log.

    A store is safe to share between threads (calls are serialised). Every writing call is one
    transaction, committed (durable) when it returns; on any error nothing is changed.
    Errors: :class:`StoreInputError` for bad arguments, :class:`StoreError` when the database
    fails (connection lost, disk full, …); a later call reconnects.
    """

    url: str

    # -- life cycle ---------------------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @abc.abstractmethod
    def migrate(self) -> list[int]:
        """Apply the missing schema migrations, in order; idempotent. The versions applied."""

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The newest applied migration (0 for an empty database)."""

    # -- reference data ----------------------------------------------------------------------
    @abc.abstractmethod
    def upsert_regions(self, regions: Iterable[Region]) -> int:
        """Insert or replace regions by code. The number of regions given."""

    @abc.abstractmethod
    def upsert_sites(self, sites: Iterable[Site]) -> int:
        """Insert or replace sites by code. The number of sites given."""

    @abc.abstractmethod
    def upsert_parameters(self, parameters: Iterable[Parameter], *, replace: bool = True) -> int:
        """Insert or replace parameters by code. The number of parameters given.

        ``replace=False``: insert only the codes not defined yet, leaving a definition
        (name, unit) made elsewhere as it is: for a writer that guesses a definition for a
        code it has not seen (DESIGN §4: the unit travels with the parameter; several
        processes share one store, DESIGN §6)."""

    @abc.abstractmethod
    def site_ids(self, codes: Sequence[str]) -> dict[str, int]:
        """The integer key of each site code (migration 0004), ``{code: id}``.

        A site gets its id when it is first registered and keeps it for ever (across reopening
        and on every process of the same database). Ids are cached; codes not seen yet are
        fetched. An unregistered code raises :class:`StoreInputError`.
        """

    @abc.abstractmethod
    def parameter_ids(self, codes: Sequence[str]) -> dict[str, int]:
        """The integer key of each parameter code, as :meth:`site_ids` for sites."""

    @abc.abstractmethod
    def regions(self) -> list[Region]:
        """All regions, by code."""

    @abc.abstractmethod
    def sites(self, *, kind: str | None = None, region: str | None = None) -> list[Site]:
        """Sites, by code, optionally of one kind or region."""

    @abc.abstractmethod
    def parameters(self) -> list[Parameter]:
        """All parameters, by code."""

    # -- devices ------------------------------------------------------------------------------
    @abc.abstractmethod
    def upsert_devices(
        self, devices: Iterable[Device], *, actor: str, reason: str | None = None
    ) -> int:
        """Register or change devices (status, password hash, protocol, site); audited.

        Sightings (first/last seen, peer) and refusal counts of existing devices are kept.
        """

    @abc.abstractmethod
    def device(self, mn: str) -> Device | None:
        """The device with this MN, or None."""

    @abc.abstractmethod
    def devices(self, *, status: str | None = None) -> list[Device]:
        """Devices by MN, optionally only those with ``status``."""

    def pending_devices(self) -> list[Device]:
        """Devices seen but not registered, waiting for an operator."""
        return self.devices(status="pending")

    @abc.abstractmethod
    def note_unknown_device(
        self, mn: str, *, peer: str | None, seen: datetime, protocol: str | None = None
    ) -> None:
        """A frame came from an unregistered MN: list it as pending (a known MN is unchanged)."""

    @abc.abstractmethod
    def count_refused_login(self, mn: str, *, peer: str | None, n: int = 1) -> None:
        """Add ``n`` refused logins (wrong password) to a device's count."""

    @abc.abstractmethod
    def touch_devices(self, seen: Mapping[str, tuple[datetime, str | None]]) -> None:
        """Record sightings ``{mn: (time, peer)}`` in one write (the gateway batches them)."""

    @abc.abstractmethod
    def set_device_status(self, mn: str, status: str, *, actor: str, reason: str) -> None:
        """Approve (active), disable or re-pend a device; audited. Unknown MN: StoreInputError."""

    # -- observations -------------------------------------------------------------------------
    @abc.abstractmethod
    def write_observations(
        self,
        batch: ObservationBatch,
        *,
        source: str | None = None,
        actor: str | None = None,
        events: Sequence[DeviceEvent] = (),
    ) -> WriteResult:
        """Keep a batch of readings, each once; durable when the call returns.

        ``events``: device events written in the same transaction (see
        :meth:`write_device_events`; counted in :attr:`WriteResult.events`), so that the
        journal writer stores a chunk's readings and events together or not at all.

        A reading whose key (site, parameter, statistic, period, time) is stored with the same
        value and flag is unchanged; with another value or flag it replaces the stored one and
        an audit-log row (actor ``actor`` or ``source``) records old and new. Within one batch
        the last row of a key wins. ``received`` defaults to now, ``source`` to the argument.
        Unknown sites or parameters, missing/NaN/infinite values, naive times, unknown
        statistic or period or wrong types raise :class:`StoreInputError` and store nothing.
        Hourly means mark their sites' natural days for :meth:`recompute_daily`.
        """

    @abc.abstractmethod
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
        """Readings in ``[start, end)``, ordered by key; columns as :class:`Observation`."""

    @abc.abstractmethod
    def latest(
        self,
        sites: str | Sequence[str] | None = None,
        parameters: str | Sequence[str] | None = None,
        *,
        statistic: str = "avg",
        period: str = "hour",
    ) -> pd.DataFrame:
        """The newest reading per (site, parameter); columns as :class:`Observation`."""

    # -- device events (implemented by shanshui.store.events.EventStore) --------------------
    @abc.abstractmethod
    def write_device_events(self, events: Sequence[DeviceEvent]) -> int:
        """Keep device events, each once (key: site, MN, CN, time, fields); the number stored
        now (a resend or a replay stores nothing). Naive times, an unknown kind or fields that
        are not JSON raise :class:`StoreInputError` and store nothing."""

    @abc.abstractmethod
    def device_events(
        self,
        mn: str,
        *,
        since: datetime | None = None,
        kind: str | None = None,
        limit: int = 100,
    ) -> list[DeviceEvent]:
        """The events of device ``mn``, newest first (by event time, then received): those at
        or after ``since``, of one ``kind``, at most ``limit``."""

    # -- history requests (implemented by shanshui.store.recalls.RecallStore) ---------------
    @abc.abstractmethod
    def request_recalls(self, recalls: Sequence[Recall]) -> int:
        """Queue requests for devices' history (HJ 212-2017 2031/2051/2061), audited; the
        same request again waits to be sent again. Bad input raises :class:`StoreInputError`
        and queues nothing."""

    @abc.abstractmethod
    def waiting_recalls(self, *, limit: int = 10_000) -> list[Recall]:
        """The requests no gateway has sent yet, oldest first."""

    @abc.abstractmethod
    def device_recalls(self, mn: str, *, limit: int = 100) -> list[Recall]:
        """Device ``mn``'s requests, newest first."""

    @abc.abstractmethod
    def recalls_sent(
        self, keys: Sequence[tuple[str, str, datetime, datetime]], sent: datetime
    ) -> int:
        """Note that a gateway sent these requests (keys: ``Recall.key``) at ``sent``."""

    # -- daily aggregates ---------------------------------------------------------------------
    @abc.abstractmethod
    def recompute_daily(self, days: Iterable[tuple[str, date]] | None = None) -> int:
        """Recompute daily means for (site, natural day) pairs; None: the days marked by writes.

        Returns the number of (site, day) pairs recomputed. With None, one call takes up to
        5,000 marked days (oldest site codes first); a scheduler calls until it returns 0.
        Marks are cleared only when no write marked the day again meanwhile. See
        ``queries/daily_upsert.sql`` for the rule (GB 3095-2012 Table 4: valid with at least
        20 valid hourly means).
        """

    @abc.abstractmethod
    def daily(
        self,
        sites: str | Sequence[str],
        parameters: str | Sequence[str] | None = None,
        *,
        start: date | None = None,
        end: date | None = None,
    ) -> pd.DataFrame:
        """Daily aggregates in ``[start, end)``: site, parameter, statistic, day, value, min,
        max, expected, observed, valid_count, valid, computed."""

    # -- API keys (implemented by shanshui.store.keys.KeyStore) -------------------------------
    @abc.abstractmethod
    def add_api_key(self, digest: str, role: str, label: str, *, actor: str) -> ApiKey:
        """Keep a new key's digest with its role and label; audited. The stored key."""

    @abc.abstractmethod
    def api_keys(self, *, active: bool | None = None) -> list[ApiKey]:
        """Keys by creation time; ``active``: only those in force (True) or revoked (False)."""

    @abc.abstractmethod
    def revoke_api_key(self, key_id: str, *, actor: str, reason: str | None = None) -> bool:
        """Revoke a key by id; audited. False when it was revoked already; unknown id:
        StoreInputError."""

    # -- audit --------------------------------------------------------------------------------
    @abc.abstractmethod
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
        """Append one audit-log row (JSON-serialisable ``old``/``new``)."""

    @abc.abstractmethod
    def audit_log(
        self,
        *,
        site: str | None = None,
        entity: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[AuditEntry]:
        """Audit-log rows, oldest first."""

    # -- permits and alarms (shanshui.store.permits.PermitStore, .alarms.AlarmStore) ---------
    @abc.abstractmethod
    def put_permit(self, permit: Permit, *, actor: str, reason: str | None = None) -> bool:
        """Insert or replace a permit with its enterprise; audited. False: unchanged."""

    @abc.abstractmethod
    def permit(self, permit_id: str) -> Permit | None:
        """The permit ``permit_id``, or None."""

    @abc.abstractmethod
    def permits(self, *, enterprise: str | None = None) -> list[Permit]:
        """All permits (of one enterprise), by id."""

    @abc.abstractmethod
    def enterprises(self, *, region: str | None = None) -> list[Enterprise]:
        """Permit holders by id, optionally in a region (and the regions below it)."""

    @abc.abstractmethod
    def set_permit_limit(
        self, permit_id: str, outlet: str, limit: Limit, *, actor: str, reason: str | None = None
    ) -> Permit:
        """Set one limit of an outlet of a permit; audited. The new permit."""

    @abc.abstractmethod
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
        """Alarms, newest first (see :mod:`shanshui.rules` for the model)."""

    @abc.abstractmethod
    def alarm(self, alarm_id: int) -> Alarm | None:
        """The alarm ``alarm_id``, or None."""

    @abc.abstractmethod
    def save_alarms(self, alarms: Sequence[Alarm]) -> list[Alarm]:
        """Insert alarms without id, update those with one; the alarms as stored."""

    @abc.abstractmethod
    def acknowledge_alarm(self, alarm_id: int, *, actor: str, note: str | None = None) -> Alarm:
        """Acknowledge an open alarm; audited."""

    @abc.abstractmethod
    def close_alarm(
        self, alarm_id: int, *, actor: str, note: str | None = None, at: datetime | None = None
    ) -> Alarm:
        """Close an alarm by hand; audited."""

    @abc.abstractmethod
    def rule_flag_hours(
        self, sites: Sequence[str], start: datetime, end: datetime
    ) -> list[tuple[str, datetime, str, int]]:
        """(site, hour, flag, count) of the observations in ``[start, end)`` (flag rule)."""

    @abc.abstractmethod
    def rule_gaps(
        self, sites: Sequence[str], start: datetime, end: datetime, min_gap_s: float
    ) -> list[tuple[str, datetime, datetime]]:
        """(site, previous, next) data times further apart than ``min_gap_s`` (offline rule)."""

    @abc.abstractmethod
    def rule_cou_sums(
        self, sites: Sequence[str], parameters: Sequence[str], start: datetime, end: datetime
    ) -> dict[tuple[str, str], float]:
        """Sums of hourly ``cou`` values per (site, parameter) (annual-total rule)."""
