"""API keys with roles: public (no key), operator, admin.

Design (the simplest sound one for now): a key is a random 256-bit token
(:func:`new_key`, ``secrets.token_urlsafe(32)``) shown once to its holder; the server keeps
only its SHA-256 digest (:func:`hash_key`) with the role, in an :class:`ApiKeys` mapping given
to :func:`shanshui.api.create_app`. A slow password hash (scrypt, as
:func:`shanshui.store.hash_password`) is for low-entropy secrets; a 256-bit random token cannot
be guessed, so one SHA-256 suffices and keeps every request's check cheap. Digests are
compared with :func:`hmac.compare_digest`. A store table for keys (and admin endpoints to
issue them) is left for a later step.

A request presents its key as ``X-API-Key: <token>`` or ``Authorization: Bearer <token>``.
No key on an endpoint that needs a role → 401 ``unauthorized``; an unknown key → 401
``invalid_key``; a known key with too low a role → 403 ``forbidden``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping

from fastapi import Request

from shanshui.api.errors import ApiError

__all__ = ["ROLES", "ApiKeys", "hash_key", "new_key", "require"]

#: Roles from least to most rights; each includes the ones before it.
ROLES = ("public", "operator", "admin")


def new_key() -> str:
    """A fresh random API key (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def hash_key(token: str) -> str:
    """The stored form of a key: hex SHA-256 of its UTF-8 text."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiKeys:
    """Key digests → role. Build with ``ApiKeys({hash_key(token): "operator", …})``."""

    def __init__(self, digests: Mapping[str, str] | None = None) -> None:
        self._digests: dict[str, str] = {}
        for digest, role in (digests or {}).items():
            if role not in ROLES[1:]:
                raise ValueError(f"unknown role {role!r}; use one of {ROLES[1:]}")
            self._digests[digest.lower()] = role

    def counts(self) -> dict[str, int]:
        """How many keys each role has (never the digests)."""
        return {role: sum(r == role for r in self._digests.values()) for role in ROLES[1:]}

    def role_of(self, token: str) -> str | None:
        """The role of a presented key, or None when it is unknown."""
        digest = hash_key(token)
        found = None
        for known, role in self._digests.items():  # compare all, in constant time each
            if hmac.compare_digest(known, digest):
                found = role
        return found


def _presented(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def require(role: str) -> Callable[[Request], str]:
    """A FastAPI dependency that admits requests whose key has at least ``role``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def check(request: Request) -> str:
        token = _presented(request)
        if token is None:
            if role == "public":
                return "public"
            raise ApiError(401, "unauthorized", f"this endpoint needs an API key ({role})")
        keys: ApiKeys = request.app.state.keys
        have = keys.role_of(token)
        if have is None:
            raise ApiError(401, "invalid_key", "the API key is not known")
        if ROLES.index(have) < ROLES.index(role):
            raise ApiError(403, "forbidden", f"this endpoint needs the role {role}")
        return have

    return check
