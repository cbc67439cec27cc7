"""Registering sites and devices by hand: the operator's onboarding, over the store.

DESIGN §2: the monitoring centre operator "registers stations and devices". These are the
rules every face applies (``POST /api/v1/sites``, ``shanshui sites add``, ``shanshui devices
add|approve``), so that the API and the CLI stay thin over the store and refuse the same
things with the same words:

- :func:`add_site` registers a site that is not on the national list (a local station, a
  source outlet, a water section or well); audited (``action="create"``, entity ``site``).
- :func:`add_device` registers a new active device (HJ 212 data logger, or an HTTP ingest
  client) bound to a site, its password kept as a salted scrypt hash only; audited by
  :meth:`~shanshui.store.Store.upsert_devices`.
- :func:`approve_device` makes a known (pending) device active, as
  ``POST /api/v1/devices/{mn}/approve`` does.

Errors: :class:`OnboardingError` (bad input; nothing changed), :class:`NotRegisteredError`
(an unknown MN), :class:`AlreadyRegisteredError` (the code or MN is taken).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shanshui.errors import PeerError
from shanshui.ingest.recalls import on_approval
from shanshui.store.api import KINDS, ROLES, Device, Site, Store
from shanshui.store.passwords import hash_password

__all__ = [
    "MN_PATTERN",
    "PROTOCOLS",
    "SITE_CODE_PATTERN",
    "AlreadyRegisteredError",
    "NotRegisteredError",
    "OnboardingError",
    "add_device",
    "add_site",
    "approve_device",
    "site_problems",
]

#: Site codes: national ones look like ``1001A``. CHOICE: 1–64 characters of letters,
#: digits, ``.``, ``_`` and ``-``, starting with a letter or digit, because the code is a
#: path segment of the API (``/api/v1/sites/{code}``) and a cell of every CSV export.
SITE_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
#: MNs: HJ 212-2017 §6.3.2 Table 3 gives 24 characters (HJ/T 212-2005: 14); lower case,
#: ``_`` and ``-`` occur in the field (see ``hj212/segment.py``). CHOICE: 1–64 characters of
#: letters, digits, ``_`` and ``-``, the codec's bound, and never the HJ 212 separators
#: ``; , = &`` nor the ``:`` that ends the user name of HTTP Basic (RFC 7617 §2).
MN_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
#: A device's protocol: the HJ 212 edition it speaks, or ``http`` for the JSON ingest.
PROTOCOLS = ("2005", "2017", "2025", "http")
#: WGS-84 longitude and latitude ranges [degrees].
LON_RANGE, LAT_RANGE = (-180.0, 180.0), (-90.0, 90.0)


class OnboardingError(PeerError):
    """The operator asked for something the registry cannot keep; nothing was changed.

    ``problems``: ``(field, message)`` pairs, one per fault.
    """

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class NotRegisteredError(OnboardingError):
    """No device (or site) with that identifier."""


class AlreadyRegisteredError(OnboardingError):
    """The site code or MN is registered already (use a change, not a creation)."""


def site_problems(site: Site, regions: set[str]) -> list[tuple[str, str]]:
    """What is wrong with a new ``site`` (``(field, message)`` pairs; empty when it is fine).

    ``regions``: the GB/T 2260 codes the store knows; a site's region must be one of them
    (the portal, rankings and assessments group sites by region).
    """
    out: list[tuple[str, str]] = []
    if not re.match(SITE_CODE_PATTERN, site.code):
        out.append(("code", f"{site.code!r} is not a site code (letters, digits, . _ -)"))
    if not site.name.strip() or len(site.name) > 200:
        out.append(("name", "a name of 1 to 200 characters is needed"))
    if site.kind not in KINDS:
        out.append(("kind", f"{site.kind!r} is not a site kind ({', '.join(sorted(KINDS))})"))
    if site.role not in ROLES:
        out.append(("role", f"{site.role!r} is not a site role ({', '.join(sorted(ROLES))})"))
    if site.region not in regions:
        out.append(("region", f"{site.region!r} is not a region of the store (GB/T 2260 code)"))
    for name, value, (low, high) in (("lon", site.lon, LON_RANGE), ("lat", site.lat, LAT_RANGE)):
        if value is None:
            out.append((name, f"{name} is needed [degrees, WGS-84]"))
        elif not (math.isfinite(value) and low <= value <= high):
            out.append((name, f"{value!r} is outside {low:g}..{high:g} [degrees, WGS-84]"))
    try:
        ZoneInfo(site.tz)
    except (ZoneInfoNotFoundError, ValueError):
        out.append(("tz", f"{site.tz!r} is not an IANA time zone"))
    return out


def _site_json(site: Site) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(site).items() if k != "attributes"}


def add_site(store: Store, site: Site, *, actor: str, reason: str | None = None) -> Site:
    """Register a new ``site`` in ``store`` and audit it; the site as stored.

    Refuses (nothing changed) a site that :func:`site_problems` faults
    (:class:`OnboardingError`) and a code registered already (:class:`AlreadyRegisteredError`:
    a creation never replaces a site, whose history and assessments hang on its code).
    """
    problems = site_problems(site, {r.code for r in store.regions()})
    if problems:
        raise OnboardingError("; ".join(f"{f}: {m}" for f, m in problems), problems)
    if any(s.code == site.code for s in store.sites()):
        raise AlreadyRegisteredError(
            f"site {site.code!r} is registered already", [("code", "registered already")]
        )
    store.upsert_sites([site])
    # upsert_sites does not audit: the creation is recorded here, after it succeeded
    store.record_audit(
        actor=actor, action="create", entity="site", key=site.code, site=site.code,
        new=_site_json(site), reason=reason,
    )  # fmt: skip
    return next(s for s in store.sites() if s.code == site.code)


def _check_password(password: str) -> None:
    # HJ 212-2017 §6.3.2 Table 3: PW is 6 characters; longer ones occur (hj212/segment.py).
    # CHOICE: 1–64 printable characters, as POST /api/v1/devices/{mn}/approve takes.
    if not 1 <= len(password) <= 64 or not password.isprintable():
        raise OnboardingError(
            "a password of 1 to 64 printable characters is needed", [("password", "invalid")]
        )


def _check_site(store: Store, site: str) -> None:
    if not any(s.code == site for s in store.sites()):
        raise OnboardingError(
            f"no site {site!r}: register it first (shanshui sites add / POST /api/v1/sites)",
            [("site", "not registered")],
        )


def add_device(
    store: Store,
    mn: str,
    *,
    site: str,
    password: str,
    protocol: str = "2017",
    actor: str,
    reason: str | None = None,
    hasher: Callable[[str], str] = hash_password,
) -> Device:
    """Register a new active device ``mn`` bound to ``site`` with ``password`` (kept as its
    scrypt hash only); audited. The device as stored.

    An MN the store knows already (a pending one included) is refused with
    :class:`AlreadyRegisteredError`: a pending device is approved (:func:`approve_device`),
    not registered again.
    """
    if not re.match(MN_PATTERN, mn):
        raise OnboardingError(f"{mn!r} is not an MN (1-64 letters, digits, _ or -)", [("mn", "")])
    if protocol not in PROTOCOLS:
        raise OnboardingError(
            f"{protocol!r} is not a protocol ({', '.join(PROTOCOLS)})", [("protocol", "")]
        )
    _check_password(password)
    found = store.device(mn)
    if found is not None:
        hint = " (approve it instead)" if found.status == "pending" else ""
        raise AlreadyRegisteredError(
            f"device {mn} is registered already, {found.status}{hint}", [("mn", "registered")]
        )
    _check_site(store, site)
    device = Device(mn, "active", hasher(password), protocol, site)
    store.upsert_devices([device], actor=actor, reason=reason or "registered by an operator")
    done = store.device(mn)
    assert done is not None
    return done


def approve_device(
    store: Store,
    mn: str,
    *,
    site: str | None,
    password: str | None,
    actor: str,
    reason: str,
    now: datetime,
    hasher: Callable[[str], str] = hash_password,
) -> Device:
    """Make device ``mn`` active, bound to ``site`` with ``password`` (each defaults to what
    the store holds; one that is missing there must be given); audited. The device as stored.

    As ``POST /api/v1/devices/{mn}/approve``: a device approved from pending is asked for the
    hourly data it sent while unregistered (:func:`shanshui.ingest.recalls.on_approval`),
    except an ``http`` one (CHOICE: an HTTP ingest client has no HJ 212 connection on which
    a history request could reach it).
    """
    found = store.device(mn)
    if found is None:
        raise NotRegisteredError(f"no device {mn!r}", [("mn", "not registered")])
    chosen = site or found.site
    if chosen is None:
        raise OnboardingError("the device has no site: give one", [("site", "needed")])
    _check_site(store, chosen)
    if password is not None:
        _check_password(password)
    password_hash = hasher(password) if password is not None else found.password_hash
    if password_hash is None:
        raise OnboardingError("the device has no password: give one", [("password", "needed")])
    new = dataclasses.replace(found, status="active", site=chosen, password_hash=password_hash)
    store.upsert_devices([new], actor=actor, reason=reason)
    if found.protocol != "http":
        store.request_recalls(on_approval(found, actor=actor, now=now))
    done = store.device(mn)
    assert done is not None
    return done
