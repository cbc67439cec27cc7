"""Who may write through the HTTP ingest: a device of the registry, by HTTP Basic.

The user name is the device MN, the password the device's (the credentials an HJ 212 data
logger uses). Only ``active`` devices bound to a site may write. A wrong password is counted
on the device (:meth:`Store.count_refused_login`); an unknown MN is refused and, as the
gateway does, listed as a pending device (protocol ``http``) when it is an MN an operator
could approve (:data:`~shanshui.ingest.onboarding.MN_PATTERN`).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from datetime import UTC, datetime

from shanshui.errors import StoreError
from shanshui.ingest.http_errors import UNAUTHORIZED_HEADERS, RefusedError, error_response
from shanshui.ingest.onboarding import MN_PATTERN
from shanshui.store.api import Device, Store
from shanshui.store.passwords import verify_password

__all__ = ["authenticate", "basic_credentials"]

log = logging.getLogger("shanshui.ingest.http")


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


def authenticate(store: Store, mn: str, password: str, peer: str | None) -> Device:
    """The active, site-bound device ``mn`` whose password is ``password``, else
    :class:`RefusedError` (401 unknown device or wrong password, 403 not active or bound to
    no site). Blocks (the store, scrypt): run it in a worker thread."""
    device = store.device(mn)
    if device is None or device.password_hash is None:
        log.warning("http ingest: refused unknown MN %r from %s", mn, peer)
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
