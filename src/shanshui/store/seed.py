"""Seeding a store: regions (GB/T 2260), the national air-station list, air parameters.

``seed(store)`` takes the tables from :mod:`shanshui.formats` — ``regions()`` (code,
name_zh, name_en, level, parent) and ``stations()`` (code, name, city, lon, lat, reference,
note, closed, opened, active, region) — and is idempotent: run it again and nothing changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from shanshui import formats
from shanshui.store.api import Parameter, Region, Site, Store, StoreInputError

#: The air pollutants of GB 3095-2012 Table 1 with their units there (CO in mg/m³, the rest
#: in µg/m³) and their HJ 212-2017 codes (Appendix B; ambient air, ST=22).
AIR_PARAMETERS = (
    Parameter("PM2.5", "PM2.5", "µg/m³", "a34004"),
    Parameter("PM10", "PM10", "µg/m³", "a34002"),
    Parameter("SO2", "SO2", "µg/m³", "a21026"),
    Parameter("NO2", "NO2", "µg/m³", "a21004"),
    Parameter("O3", "O3", "µg/m³", "a05024"),
    Parameter("CO", "CO", "mg/m³", "a21005"),
)

_SUFFIXES = ("特别行政区", "自治州", "地区", "市", "省", "盟")


@dataclass(frozen=True)
class SeedResult:
    """How many regions, sites and parameters :func:`seed` wrote."""

    regions: int
    sites: int
    parameters: int


def _text(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value).strip() or None


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f  # NaN: no coordinate published


def _level(code: str) -> str:
    """GB/T 2260: ``XX0000`` province-level, ``XXXX00`` prefecture-level, else county-level."""
    if code.endswith("0000"):
        return "province"
    return "prefecture" if code.endswith("00") else "county"


def region_records(table: pd.DataFrame) -> list[Region]:
    """Regions from a GB/T 2260 table: ``code`` and ``name_zh`` (or ``name``); ``name_en``,
    ``level`` and ``parent`` where given (else the level follows from the code)."""
    out = []
    for row in table.to_dict("records"):
        code = _text(row.get("code"))
        name = _text(row.get("name_zh", row.get("name")))
        if code is None or name is None or len(code) != 6 or not code.isdigit():
            raise StoreInputError(f"not a GB/T 2260 region: {row}")
        level = _text(row.get("level")) or _level(code)
        out.append(Region(code, name, level, _text(row.get("parent")), _text(row.get("name_en"))))
    return out


def _short(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def city_index(regions: Iterable[Region]) -> dict[str, str]:
    """Region code by city name as station lists write it (``北京``, ``石家庄``, ``德州``):
    full and short names; a prefecture wins over a province of the same short name."""
    index: dict[str, str] = {}
    ordered = sorted(regions, key=lambda r: r.level == "prefecture")
    for r in ordered:
        index[r.name] = r.code
        index[_short(r.name)] = r.code
    return index


def station_records(table: pd.DataFrame, cities: dict[str, str]) -> list[Site]:
    """Air-station sites from a station list (code, name, city, lon, lat, reference, …).

    ``reference`` true (the list's 对照点 = Y) gives role ``reference``. The region is the
    list's ``region`` column where present, else the city's region in ``cities``. City,
    status note and dates travel in the attributes.
    """
    out = []
    for row in table.to_dict("records"):
        code = _text(row.get("code"))
        name = _text(row.get("name"))
        if code is None or name is None:
            raise StoreInputError(f"a station needs a code and a name: {row}")
        city = _text(row.get("city"))
        ref = row.get("reference")
        reference = bool(ref) if isinstance(ref, bool) else _text(ref) in {"Y", "y", "True"}
        region = _text(row.get("region")) or (cities.get(city) if city else None)
        attributes: dict[str, Any] = {}
        if city:
            attributes["city"] = city
        if _text(row.get("note")):
            attributes["note"] = _text(row.get("note"))
        for key in ("closed", "opened"):
            when = row.get(key)
            if when is not None and not pd.isna(when):
                attributes[key] = pd.Timestamp(when).date().isoformat()
        if "active" in row and row["active"] is not None and not pd.isna(row["active"]):
            attributes["active"] = bool(row["active"])
        out.append(
            Site(
                code=code,
                name=name,
                kind="air",
                region=region,
                lon=_float(row.get("lon")),
                lat=_float(row.get("lat")),
                role="reference" if reference else "assessment",
                attributes=attributes,
            )
        )
    return out


def seed(
    store: Store,
    *,
    stations: pd.DataFrame | None = None,
    regions: pd.DataFrame | None = None,
) -> SeedResult:
    """Write the regions, the national air stations and the air parameters into ``store``.

    By default the tables come from :func:`shanshui.formats.regions` and
    :func:`shanshui.formats.stations` (shipped with the product); pass DataFrames to seed
    others.
    """
    if regions is None or stations is None:
        regions = formats.regions() if regions is None else regions
        stations = formats.stations() if stations is None else stations
    region_list = region_records(regions)
    sites = station_records(stations, city_index(region_list))
    n_regions = store.upsert_regions(region_list)
    n_params = store.upsert_parameters(AIR_PARAMETERS)
    n_sites = store.upsert_sites(sites)
    return SeedResult(n_regions, n_sites, n_params)
