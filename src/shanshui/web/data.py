"""What the portal's pages show, read through the same functions as the open API.

The pages call the API's route functions in-process (one core, one set of numbers): the
map's snapshot is ``GET /api/v1/latest``, the ranking ``GET /api/v1/ranking``, a
station's statistics ``GET /api/v1/assessment``; their browser scripts then poll or fetch
the same endpoints. An :class:`~shanshui.api.errors.ApiError` (e.g. nothing stored yet)
becomes ``None`` and the page says "no data yet".
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import anyio.from_thread
import pandas as pd
from fastapi import Request

from shanshui import formats
from shanshui.api import routes_air
from shanshui.api.common import sites_of, store_of
from shanshui.api.errors import ApiError
from shanshui.standards.aqi_tables import CATEGORIES
from shanshui.store import Site

#: Days of the station page's daily chart and statistics (the latest day included).
STATION_DAYS = 30


def categories(lang: str) -> list[dict[str, Any]]:
    """HJ 633-2012 Table 2 categories with their Appendix A colours, for legends."""
    out = []
    for c in CATEGORIES:
        span = f"{c.aqi_min}–{c.aqi_max}" if c.aqi_max is not None else f">{c.aqi_min - 1}"
        out.append(
            {
                "level": c.level,
                "name": c.category_zh if lang == "zh" else c.category_en,
                "range": span,
                "colour": c.colour,
                "min": c.aqi_min,
                "max": c.aqi_max if c.aqi_max is not None else 500,
            }
        )
    return out


@lru_cache(maxsize=1)
def city_names_en() -> dict[str, str]:
    """Station-list city name (``北京``, ``雄安新区``) → English region name (``Beijing``)."""
    cities = formats.city_regions()
    names = formats.regions().set_index("code")["name_en"]
    return {
        str(city): str(names.get(code, city))
        for city, code in zip(cities["city"], cities["region"], strict=True)
    }


@lru_cache(maxsize=1)
def region_geojson() -> dict[str, Any]:
    """The region boundaries drawn on the map (shipped; see ``data/demo/README.md``)."""
    return formats.boundaries("regions")


def call(route: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call an API route function from a page handler (which runs in a worker thread),
    whether the route is a plain or an ``async`` function."""
    if inspect.iscoroutinefunction(route):
        return anyio.from_thread.run(functools.partial(route, *args, **kwargs))
    return route(*args, **kwargs)


def latest(request: Request) -> dict[str, Any]:
    """The snapshot of ``GET /api/v1/latest`` (every station's newest hour and AQI)."""
    answer = call(routes_air.latest, request)  # cached JSON bytes, as the API's clients get
    body: dict[str, Any] = json.loads(bytes(answer.body))
    return body


def latest_day(snapshot: dict[str, Any]) -> dt.date | None:
    """The natural day (Beijing time) of the newest hour in ``snapshot``; None when empty."""
    times = [item["time"] for item in snapshot["items"]]
    if not times:
        return None
    return max(pd.Timestamp(t) for t in times).date()


def ranking(request: Request, first: dt.date, last: dt.date) -> dict[str, Any] | None:
    """``GET /api/v1/ranking`` of the period; None when the store has nothing in it."""
    try:
        return dict(call(routes_air.ranking, request, start=first, end=last))
    except ApiError:
        return None


def site(request: Request, code: str) -> Site | None:
    """The stored site ``code`` (any kind), or None; from the API's cached site list."""
    return next((s for s in sites_of(request) if s.code == code), None)


def region_name(request: Request, code: str | None, lang: str) -> str | None:
    """The name of region ``code`` in ``lang`` (Chinese when no English name is stored)."""
    if code is None:
        return None
    with store_of(request) as store:
        found = [r for r in store.regions() if r.code == code]
    if not found:
        return code
    return (found[0].name_en if lang == "en" else None) or found[0].name


def assessment(request: Request, code: str, last: dt.date) -> dict[str, Any] | None:
    """``GET /api/v1/assessment`` of station ``code`` over the :data:`STATION_DAYS` days
    ending ``last``; None when there is nothing to assess."""
    first = last - dt.timedelta(days=STATION_DAYS - 1)
    try:
        return dict(
            call(routes_air.assessment, request, start=first, end=last, station=code, city=None)
        )
    except ApiError:
        return None
