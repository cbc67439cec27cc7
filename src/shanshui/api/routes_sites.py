"""Regions and sites: ``/regions``, ``/sites`` (filters, bounding box, pages), ``/sites/{code}``."""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder

from shanshui.api.common import Limit, Offset, page, sites_of, store_of
from shanshui.api.errors import ApiError
from shanshui.store import Site

router = APIRouter(tags=["sites"])


def site_view(site: Site) -> dict[str, Any]:
    """A site as JSON (attributes as stored)."""
    out: dict[str, Any] = jsonable_encoder(dataclasses.asdict(site))
    return out


def _bbox(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) != 4 or not all(math.isfinite(x) for x in numbers):
        raise ApiError(
            422, "validation_failed", "bbox must be minlon,minlat,maxlon,maxlat (4 numbers)"
        )
    lon0, lat0, lon1, lat1 = numbers
    if lon0 > lon1 or lat0 > lat1:
        raise ApiError(422, "validation_failed", "bbox minimum above its maximum")
    return lon0, lat0, lon1, lat1


def _with_descendants(code: str, parents: dict[str, str | None]) -> set[str]:
    """``code`` and every region below it (a province holds its prefectures' sites)."""
    out = {code}
    changed = True
    while changed:
        below = {c for c, p in parents.items() if p in out}
        changed = not below <= out
        out |= below
    return out


@router.get("/regions")
def regions(
    request: Request,
    limit: Limit = 1000,
    offset: Offset = 0,
    parent: Annotated[str | None, Query(description="only the regions right below")] = None,
) -> dict[str, Any]:
    """Administrative regions (GB/T 2260 codes) the store knows, by code."""
    with store_of(request) as store:
        items = [dataclasses.asdict(r) for r in store.regions()]
    if parent is not None:
        items = [r for r in items if r["parent"] == parent]
    return page(items, limit, offset)


@router.get("/parameters")
def parameters(request: Request, limit: Limit = 1000, offset: Offset = 0) -> dict[str, Any]:
    """Measured quantities with their units (the unit every value of the API is in)."""
    with store_of(request) as store:
        items = [dataclasses.asdict(p) for p in store.parameters()]
    return page(items, limit, offset)


@router.get("/sites")
def sites(
    request: Request,
    *,
    limit: Limit = 100,
    offset: Offset = 0,
    region: Annotated[
        str | None, Query(description="GB/T 2260 region code; includes the regions below it")
    ] = None,
    kind: Annotated[str | None, Query(description="site kind, e.g. air")] = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat [degrees]")] = None,
) -> dict[str, Any]:
    """Sites, filtered by region, kind and bounding box; ordered by code."""
    box = _bbox(bbox) if bbox is not None else None
    found = [s for s in sites_of(request) if kind is None or s.kind == kind]
    with store_of(request) as store:
        if region is not None:
            parents = {r.code: r.parent for r in store.regions()}
            if region not in parents:
                raise ApiError(404, "not_found", f"no region {region!r}")
            codes = _with_descendants(region, parents)
            found = [s for s in found if s.region in codes]
    if box is not None:
        lon0, lat0, lon1, lat1 = box
        found = [
            s
            for s in found
            if s.lon is not None
            and s.lat is not None
            and lon0 <= s.lon <= lon1
            and lat0 <= s.lat <= lat1
        ]
    found.sort(key=lambda s: s.code)
    return page([site_view(s) for s in found], limit, offset)


@router.get("/sites/{code}")
def site(request: Request, code: str) -> dict[str, Any]:
    """One site by its code."""
    found = [s for s in sites_of(request) if s.code == code]
    if not found:
        raise ApiError(404, "not_found", f"no site {code!r}")
    return site_view(found[0])
