"""API keys in the store: the ``api_key`` table (migration 0002) behind :class:`KeyStore`.

The store keeps only a key's SHA-256 digest (:func:`shanshui.api.auth.hash_key`) with its
role, a label saying whose it is, when it was created and when revoked. Issuing and revoking
are audited (entity ``api_key``, key = the key's id; the digest is not logged).
:class:`KeyStore` is a mixin of :class:`~shanshui.store.sqlstore.SQLStore`.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from shanshui.store.api import KEY_ROLES, ApiKey, StoreInputError
from shanshui.store.mixin import SQLParts

__all__ = ["KeyStore"]

_DIGEST = re.compile(r"[0-9a-f]{64}")


def _key(row: tuple[object, ...]) -> ApiKey:
    i, digest, role, label, created, revoked = row
    assert isinstance(created, datetime)
    assert revoked is None or isinstance(revoked, datetime)
    return ApiKey(str(i), str(digest), str(role), str(label), created, revoked)


class KeyStore(SQLParts):
    """The API-key operations of :class:`~shanshui.store.Store` over SQL."""

    def add_api_key(self, digest: str, role: str, label: str, *, actor: str) -> ApiKey:
        digest = digest.lower()
        if not _DIGEST.fullmatch(digest):
            raise StoreInputError("an API key digest is 64 hex digits (SHA-256)")
        if role not in KEY_ROLES:
            raise StoreInputError(f"unknown key role {role!r}; allowed: {sorted(KEY_ROLES)}")
        if not label.strip():
            raise StoreInputError("an API key needs a label (whose key it is)")
        key = ApiKey(f"k{secrets.token_hex(6)}", digest, role, label.strip(), datetime.now(UTC))
        with self._session():
            if any(r[1] == digest for r in self._fetch("api_keys", {"id": None, "active": None})):
                raise StoreInputError("this key is stored already")
            self._exec(
                "api_key_insert",
                {"id": key.id, "digest": digest, "role": role, "label": key.label,
                 "created": key.created},
            )  # fmt: skip
            self._insert_audit(
                changed=key.created, actor=actor, action="issue", entity="api_key",
                site=None, key=key.id, old=None, new={"role": role, "label": key.label},
                reason=None,
            )  # fmt: skip
        return key

    def api_keys(self, *, active: bool | None = None) -> list[ApiKey]:
        with self._session(write=False):
            rows = self._fetch("api_keys", {"id": None, "active": active})
        return [_key(r) for r in rows]

    def revoke_api_key(self, key_id: str, *, actor: str, reason: str | None = None) -> bool:
        now = datetime.now(UTC)
        with self._session():
            found = self._fetch("api_keys", {"id": key_id, "active": None})
            if not found:
                raise StoreInputError(f"no API key {key_id!r}")
            if found[0][5] is not None:
                return False
            self._exec("api_key_revoke", {"id": key_id, "revoked": now})
            self._insert_audit(
                changed=now, actor=actor, action="revoke", entity="api_key", site=None,
                key=key_id, old={"revoked": None}, new={"revoked": now.isoformat()},
                reason=reason,
            )  # fmt: skip
        return True
