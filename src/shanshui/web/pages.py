"""The portal's pages: ``/`` map, ``/ranking``, ``/station/{code}``, ``/about``.

Server-rendered with Jinja2 from :mod:`shanshui.web.data` (the API's own functions); the
charts are drawn in the browser by ECharts from the open API's JSON (``/api/v1/...``).
Every page renders on an empty store ("no data yet"), never a 500.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates

from shanshui.standards.composite import DAILY_LIMIT
from shanshui.web import data
from shanshui.web.i18n import COOKIE, LANGS, TEXT, lang_of

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
#: Installed by ``make assets`` (npm, or tools/fetch_echarts.py); never committed.
ECHARTS = STATIC / "vendor" / "echarts.min.js"
#: How often the map asks for new data [ms].
POLL_MS = 30_000

#: GB 3095-2012 Table 1 grade II 24-hour limits [µg/m³; CO mg/m³] drawn on the station's
#: charts (O3 left out: its daily limit is for the maximum 8-hour mean, not the 24-hour mean).
DAY_LIMITS = {p: v[1] for p, v in DAILY_LIMIT.items() if p != "O3"}

templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)


def _switch_url(request: Request, lang: str) -> str:
    other = "en" if lang == "zh" else "zh"
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    query["lang"] = other
    return f"{request.url.path}?{urlencode(query)}"


def render(
    request: Request, name: str, context: dict[str, Any], *, status: int = 200
) -> HTMLResponse:
    """Render template ``name`` with the common context; remember an asked-for language."""
    lang = lang_of(request)
    common = {
        "lang": lang,
        "t": TEXT[lang],
        "switch_url": _switch_url(request, lang),
        "categories": data.categories(lang),
        "echarts": ECHARTS.is_file(),
        "path": request.url.path,
    }
    response = templates.TemplateResponse(request, name, {**common, **context}, status_code=status)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(COOKIE, lang, max_age=365 * 86_400, samesite="lax")
    return response


@router.get("/", response_class=HTMLResponse)
def map_page(request: Request) -> HTMLResponse:
    """The regional map: stations coloured by their latest hourly AQI category."""
    snapshot = data.latest(request)
    return render(request, "map.html", {"snapshot": snapshot, "poll_ms": _poll_ms(request)})


def _poll_ms(request: Request) -> int:
    """:data:`POLL_MS`, or ``?poll=`` seconds (2 … 30; for demonstrations and tests)."""
    try:
        asked = int(request.query_params.get("poll", ""))
    except ValueError:
        return POLL_MS
    return min(max(asked * 1000, 2000), POLL_MS)


@router.get("/portal/regions.geojson")
def regions_geojson() -> Response:
    """The map's region boundaries (GeoJSON, shipped with the package)."""
    return JSONResponse(data.region_geojson(), headers={"Cache-Control": "public, max-age=86400"})


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


@router.get("/ranking", response_class=HTMLResponse)
def ranking_page(request: Request) -> HTMLResponse:
    """Cities ranked by composite index over a period (default: year to date)."""
    newest = data.latest_day(data.latest(request))
    asked_first = _date(request.query_params.get("from"))
    asked_last = _date(request.query_params.get("to"))
    last = asked_last or newest
    first = asked_first or (dt.date(last.year, 1, 1) if last else None)
    result = None
    if first is not None and last is not None and first <= last:
        result = data.ranking(request, first, last)
    presets = []
    if newest is not None:
        presets = [
            ("month_to_date", newest.replace(day=1), newest),
            ("year_to_date", dt.date(newest.year, 1, 1), newest),
        ]
    return render(
        request,
        "ranking.html",
        {
            "first": first,
            "last": last,
            "result": result,
            "presets": presets,
            "city_en": data.city_names_en(),
        },
    )


@router.get("/station/{code}", response_class=HTMLResponse)
def station_page(request: Request, code: str) -> HTMLResponse:
    """One station: latest values, 24-hour and 30-day charts, AQI calendar, statistics."""
    site = data.site(request, code)
    if site is None:
        return render(request, "station.html", {"site": None, "code": code}, status=404)
    snapshot = data.latest(request)
    now = next((item for item in snapshot["items"] if item["site"] == code), None)
    last = dt.date.fromisoformat(now["time"][:10]) if now else None
    stats = data.assessment(request, code, last) if last else None
    return render(
        request,
        "station.html",
        {
            "site": site,
            "code": code,
            "region": data.region_name(request, site.region, lang_of(request)),
            "now": now,
            "last": last,
            "first": last - dt.timedelta(days=data.STATION_DAYS - 1) if last else None,
            "stats": stats,
            "limits": DAY_LIMITS,
        },
    )


@router.get("/about", response_class=HTMLResponse)
def about_page(request: Request) -> HTMLResponse:
    """Sources, standards, how each number is computed, time conventions."""
    return render(request, "about.html", {})
