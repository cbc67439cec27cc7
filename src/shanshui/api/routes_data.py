"""Time series of one site: ``/sites/{code}/series`` at hour, day, month or year.

Every value says what it rests on (``expected`` and ``observed`` counts) and whether it is
``valid`` by GB 3095-2012 Table 4: a day needs ≥ 20 valid hourly means, a month ≥ 27 valid
days (25 in February), a calendar year ≥ 324 valid days. Only hourly values whose HJ 212
flag is ``N`` count as observed (valid data only). The aggregate is the arithmetic mean
(GB 3095-2012 §3: 24-hour, monthly and annual means), computed by
:mod:`shanshui.standards.statistics`.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from shanshui.api.cache import ResponseCache
from shanshui.api.common import TIME_CONVENTION, day_span, sites_of, store_of
from shanshui.api.errors import ApiError
from shanshui.standards.aqi import HOURLY_POLLUTANTS
from shanshui.standards.cube import VALID_FLAGS
from shanshui.standards.statistics import Aggregate, daily_mean, monthly_mean
from shanshui.standards.validity import period_rule
from shanshui.store.reading import read_long

router = APIRouter(tags=["series"])

_TZ = "Asia/Shanghai"
#: most days of hourly values one request may ask for
_HOUR_DAYS = 366


class Aggregation(StrEnum):
    hour = "hour"
    day = "day"
    month = "month"
    year = "year"


def _num(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def _grid(long: pd.DataFrame, start: pd.Timestamp, n_hours: int) -> np.ndarray:
    """One parameter's valid hourly values on the hours ``start`` … (NaN where none)."""
    cells = np.full(n_hours, np.nan)
    keep = long["flag"].isna() | long["flag"].isin(VALID_FLAGS)
    long = long[keep]
    hour = ((long["time"] - start) // pd.Timedelta(hours=1)).to_numpy(dtype=np.int64)
    cells[hour] = long["value"].to_numpy(dtype=np.float64)
    return cells


def _rows(periods: list[str], agg: Aggregate) -> list[dict[str, Any]]:
    return [
        {
            "period": p,
            "value": _num(float(agg.value[i])),
            "expected": int(agg.expected[i]),
            "observed": int(agg.count[i]),
            "valid": bool(agg.valid[i]),
        }
        for i, p in enumerate(periods)
    ]


def _years(daily: Aggregate, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    """Calendar-year means of the daily means (GB 3095-2012 §3 年平均).

    A full year is valid with ≥ 324 valid days (Table 4). Choice: a year only partly inside
    ``from`` … ``to`` needs what :func:`~shanshui.standards.validity.period_rule` asks of
    that part (its months' minimums).
    """
    out = []
    for year in range(first.year, last.year + 1):
        a, b = max(first, dt.date(year, 1, 1)), min(last, dt.date(year, 12, 31))
        i, j = (a - first).days, (b - first).days + 1
        ok = daily.valid[i:j]
        count = int(ok.sum())
        minimum = period_rule(a, b).minimum_days
        valid = count >= minimum
        value = float(daily.value[i:j][ok].mean()) if valid and count else float("nan")
        out.append(
            {
                "period": str(year),
                "value": _num(value),
                "expected": j - i,
                "observed": count,
                "minimum": minimum,
                "valid": valid,
            }
        )
    return out


def _hours_json(long: pd.DataFrame, wanted: list[str]) -> dict[str, bytes]:
    """Each parameter's hourly rows as the text of a JSON array, written column-wise by Arrow
    (a station-year is 52,560 rows: building a dict per row costs more than the query).

    A row: ``{"period", "value", "flag", "expected": 1, "observed": 0|1, "valid"}``; only an
    ``N`` flag counts as observed (GB 3095-2012 Table 4: valid data only). Values are written
    in their shortest round-trip form; stored values are finite (the store refuses NaN).
    Beijing time has been UTC+8 without daylight saving since 1991: the offset is fixed.
    """
    out = {name: b"[]" for name in wanted}
    if long.empty:
        return out
    local = long["time"].dt.tz_convert(_TZ).dt.tz_localize(None).to_numpy("datetime64[s]")
    periods = pa.array(np.datetime_as_string(local, unit="s"), pa.string())
    flags = long["flag"].fillna("N").astype(str)
    ok = flags.isin(VALID_FLAGS).to_numpy(bool)
    codes, names = pd.factorize(flags)  # a few distinct flags: JSON-escape each once
    flag_json = pa.array([orjson.dumps(f).decode() for f in names], pa.string()).take(
        pa.array(codes)
    )
    rows = pc.binary_join_element_wise(
        '{"period":"', periods, '+08:00","value":',
        pc.cast(pa.array(long["value"].to_numpy(np.float64)), pa.string()),
        ',"flag":', flag_json, ',"expected":1,"observed":',
        pa.array(np.where(ok, "1", "0"), pa.string()), ',"valid":',
        pa.array(np.where(ok, "true", "false"), pa.string()), "}", "",
    )  # fmt: skip
    parameter = long["parameter"].to_numpy(str)
    for name in wanted:
        where = np.flatnonzero(parameter == name)
        if where.size:
            first, n = int(where[0]), int(where.size)
            # read_long orders by site, parameter, time: one parameter's rows are contiguous
            part = rows.slice(first, n) if where[-1] - first + 1 == n else rows.take(where)
            one = pa.ListArray.from_arrays(pa.array([0, n], pa.int32()), part)
            joined = pc.binary_join(one, ",")[0].as_py()
            out[name] = b"[" + joined.encode() + b"]"
    return out


#: A series ending this many days before today is "past": late data and corrections are
#: rare there, so its answer is kept up to a minute whatever the writer does meanwhile.
_PAST_DAYS = 2
_PAST_MAX_AGE = 60.0


@router.get("/sites/{code}/series", response_model=None)
async def series(
    request: Request,
    *,
    code: str,
    start: Annotated[dt.date, Query(alias="from", description="first natural day")],
    end: Annotated[dt.date, Query(alias="to", description="last natural day (included)")],
    parameters: Annotated[
        str | None, Query(description="comma-separated codes, e.g. PM2.5,O3; default: six")
    ] = None,
    aggregation: Aggregation = Aggregation.hour,
) -> Response:
    """Hourly values or day / month / year means of a site's parameters, with counts.

    ``series`` maps each parameter to its rows: ``period`` (an hour's start, a day, month
    or year), ``value``, ``expected`` and ``observed`` counts, ``valid`` (hourly rows also
    carry the HJ 212 ``flag``; yearly rows the ``minimum`` of valid days they needed).

    Answers are cached: a period that ended more than two days ago up to 60 s, a recent one
    until the writer stores new data (at most 2 s)."""
    day_span(start, end, max_days=_HOUR_DAYS if aggregation == "hour" else 3700)
    wanted = (
        [p.strip() for p in parameters.split(",") if p.strip()]
        if parameters
        else list(HOURLY_POLLUTANTS)
    )
    if not wanted:
        raise ApiError(422, "validation_failed", "parameters is empty")
    cache: ResponseCache = request.app.state.cache
    key = f"series:{code}:{start}:{end}:{aggregation.value}:{','.join(wanted)}"
    body = cache.fresh(key)
    if body is None:
        past = end < dt.datetime.now(ZoneInfo(_TZ)).date() - dt.timedelta(days=_PAST_DAYS)

        def compute() -> bytes:
            return _series(request, code, start, end, wanted, aggregation)

        body = await run_in_threadpool(
            cache.get, key, compute, max_age=_PAST_MAX_AGE if past else None, follow=not past
        )
    return Response(body, media_type="application/json")


def _series(  # noqa: PLR0917 - the endpoint's parameters
    request: Request,
    code: str,
    start: dt.date,
    end: dt.date,
    wanted: list[str],
    aggregation: Aggregation,
) -> bytes:
    """The body of :func:`series` (in a worker thread: it reads the store)."""
    t0 = pd.Timestamp(start).tz_localize(_TZ)
    t1 = pd.Timestamp(end + dt.timedelta(days=1)).tz_localize(_TZ)
    if not any(s.code == code for s in sites_of(request)):
        raise ApiError(404, "not_found", f"no site {code!r}")
    with store_of(request) as store:
        known = {p.code for p in store.parameters()}
        unknown = [p for p in wanted if p not in known]
        if unknown:
            raise ApiError(422, "validation_failed", f"unknown parameters: {unknown}")
        long = read_long(
            store, [code], start=t0.to_pydatetime(), end=t1.to_pydatetime(), parameters=wanted
        )
    head = {
        "site": code,
        "aggregation": aggregation.value,
        "statistic": "mean",
        "from": start.isoformat(),
        "to": end.isoformat(),
        "time_convention": TIME_CONVENTION,
    }
    if aggregation == "hour":
        arrays = _hours_json(long, wanted)
        series = b",".join(orjson.dumps(name) + b":" + arrays[name] for name in wanted)
        return orjson.dumps(head)[:-1] + b',"series":{' + series + b"}}"
    out: dict[str, list[dict[str, Any]]] = {}
    n_days = (end - start).days + 1
    for name in wanted:
        one = long[long["parameter"] == name]
        # GB 3095-2012 §3 and Table 4: 24-hour means of ≥ 20 valid hours
        daily = daily_mean(_grid(one, t0, n_days * 24)[None, :])
        daily = Aggregate(daily.value[0], daily.count[0], daily.expected[0], daily.valid[0])
        if aggregation == "day":
            days = [(start + dt.timedelta(days=i)).isoformat() for i in range(n_days)]
            out[name] = _rows(days, daily)
        elif aggregation == "month":
            # GB 3095-2012 Table 4: ≥ 27 valid days a month, 25 in February
            months, agg = monthly_mean(daily, start)
            out[name] = _rows([m.strftime("%Y-%m") for m in months], agg)
        else:
            out[name] = _years(daily, start, end)
    body = {**head, "series": out}
    return orjson.dumps(body)
