"""Registering a site for operators: ``POST /sites`` (audited), over
:func:`shanshui.ingest.onboarding.add_site` as ``shanshui sites add`` is."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from shanshui.api.auth import Operator
from shanshui.api.common import writer_of
from shanshui.api.errors import ApiError
from shanshui.api.routes_sites import site_view
from shanshui.ingest.onboarding import (
    LAT_RANGE,
    LON_RANGE,
    SITE_CODE_PATTERN,
    AlreadyRegisteredError,
    OnboardingError,
    add_site,
)
from shanshui.store import Site

router = APIRouter(tags=["sites (operator)"])


class NewSite(BaseModel):
    """A site to register (a local station, an outlet, a water section or a well)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=SITE_CODE_PATTERN, description="site code, e.g. LOCAL01")
    name: str = Field(min_length=1, max_length=200, description="site name")
    kind: Literal["air", "outlet", "water", "groundwater"] = Field(description="site kind")
    region: str = Field(min_length=1, max_length=12, description="GB/T 2260 region code")
    lon: float = Field(
        ge=LON_RANGE[0], le=LON_RANGE[1], allow_inf_nan=False, description="[degrees, WGS-84]"
    )
    lat: float = Field(
        ge=LAT_RANGE[0], le=LAT_RANGE[1], allow_inf_nan=False, description="[degrees, WGS-84]"
    )
    role: Literal["assessment", "reference"] = Field(
        "assessment", description="reference (对照点) sites do not enter the city value"
    )
    tz: str = Field("Asia/Shanghai", max_length=64, description="IANA zone of its natural day")
    reason: str | None = Field(None, max_length=500, description="why (audit log)")


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key"},
    403: {"description": "The key's role is below operator"},
    409: {"description": "The code is registered already"},
    422: {"description": "Unknown region, bad kind, coordinates out of range …"},
}


@router.post("/sites", status_code=201, responses=_ERRORS)
async def create_site(request: Request, role: Operator, body: NewSite) -> dict[str, Any]:
    """Register a site (operator role, audited): a local station, a source outlet, a water
    section or a groundwater well that the national station list does not hold. The region
    must be one the store knows (``GET /api/v1/regions``); a code registered already is
    refused with 409 (a creation never replaces a site). The site is listed at once."""
    actor: str = getattr(request.state, "actor", "apikey:unknown")
    site = Site(
        body.code, body.name, body.kind, body.region, body.lon, body.lat, role=body.role,
        tz=body.tz,
    )  # fmt: skip

    def create() -> Site:
        with writer_of(request) as store:
            return add_site(store, site, actor=actor, reason=body.reason)

    try:
        made = await run_in_threadpool(create)
    except AlreadyRegisteredError as exc:
        raise ApiError(409, "conflict", str(exc), _details(exc)) from None
    except OnboardingError as exc:
        raise ApiError(422, "validation_failed", str(exc), _details(exc)) from None
    request.app.state.sites.clear()  # listed now, not after the site list's 10 s
    return site_view(made)


def _details(exc: OnboardingError) -> list[dict[str, Any]]:
    return [{"loc": [field], "message": message} for field, message in exc.problems]
