"""Enterprises and their permits (issue 6, items 1 and 5): public reading (enterprises
disclose, 企业信息公开), operator writing, every change audited.

- ``GET /enterprises`` (``region``: GB/T 2260 code, regions below included), ``GET
  /enterprises/{id}`` (with its permits, outlets and open alarms);
- ``GET /permits/{id}`` — the permit in the JSON layout of ``docs/permits.md``;
- ``PUT /permits/{id}`` — import or replace a whole permit (operator; audited);
- ``PUT /permits/{id}/outlets/{outlet}/limits/{parameter}`` — set one limit (operator;
  audited with the old and the new limit); ``PATCH`` the same path changes only the fields
  given.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from shanshui.api.auth import require
from shanshui.api.common import Limit as PageLimit
from shanshui.api.common import Offset, page, store_of, writer_of
from shanshui.api.errors import ApiError
from shanshui.permits.model import (
    Enterprise,
    Permit,
    PermitError,
    limit_from_dict,
    permit_from_dict,
)

router = APIRouter(tags=["permits (public read, operator write)"])

Operator = Annotated[str, Depends(require("operator"))]


def enterprise_view(e: Enterprise) -> dict[str, Any]:
    return dataclasses.asdict(e)


def permit_summary(p: Permit) -> dict[str, Any]:
    return {
        "id": p.id,
        "valid_from": p.valid_from.isoformat(),
        "valid_to": p.valid_to.isoformat(),
        "synthetic": p.synthetic,
        "outlets": [
            {"code": o.code, "name": o.name, "type": o.type, "kind": o.kind, "site": o.site}
            for o in p.outlets
        ],
    }


def _actor(request: Request) -> str:
    actor: str = getattr(request.state, "actor", "apikey:unknown")
    return actor


def _invalid(exc: PermitError) -> ApiError:
    return ApiError(
        422, "validation_failed", exc.reason, [{"field": exc.field or "", "message": exc.reason}]
    )


@router.get("/enterprises")
def enterprises(
    request: Request,
    limit: PageLimit = 100,
    offset: Offset = 0,
    region: Annotated[
        str | None, Query(pattern=r"^\d{6}$", description="GB/T 2260 code; regions below too")
    ] = None,
) -> dict[str, Any]:
    """Enterprises under permit (排污单位), by id."""
    with store_of(request) as store:
        found = store.enterprises(region=region)
        permits: dict[str, list[str]] = {}
        for p in store.permits():
            permits.setdefault(p.enterprise.id, []).append(p.id)
    items = [{**enterprise_view(e), "permits": permits.get(e.id, [])} for e in found]
    return page(items, limit, offset)


@router.get("/enterprises/{enterprise_id}")
def enterprise(request: Request, enterprise_id: str) -> dict[str, Any]:
    """One enterprise: its permits with their outlets, and its alarms not closed."""
    with store_of(request) as store:
        found = [e for e in store.enterprises() if e.id == enterprise_id]
        if not found:
            raise ApiError(404, "not_found", f"no enterprise {enterprise_id!r}")
        permits = store.permits(enterprise=enterprise_id)
        lasting = store.alarms(state=["open", "acknowledged"], enterprise=enterprise_id)
    return {
        **enterprise_view(found[0]),
        "permits": [permit_summary(p) for p in permits],
        "open_alarms": [a.to_dict() for a in lasting],
    }


@router.get("/permits/{permit_id}")
def permit(request: Request, permit_id: str) -> dict[str, Any]:
    """A permit in the JSON layout of ``docs/permits.md`` (limits, totals, monitoring)."""
    with store_of(request) as store:
        found = store.permit(permit_id)
    if found is None:
        raise ApiError(404, "not_found", f"no permit {permit_id!r}")
    return found.to_dict()


@router.put("/permits/{permit_id}")
async def put_permit(
    request: Request,
    role: Operator,
    permit_id: str,
    document: Annotated[dict[str, Any], Body(description="the permit, docs/permits.md layout")],
    reason: Annotated[str | None, Query(max_length=500, description="why (audit log)")] = None,
) -> dict[str, Any]:
    """Import or replace a whole permit (operator role; audited with old and new)."""
    try:
        new = permit_from_dict(document, source="request body")
    except PermitError as exc:
        raise _invalid(exc) from None
    if new.id != permit_id:
        raise ApiError(422, "validation_failed", "the body's id differs from the path's")

    def change() -> dict[str, Any]:
        with writer_of(request) as store:
            changed = store.put_permit(new, actor=_actor(request), reason=reason)
        return {"changed": changed, "permit": new.to_dict()}

    return await run_in_threadpool(change)


class LimitBody(BaseModel):
    """One permitted limit (``docs/permits.md``); ``reason`` goes to the audit log."""

    model_config = ConfigDict(extra="forbid")

    unit: str | None = Field(None, max_length=20, description="mg/m³ or mg/L")
    hourly: float | None = Field(None, gt=0, description="permitted hourly concentration")
    daily: float | None = Field(None, gt=0, description="permitted daily-mean concentration")
    converted: bool | None = Field(None, description="applies to the converted (折算) value")
    reference_o2: float | None = Field(None, ge=0, lt=21, description="reference O2 [%]")
    rate_kg_h: float | None = Field(None, gt=0, description="permitted emission rate [kg/h]")
    standard: str | None = Field(None, max_length=200, description="where the value comes from")
    reason: str | None = Field(None, max_length=500, description="why (audit log)")


def _set_limit(
    request: Request, *, permit_id: str, outlet: str, parameter: str, body: LimitBody, merge: bool
) -> dict[str, Any]:
    given = body.model_dump(exclude_unset=True)
    reason = given.pop("reason", None)
    with writer_of(request) as store:
        found = store.permit(permit_id)
        if found is None:
            raise ApiError(404, "not_found", f"no permit {permit_id!r}")
        where = found.outlet(outlet)
        if where is None:
            raise ApiError(404, "not_found", f"permit {permit_id} has no outlet {outlet!r}")
        data: dict[str, Any] = {}
        old = where.limit(parameter)
        if merge:
            if old is None:
                raise ApiError(404, "not_found", f"outlet {outlet} has no limit of {parameter}")
            data = dataclasses.asdict(old)
        data.update({k: v for k, v in given.items()})
        data["parameter"] = parameter
        try:
            lim = limit_from_dict(data, source="request body")
        except PermitError as exc:
            raise _invalid(exc) from None
        new = store.set_permit_limit(permit_id, outlet, lim, actor=_actor(request), reason=reason)
    out = new.outlet(outlet)
    assert out is not None
    result = out.limit(parameter)
    return {"permit": permit_id, "outlet": out.code, "site": out.site,
            "limit": dataclasses.asdict(result) if result else None}  # fmt: skip


@router.put("/permits/{permit_id}/outlets/{outlet}/limits/{parameter}")
async def put_limit(
    request: Request,
    role: Operator,
    *,
    permit_id: str,
    outlet: str,
    parameter: str,
    body: LimitBody,
) -> dict[str, Any]:
    """Set (replace or add) one limit of an outlet (operator role; audited)."""
    return await run_in_threadpool(
        _set_limit, request, permit_id=permit_id, outlet=outlet, parameter=parameter, body=body,
        merge=False,
    )  # fmt: skip


@router.patch("/permits/{permit_id}/outlets/{outlet}/limits/{parameter}")
async def patch_limit(
    request: Request,
    role: Operator,
    *,
    permit_id: str,
    outlet: str,
    parameter: str,
    body: LimitBody,
) -> dict[str, Any]:
    """Change the given fields of one existing limit (operator role; audited)."""
    return await run_in_threadpool(
        _set_limit, request, permit_id=permit_id, outlet=outlet, parameter=parameter, body=body,
        merge=True,
    )  # fmt: skip
