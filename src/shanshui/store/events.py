"""Device events in the store: the ``device_event`` table (migration 0007) behind
:class:`EventStore`.

A device event is a message of a data logger that is not data (HJ 212-2017 Table C.1: 2021
running state, 2041 run time, 2081 restart, 3015/3019/3020 information, 1013 clock request;
HJ/T 212-2005: 2072 alarm event), kept with everything its CP said (:class:`DeviceEvent`).

Key (CHOICE): (site, MN, CN, time, digest), the digest being the SHA-256 of the event's
fields as canonical JSON (keys sorted). A resend of the same message, or a replay of the
gateway's journal, has the same key and stores nothing; the QN is not in the key, because
2005 loggers resend without one and some 2017 loggers resend under a new QN, while two
different messages of one device, CN and time (sub-packets, a 3020 per PolId) differ in
their fields. The site leads the key (DESIGN §6: distribution key = site); a device without
a site is stored under the site ``''`` and read back as None.
:class:`EventStore` is a mixin of :class:`~shanshui.store.sqlstore.SQLStore`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from shanshui.store.api import EVENT_KINDS, DeviceEvent, StoreInputError
from shanshui.store.mixin import SQLParts

__all__ = ["MAX_EVENTS", "EventStore", "event_digest"]

#: The most events one :meth:`EventStore.device_events` call returns.
MAX_EVENTS = 10_000


def _fields_json(fields: Any, *, canonical: bool) -> str:
    try:
        return json.dumps(
            dict(fields), ensure_ascii=False, sort_keys=canonical, allow_nan=False,
            separators=(",", ":"),
        )  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise StoreInputError(f"device event fields are not JSON: {exc}") from None


def event_digest(fields: Any) -> str:
    """The key part of an event's fields: SHA-256 (hex) of their canonical JSON."""
    return hashlib.sha256(_fields_json(fields, canonical=True).encode()).hexdigest()


def _aware(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise StoreInputError(f"device event {what} must be a timezone-aware datetime")
    return value.astimezone(UTC)


def _row(event: DeviceEvent) -> dict[str, Any]:
    """A ``stage_events`` row; bad input raises StoreInputError."""
    if not event.mn or not event.cn:
        raise StoreInputError("a device event needs an MN and a CN")
    if event.kind not in EVENT_KINDS:
        raise StoreInputError(
            f"unknown device event kind {event.kind!r}; allowed: {sorted(EVENT_KINDS)}"
        )
    return {
        "site": event.site or "",
        "mn": event.mn,
        "cn": event.cn,
        "kind": event.kind,
        "time": _aware(event.time, "time"),
        "digest": event_digest(event.fields),
        "received": _aware(event.received, "received"),
        "qn": event.qn,
        "fields": _fields_json(event.fields, canonical=False),
    }


class EventStore(SQLParts):
    """The device-event operations of :class:`~shanshui.store.Store` over SQL."""

    def _insert_events(self, events: Sequence[DeviceEvent]) -> int:
        """Stage and insert events inside the caller's session; the number stored now.

        Rows of one key in the batch are staged once (the first: the first QN received)."""
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        for event in events:
            row = _row(event)
            rows.setdefault((row["site"], row["mn"], row["cn"], row["time"], row["digest"]), row)
        if not rows:
            return 0
        self._load("stage_events", list(rows.values()))
        return self._exec("device_event_insert")

    def write_device_events(self, events: Sequence[DeviceEvent]) -> int:
        events = list(events)
        for event in events:  # refuse bad input before the transaction
            _row(event)
        if not events:
            return 0
        with self._session():
            return self._insert_events(events)

    def device_events(
        self,
        mn: str,
        *,
        since: datetime | None = None,
        kind: str | None = None,
        limit: int = 100,
    ) -> list[DeviceEvent]:
        if kind is not None and kind not in EVENT_KINDS:
            raise StoreInputError(f"unknown device event kind {kind!r}")
        if not 1 <= limit <= MAX_EVENTS:
            raise StoreInputError(f"limit must be 1 to {MAX_EVENTS}")
        params = {
            "mn": mn,
            "since": None if since is None else _aware(since, "since"),
            "kind": kind,
            "limit": int(limit),
        }
        with self._session(write=False):
            rows = self._fetch("device_events", params)
        return [
            DeviceEvent(
                mn=r[1], cn=r[2], kind=r[3], time=r[4].astimezone(UTC),
                received=r[5].astimezone(UTC), fields=json.loads(r[7]), qn=r[6],
                site=r[0] or None,
            )
            for r in rows
        ]  # fmt: skip
