"""API keys with roles: public (no key), operator, admin.

A key is a random 256-bit token (:func:`new_key`, ``secrets.token_urlsafe(32)``) shown once
to its holder; the server keeps only its SHA-256 digest (:func:`hash_key`) with the role —
in the store's ``api_key`` table (``shanshui keys issue``, the admin endpoints), and
optionally in a fixed mapping handed to :func:`shanshui.api.create_app`. A slow password
hash (scrypt, as :func:`shanshui.store.hash_password`) is for low-entropy secrets; a 256-bit
random token cannot be guessed, so one SHA-256 suffices and keeps every request's check
cheap. Digests are looked up in a dict keyed by digest (a digest of a secret, so the lookup's
timing tells nothing useful about the token).

:class:`ApiKeys` caches the store's keys for ``ttl`` seconds (default 2), so a revocation
takes effect within seconds in every process. If the store cannot be read, only the fixed
keys are honoured (fail closed: a revoked key never slips through a store outage).

A request presents its key as ``X-API-Key: <token>`` or ``Authorization: Bearer <token>``.
No key on an endpoint that needs a role → 401 ``unauthorized``; an unknown or revoked key →
401 ``invalid_key``; a known key with too low a role → 403 ``forbidden``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from shanshui.api.errors import ApiError
from shanshui.store.api import ApiKey

__all__ = ["ROLES", "Admin", "ApiKeys", "Operator", "hash_key", "new_key", "require"]

log = logging.getLogger("shanshui.api")

#: Roles from least to most rights; each includes the ones before it.
ROLES = ("public", "operator", "admin")


def new_key() -> str:
    """A fresh random API key (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def hash_key(token: str) -> str:
    """The stored form of a key: hex SHA-256 of its UTF-8 text."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiKeys:
    """Key digests → role: fixed ones, plus the store's keys in force (cached ``ttl`` s).

    ``ApiKeys({hash_key(token): "operator"})`` for fixed keys;
    ``ApiKeys(load=lambda: store.api_keys(active=True))`` for the store's.
    """

    def __init__(
        self,
        digests: Mapping[str, str] | None = None,
        *,
        load: Callable[[], Iterable[ApiKey]] | None = None,
        ttl: float = 2.0,
    ) -> None:
        self._fixed: dict[str, str] = {}
        for digest, role in (digests or {}).items():
            if role not in ROLES[1:]:
                raise ValueError(f"unknown role {role!r}; use one of {ROLES[1:]}")
            self._fixed[digest.lower()] = role
        self._load = load
        self.ttl = ttl
        self._stored: dict[str, str] = {}
        self._ids: dict[str, str] = {}
        self._loaded = -float("inf")
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Forget the cached store keys (after this process issued or revoked one)."""
        self._loaded = -float("inf")

    def _current(self) -> dict[str, str]:
        if self._load is None:
            return self._fixed
        with self._lock:
            if time.monotonic() - self._loaded > self.ttl:
                try:
                    keys = [k for k in self._load() if k.revoked is None]
                    self._stored = {k.digest: k.role for k in keys}
                    self._ids = {k.digest: k.id for k in keys}
                except Exception:  # fail closed, log why
                    log.exception("API keys could not be read from the store")
                    self._stored = {}
                    self._loaded = -float("inf")
                else:
                    self._loaded = time.monotonic()
            return {**self._stored, **self._fixed}

    def counts(self) -> dict[str, int]:
        """How many keys in force each role has (never the digests)."""
        current = self._current()
        return {role: sum(r == role for r in current.values()) for role in ROLES[1:]}

    def actor(self, digest: str) -> str:
        """The audit-log name of a key's holder: ``apikey:<id>`` (``apikey:fixed`` for a
        fixed key)."""
        return f"apikey:{self._ids.get(digest, 'fixed')}"

    def role_of(self, token: str) -> str | None:
        """The role of a presented key, or None when it is unknown or revoked."""
        return self._current().get(hash_key(token))


def _presented(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


#: The two ways a key is presented, declared so that the OpenAPI document names them on
#: every operation that needs a key; neither refuses anything itself (``auto_error=False``):
#: :func:`require` reads the headers and answers in the one error shape.
_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", scheme_name="apiKey", auto_error=False,
    description="an API key (shanshui keys issue), with the operator or admin role",
)  # fmt: skip
_BEARER = HTTPBearer(
    scheme_name="bearerKey", auto_error=False,
    description="the same API key as Authorization: Bearer <key>",
)  # fmt: skip


def require(role: str) -> Callable[..., str]:
    """A FastAPI dependency that admits requests whose key has at least ``role``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def documented(
        request: Request,
        _header: Annotated[str | None, Security(_KEY_HEADER)] = None,
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
    ) -> str:
        return check(request)

    def check(request: Request) -> str:
        token = _presented(request)
        if token is None:
            if role == "public":
                return "public"
            raise ApiError(401, "unauthorized", f"this endpoint needs an API key ({role})")
        keys: ApiKeys = request.app.state.keys
        have = keys.role_of(token)
        if have is None:
            raise ApiError(401, "invalid_key", "the API key is not known or was revoked")
        if ROLES.index(have) < ROLES.index(role):
            raise ApiError(403, "forbidden", f"this endpoint needs the role {role}")
        request.state.actor = keys.actor(hash_key(token))
        return have

    return check if role == "public" else documented


#: Route parameters that admit operators (and admins) only.
Operator = Annotated[str, Depends(require("operator"))]
#: Route parameters that admit admins only.
Admin = Annotated[str, Depends(require("admin"))]
