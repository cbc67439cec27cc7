"""Devices (HJ 212 data loggers) for operators: ``/devices``, ``/devices/pending``."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder

from shanshui.api.auth import require
from shanshui.api.common import Limit, Offset, page, store_of
from shanshui.store import Device

router = APIRouter(tags=["devices (operator)"])

Operator = Annotated[str, Depends(require("operator"))]
Admin = Annotated[str, Depends(require("admin"))]


def device_view(device: Device) -> dict[str, Any]:
    """A device as JSON, without its password hash (never shown outside the store)."""
    row = dataclasses.asdict(device)
    row.pop("password_hash", None)
    out: dict[str, Any] = jsonable_encoder(row)
    return out


@router.get("/devices")
def devices(
    request: Request,
    role: Operator,
    limit: Limit = 100,
    offset: Offset = 0,
    status: Annotated[str | None, Query(description="e.g. active, pending, blocked")] = None,
) -> dict[str, Any]:
    """Known devices (operator role)."""
    with store_of(request) as store:
        found = store.devices(status=status)
    return page([device_view(d) for d in found], limit, offset)


@router.get("/devices/pending")
def pending(
    request: Request, role: Operator, limit: Limit = 100, offset: Offset = 0
) -> dict[str, Any]:
    """Devices that logged in unknown and wait for an operator's decision (operator role)."""
    with store_of(request) as store:
        found = store.pending_devices()
    return page([device_view(d) for d in found], limit, offset)


@router.get("/admin/keys", tags=["admin"])
def key_counts(request: Request, role: Admin) -> dict[str, Any]:
    """How many API keys each role has (admin role); keys are stored as SHA-256 digests only."""
    counts: dict[str, int] = request.app.state.keys.counts()
    return {"roles": counts, "stored_as": "sha256 hex digest of the key"}
