"""Who may write through the HTTP ingest: a device of the registry, by HTTP Basic.

The user name is the device MN, the password the device's (the credentials an HJ 212 data
logger uses). Only ``active`` devices bound to a site may write. A wrong password is counted
on the device (:meth:`Store.count_refused_login`); an unknown MN is refused and, as the
gateway does, listed as a pending device (protocol ``http``) when it is an MN an operator
could approve (:data:`~shanshui.ingest.onboarding.MN_PATTERN`), within bounds
(:class:`UnknownNotes`): a client without credentials must not make a store write per
request. An unknown MN costs the same password check as a registered one (a dummy hash), so
that the time of the 401 does not tell which MNs are registered.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache

from shanshui.errors import StoreError
from shanshui.ingest.http_errors import UNAUTHORIZED_HEADERS, RefusedError, error_response
from shanshui.ingest.onboarding import MN_PATTERN
from shanshui.store.api import Device, Store
from shanshui.store.passwords import hash_password, verify_password

__all__ = [
    "MAX_UNKNOWN_NOTES",
    "NOTE_INTERVAL_S",
    "UnknownNotes",
    "authenticate",
    "basic_credentials",
]

log = logging.getLogger("shanshui.ingest.http")

#: How often one unknown MN is listed (its pending entry written) at most [s]. CHOICE: an
#: hour: an operator sees a new device within the hour, a client retrying every second
#: writes once an hour.
NOTE_INTERVAL_S = 3600.0
#: Most distinct unknown MNs listed per :data:`NOTE_INTERVAL_S`. CHOICE: 100, far more new
#: devices than an operator installs in an hour, and a bound on the store writes of clients
#: that try made-up MNs (300 random MNs were 300 writes); past it an MN is refused unlisted.
MAX_UNKNOWN_NOTES = 100


class UnknownNotes:
    """Which unknown MNs were listed lately: an MN is due at most once per ``interval``,
    and at most ``limit`` MNs per ``interval`` (as the gateway's ``_noted_unknown`` and
    ``MAX_NOTES``). Thread-safe (:func:`authenticate` runs in worker threads)."""

    def __init__(
        self,
        interval: float = NOTE_INTERVAL_S,
        limit: int = MAX_UNKNOWN_NOTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval, self.limit, self.clock = interval, limit, clock
        self._lock = threading.Lock()
        self._noted: dict[str, float] = {}  # MN: when listed, oldest first

    def due(self, mn: str) -> bool:
        """Whether to list ``mn`` now (if so, it counts as listed)."""
        now = self.clock()
        with self._lock:
            while self._noted:  # forget the notes of past intervals
                first = next(iter(self._noted))
                if self._noted[first] > now - self.interval:
                    break
                del self._noted[first]
            if mn in self._noted or len(self._noted) >= self.limit:
                return False
            self._noted[mn] = now
            return True


@cache
def _dummy_hash() -> str:
    """A hash at the default cost, for the password check of an unknown MN."""
    return hash_password("")


def _unauthorized(message: str) -> RefusedError:
    return RefusedError(error_response(401, "unauthorized", message, headers=UNAUTHORIZED_HEADERS))


def basic_credentials(header: str | None) -> tuple[str, str]:
    """(MN, password) from an ``Authorization: Basic …`` header (RFC 7617)."""
    if not header or not header[:6].lower() == "basic ":
        raise _unauthorized("HTTP Basic credentials (device MN, password) required")
    try:
        text = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    mn, sep, password = text.partition(":")
    if not sep or not mn:
        raise _unauthorized("malformed Basic credentials")
    return mn, password


def authenticate(
    store: Store, mn: str, password: str, peer: str | None, notes: UnknownNotes
) -> Device:
    """The active, site-bound device ``mn`` whose password is ``password``, else
    :class:`RefusedError` (401 unknown device or wrong password, 403 not active or bound to
    no site); an unknown MN is listed as pending when ``notes`` says it is due. Blocks (the
    store, scrypt): run it in a worker thread."""
    device = store.device(mn)
    if device is None or device.password_hash is None:
        verify_password(password, _dummy_hash())  # as long as a registered MN's check
        log.warning("http ingest: refused unknown MN %r from %s", mn, peer)
        if notes.due(mn):
            _note_unknown(store, mn, peer)
        raise _unauthorized("unknown device or wrong password")
    if not verify_password(password, device.password_hash):
        log.warning("http ingest: wrong password for MN %r from %s", mn, peer)
        store.count_refused_login(mn, peer=peer)
        raise _unauthorized("unknown device or wrong password")
    if device.status != "active":
        raise RefusedError(
            error_response(
                403,
                "device_not_active",
                f"device {mn} is {device.status}; an operator must approve it",
            )
        )
    if device.site is None:
        raise RefusedError(
            error_response(
                403, "device_without_site", f"device {mn} is bound to no site in the registry"
            )
        )
    return device


def _note_unknown(store: Store, mn: str, peer: str | None) -> None:
    """List ``mn`` as a pending device, as the gateway does for an unknown HJ 212 MN."""
    if not re.match(MN_PATTERN, mn):
        return  # not an MN an operator could approve: refused, not listed
    try:
        store.note_unknown_device(mn, peer=peer, seen=datetime.now(UTC), protocol="http")
    except StoreError:  # the refusal stands; the note is not worth a 503
        log.warning("http ingest: could not list %r as pending", mn)
