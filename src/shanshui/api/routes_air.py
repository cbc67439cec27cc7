"""Air quality: ``/latest``, ``/aqi/hourly``, ``/aqi/daily``, ``/assessment``, ``/ranking``.

The numbers come from the same functions as the CLI (``shanshui aqi``, ``assess``, ``rank``):
:func:`shanshui.cli.aqi.store_hourly` / :func:`~shanshui.cli.aqi.store_daily`,
:func:`shanshui.cli.assess.assess_report` / :func:`~shanshui.cli.assess.rank_report`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from shanshui.api.cache import ResponseCache
from shanshui.api.common import (
    TIME_CONVENTION,
    From,
    Limit,
    Offset,
    To,
    day_span,
    page,
    records,
    sites_of,
    store_of,
)
from shanshui.api.errors import ApiError
from shanshui.cli.aqi import store_daily, store_hourly
from shanshui.cli.assess import (
    _year_before,
    assess_report,
    rank_report,
    store_assess_input,
    store_rank_input,
)
from shanshui.standards.aqi import HOURLY_POLLUTANTS, hourly_aqi
from shanshui.standards.composite import change_percent, change_points
from shanshui.standards.cube import VALID_FLAGS
from shanshui.store import Store
from shanshui.store.reading import station_table

router = APIRouter(tags=["air quality"])

Station = Annotated[str | None, Query(description="station (site) code")]
City = Annotated[str | None, Query(description="city name (as the station list) or code")]
# the AQI and assessment of one request read at most this many days (bounded answers)
_AQI_DAYS = 366


def _one_scope(station: str | None, city: str | None) -> None:
    if (station is None) == (city is None):
        raise ApiError(422, "validation_failed", "give exactly one of station or city")


def _known(request: Request, station: str | None) -> None:
    """404 for a station code the store does not hold as an air site."""
    air = (s for s in sites_of(request) if s.kind == "air")
    if station is not None and not any(s.code == station for s in air):
        raise ApiError(404, "not_found", f"no air station {station!r}")


def _city(store: Store, city: str | None) -> str | None:
    """``city`` as the station list names it (北京), given that name, a region name (北京市)
    or a GB/T 2260 code (110000), as ``/aqi/*`` and downloads take it (review 21, finding
    6: ``/assessment`` answered 404 to 北京市 and 110000); 404 when no air station lies
    there. A name matching several cities is left to the assessment's own refusal."""
    if city is None:
        return None
    names = sorted({str(c) for c in station_table(store, city=city)["city"].dropna()})
    if not names:
        raise ApiError(404, "not_found", f"no air station in {city!r}")
    return names[0] if len(names) == 1 else city


def _bad(exc: Exception) -> ApiError:
    """The CLI functions refuse a wrong scope with typer.BadParameter: 404 when nothing is
    known of it, else 422."""
    text = str(getattr(exc, "message", None) or exc)
    status, code = (
        (404, "not_found")
        if "no data" in text or "not a city" in text
        else (
            422,
            "validation_failed",
        )
    )
    return ApiError(status, code, text)


@router.get("/latest", response_model=None)
async def latest(request: Request) -> Response:
    """The newest hourly mean of each pollutant at every air station, with its hourly AQI.

    The AQI is HJ 633-2012 §5 (real-time report) from the values of the station's newest
    hour only, by :func:`shanshui.standards.aqi.hourly_aqi`. Only values whose HJ 212 flag is
    ``N`` enter it (GB 3095-2012 Table 4: valid data only). Choice: the trailing 24-hour SO2
    mean is not read here, so a 1-hour SO2 above 800 µg/m³ gives no SO2 IAQI (Table 1 note).
    The answer is the same for everyone until new data arrive: it is computed once per
    write generation (at most 2 s old) and served as bytes to every client.
    """
    cache: ResponseCache = request.app.state.cache

    def compute() -> bytes:
        return json.dumps(_latest(request), ensure_ascii=False, allow_nan=False).encode()

    # a fresh answer is served from the event loop; only a recomputation takes a thread
    body = cache.fresh("latest") or await run_in_threadpool(cache.get, "latest", compute)
    return Response(body, media_type="application/json")


def _latest(request: Request) -> dict[str, Any]:
    """The body of :func:`latest`."""
    stations = [s for s in sites_of(request) if s.kind == "air"]
    with store_of(request) as store:
        codes = [s.code for s in stations]
        rows = store.latest(codes, list(HOURLY_POLLUTANTS)) if codes else pd.DataFrame()
    items: list[dict[str, Any]] = []
    if not rows.empty:
        rows = rows.copy()
        rows["time"] = pd.to_datetime(rows["time"]).dt.tz_convert("Asia/Shanghai")
        newest = rows.groupby("site")["time"].transform("max")
        rows = rows[rows["time"] == newest]
        ok = rows["flag"].isna() | rows["flag"].isin(VALID_FLAGS)
        good = rows[ok].pivot_table(
            index="site", columns="parameter", values="value", aggfunc="first"
        )
        for name in HOURLY_POLLUTANTS:
            if name not in good.columns:
                good[name] = np.nan
        sites_with = sorted(rows["site"].unique())
        good = good.reindex(sites_with)[list(HOURLY_POLLUTANTS)].astype(float)
        aqi = hourly_aqi(good)
        aqi_rows = {site: r for site, r in zip(sites_with, records(aqi), strict=True)}
        by_site = {s.code: s for s in stations}
        for site, group in rows.groupby("site", sort=True):
            s = by_site[str(site)]
            values = {
                str(p): {"value": None if math.isnan(v) else v, "flag": f}
                for p, v, f in zip(
                    group["parameter"],
                    group["value"].to_numpy(dtype=np.float64).tolist(),
                    group["flag"],
                    strict=True,
                )
            }
            a = aqi_rows[str(site)]
            items.append(
                {
                    "site": s.code,
                    "name": s.name,
                    "region": s.region,
                    "lon": s.lon,
                    "lat": s.lat,
                    "time": group["time"].iloc[0].isoformat(),
                    "values": values,
                    "aqi": a["AQI"],
                    "level": a["level"],
                    "category_zh": a["category_zh"],
                    "category_en": a["category_en"],
                    "colour": a["colour"],
                    "primary_pollutant": a["primary_pollutant"] or None,
                }
            )
    return {"time_convention": TIME_CONVENTION, "total": len(items), "items": items}


def _aqi_answer(
    front: pd.DataFrame, result: pd.DataFrame, limit: int, offset: int
) -> dict[str, Any]:
    both = pd.concat([front.reset_index(drop=True), result.reset_index(drop=True)], axis=1)
    out = page(records(both), limit, offset)
    out["time_convention"] = TIME_CONVENTION
    return out


@router.get("/aqi/hourly")
def aqi_hourly(
    request: Request,
    *,
    start: From,
    end: To,
    station: Station = None,
    city: City = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Hourly AQI (HJ 633-2012 §5) of a station's or a city's stations, as ``shanshui aqi
    hourly``: the six 1-hour values, SO2_24h and the AQI columns per station-hour."""
    _one_scope(station, city)
    day_span(start, end, max_days=_AQI_DAYS)
    with store_of(request) as store:
        _known(request, station)
        city = _city(store, city)  # an unknown city: 404, as /aqi/daily
        front, result = store_hourly(
            store, None if station is None else [station], city, start, end
        )
    if front.empty and station is not None:
        raise ApiError(404, "not_found", f"no hourly values of {station!r} in the period")
    return _aqi_answer(front, result, limit, offset)


@router.get("/aqi/daily")
def aqi_daily(
    request: Request,
    *,
    start: From,
    end: To,
    station: Station = None,
    city: City = None,
    limit: Limit = 1000,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Daily AQI (HJ 633-2012 §5, daily report) as ``shanshui aqi daily``: the seven daily
    inputs with their counts, ``valid`` (GB 3095-2012 Table 4) and the AQI columns."""
    _one_scope(station, city)
    day_span(start, end, max_days=_AQI_DAYS)
    with store_of(request) as store:
        _known(request, station)
        front, result = store_daily(store, None if station is None else [station], city, start, end)
    if front.empty:
        raise ApiError(404, "not_found", "no station in this scope")
    return _aqi_answer(front, result, limit, offset)


@router.get("/assessment")
def assessment(
    request: Request, start: From, end: To, station: Station = None, city: City = None
) -> dict[str, Any]:
    """GB 3095-2012 / HJ 663-2013 assessment of a station or city over any period, with the
    year-on-year change: exactly ``shanshui assess --json``."""
    _one_scope(station, city)
    day_span(start, end)
    try:
        with store_of(request) as store:
            _known(request, station)  # an unknown station: 404, as /aqi/*
            city = _city(store, city)
            frame, stations = store_assess_input(store, start, end, city=city, station=station)
        report = assess_report(frame, stations, start, end, city=city, station=station)
    except typer.BadParameter as exc:
        raise _bad(exc) from exc
    return report


def _ranked(frame: pd.DataFrame, stations: pd.DataFrame, first: dt.date, last: dt.date) -> Any:
    return rank_report(frame, stations, first, last)


def _num(x: Any, digits: int) -> float | None:
    if x is None or pd.isna(x):
        return None
    return round(float(x), digits)


@router.get("/ranking")
def ranking(
    request: Request, start: From, end: To, limit: Limit = 1000, offset: Offset = 0
) -> dict[str, Any]:
    """Cities ranked by composite index (环办监测〔2018〕19号; 1 = best), as ``shanshui rank
    --json``, with the change on the same period one year earlier (同比: percent; the
    good-days share in points) where the store holds it."""
    day_span(start, end)
    p_first, p_last = _year_before(start), _year_before(end)
    with store_of(request) as store:
        frame, stations = store_rank_input(store, start, end)
        before_frame, _ = store_rank_input(store, p_first, p_last)
    if frame.empty:
        raise ApiError(404, "not_found", "no air data in the period")
    now = _ranked(frame, stations, start, end)
    before = _ranked(before_frame, stations, p_first, p_last) if not before_frame.empty else None
    rows = []
    for city, r in now.iterrows():
        row: dict[str, Any] = {
            "rank": _num(r["rank"], 0),
            "city": city,
            "composite_index": _num(r["composite_index"], 2),  # as ranked (2 decimals)
            "composite_index_exact": _num(r["composite_index"], 4),
            "max_index_pollutant": r["max_index_pollutant"] or None,
            "PM2.5_mean": _num(r["PM2.5_mean"], 2),
            "good_days_ratio": _num(r.get("good_days_ratio"), 4),
            "stations": int(r["stations"]),
        }
        change: dict[str, Any] | None = None
        if before is not None and city in before.index:
            b = before.loc[city]

            def pct(key: str, a: Any = r, b: Any = b) -> float | None:
                x, y = a.get(key), b.get(key)
                ok = x is not None and y is not None and not pd.isna(x) and not pd.isna(y)
                return _num(float(change_percent(x, y)), 2) if ok else None

            x, y = r.get("good_days_ratio"), b.get("good_days_ratio")
            ok = x is not None and y is not None and not pd.isna(x) and not pd.isna(y)
            change = {
                "composite_index_change_pct": pct("composite_index"),
                "PM2.5_mean_change_pct": pct("PM2.5_mean"),
                "good_days_ratio_change_points": _num(float(change_points(x, y)), 2)
                if ok
                else None,
                "previous_rank": _num(b["rank"], 0),
            }
        row["year_on_year"] = change
        rows.append(row)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "previous": {"from": p_first.isoformat(), "to": p_last.isoformat()}
        if before is not None
        else None,
        "total": len(rows),
        "limit": limit,
        "offset": offset,
        "cities": rows[offset : offset + limit],
    }
