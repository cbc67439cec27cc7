"""API keys for admins: ``/admin/keys`` (list, issue, revoke); every change audited."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from shanshui.api.auth import Admin, ApiKeys, hash_key, new_key
from shanshui.api.common import Limit, Offset, page, store_of, writer_of
from shanshui.api.errors import ApiError
from shanshui.store.api import ApiKey

router = APIRouter(tags=["admin"])


def key_view(key: ApiKey) -> dict[str, Any]:
    """A key as listed: never its token, nor its digest."""
    return {
        "id": key.id,
        "role": key.role,
        "label": key.label,
        "created": key.created.isoformat(),
        "revoked": None if key.revoked is None else key.revoked.isoformat(),
    }


class NewKey(BaseModel):
    """A key to issue."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["operator", "admin"]
    label: str = Field(min_length=1, max_length=200, description="whose key it is")


@router.get("/admin/keys")
def keys(
    request: Request,
    role: Admin,
    limit: Limit = 100,
    offset: Offset = 0,
    active: Annotated[bool | None, Query(description="only keys in force (or revoked)")] = None,
) -> dict[str, Any]:
    """The store's API keys (admin role) and how many keys in force each role has; keys are
    stored as SHA-256 digests only."""
    registry: ApiKeys = request.app.state.keys
    with store_of(request) as store:
        listed = store.api_keys(active=active) if hasattr(store, "api_keys") else []
    out = page([key_view(k) for k in listed], limit, offset)
    out["roles"] = registry.counts()
    out["stored_as"] = "sha256 hex digest of the key"
    return out


@router.post("/admin/keys", status_code=201)
async def issue(request: Request, role: Admin, body: NewKey) -> dict[str, Any]:
    """Issue a key (admin role, audited). The token is in this answer only: keep it."""
    token = new_key()
    actor: str = getattr(request.state, "actor", "apikey:unknown")

    def add() -> ApiKey:
        with writer_of(request) as store:
            return store.add_api_key(hash_key(token), body.role, body.label, actor=actor)

    key = await run_in_threadpool(add)
    request.app.state.keys.invalidate()
    return {**key_view(key), "token": token}


@router.delete("/admin/keys/{key_id}")
async def revoke(
    request: Request,
    role: Admin,
    key_id: str,
    reason: Annotated[str | None, Query(max_length=500, description="why (audit log)")] = None,
) -> dict[str, Any]:
    """Revoke a key (admin role, audited); it stops working at once in this process and
    within seconds in others."""
    actor: str = getattr(request.state, "actor", "apikey:unknown")

    def drop() -> ApiKey:
        with writer_of(request) as store:
            if not any(k.id == key_id for k in store.api_keys()):
                raise ApiError(404, "not_found", f"no API key {key_id!r}")
            store.revoke_api_key(key_id, actor=actor, reason=reason)
            return next(k for k in store.api_keys() if k.id == key_id)

    key = await run_in_threadpool(drop)
    request.app.state.keys.invalidate()
    return key_view(key)
