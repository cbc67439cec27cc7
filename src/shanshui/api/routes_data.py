"""Time series of one site: ``/sites/{code}/series`` at hour, day, month or year.

Every value says what it rests on (``expected`` and ``observed`` counts) and whether it is
``valid`` by GB 3095-2012 Table 4: a day needs ≥ 20 valid hourly means, a month ≥ 27 valid
days (25 in February), a calendar year ≥ 324 valid days. Only hourly values whose HJ 212
flag is ``N`` count as observed (valid data only). The aggregate is the arithmetic mean
(GB 3095-2012 §3: 24-hour, monthly and annual means), computed by
:mod:`shanshui.standards.statistics`.

The answer is columnar by default (``layout=columns``: the periods once, then per parameter
one array per field, aligned with them; a station-year of six pollutants is 1.2 MB instead of
the 5 MB of one object per value, ``layout=rows``) and gzip-encoded when the client accepts
it, compressed once per cached answer rather than once per request.
"""

from __future__ import annotations

import datetime as dt
import zlib
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

from shanshui.api.cache import Expiring, ResponseCache
from shanshui.api.common import (
    TIME_CONVENTION,
    From,
    To,
    day_span,
    next_month,
    sites_of,
    store_of,
)
from shanshui.api.errors import ApiError
from shanshui.formats.canonical import UNITS
from shanshui.hj212.codes import POLLUTANTS
from shanshui.standards.aqi import HOURLY_POLLUTANTS
from shanshui.standards.cube import VALID_FLAGS
from shanshui.standards.statistics import Aggregate, daily_mean, monthly_mean
from shanshui.standards.validity import period_rule, period_valid
from shanshui.store import Store
from shanshui.store.reading import long_frame, read_arrow

router = APIRouter(tags=["series"])

_TZ = "Asia/Shanghai"
#: most days of hourly values one request may ask for
_HOUR_DAYS = 366


class Aggregation(StrEnum):
    hour = "hour"
    day = "day"
    month = "month"
    year = "year"


class Layout(StrEnum):
    """How ``series`` is written: ``columns`` (default) one array per field, aligned with
    the top-level ``period`` array; ``rows`` one object per value (the first layout)."""

    columns = "columns"
    rows = "rows"


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

    A full year is valid with ≥ 324 valid days and ≥ 27 in each month (25 in February)
    (Table 4, as ``/assessment``: :func:`~shanshui.standards.validity.period_valid`). Choice:
    a year only partly inside ``from`` … ``to`` needs what
    :func:`~shanshui.standards.validity.period_rule` asks of that part (its months'
    minimums). ``minimum`` reports the days the year needs in all.
    """
    out = []
    for year in range(first.year, last.year + 1):
        a, b = max(first, dt.date(year, 1, 1)), min(last, dt.date(year, 12, 31))
        i, j = (a - first).days, (b - first).days + 1
        ok = daily.valid[i:j]
        count = int(ok.sum())
        rule = period_rule(a, b)
        minimum = rule.minimum_days
        # every month's minimum too, not only the sum (a year of 341 valid days with 15 in
        # December is invalid: review 21, finding 1)
        valid = bool(period_valid(ok, rule, a))
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


def _read_site(
    store: Store, code: str, start: dt.datetime, end: dt.datetime, wanted: list[str]
) -> pa.Table:
    """One site's hourly means ``[start, end)``: Arrow columns ``site, time (UTC), parameter,
    value, flag``, as :func:`shanshui.store.reading.read_long` reads them but without its
    site check: the code was checked against the cached site list, and ``read_long`` reads
    and builds every stored site's row first (2,000 stations: 300 ms, five times the query's
    own time)."""
    params = {
        "sites": [code],
        "parameters": wanted,
        "start": start,
        "end": end,
        "statistic": "avg",
        "period": "hour",
    }
    return read_arrow(store, params)


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray[Any, Any], list[str]]:
    """A string column as integer codes and the distinct strings (a few: no per-row str)."""
    coded = pc.fill_null(column, "N").combine_chunks().dictionary_encode()
    return coded.indices.to_numpy(zero_copy_only=False), coded.dictionary.to_pylist()


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


def _hour_columns(
    table: pa.Table, start: pd.Timestamp, n_hours: int, wanted: list[str]
) -> dict[str, dict[str, Any]]:
    """Each parameter's hourly values on every hour ``start`` … as columns (numpy arrays).

    Fields, aligned with the hours: ``value`` (null where nothing is stored), ``flag`` (the
    HJ 212 flag; null where nothing is stored), ``expected`` (1), ``observed`` (1 when the
    hour is valid data: flag ``N``, GB 3095-2012 Table 4 counts valid data only; else 0) and
    ``valid`` (the same as a boolean). An hour stored with another flag keeps its value with
    ``observed`` 0, as in the rows layout.
    """
    if table.num_rows == 0:  # Arrow types may be null here: no casts
        table = pa.table(
            {"time": pa.array([], pa.int64()), "parameter": pa.array([], pa.string())}
            | {"value": pa.array([], pa.float64()), "flag": pa.array([], pa.string())}
        )
    else:
        table = table.set_column(
            table.schema.get_field_index("time"),
            "time",
            pc.cast(table["time"], pa.timestamp("us", tz="UTC")).cast(pa.int64()),
        )
    first = start.tz_convert("UTC").value // 1000  # [µs]
    hour = (table["time"].to_numpy() - first) // 3_600_000_000
    value = table["value"].to_numpy()
    flag_code, flag_names = _codes(table["flag"])
    flag_of = np.array([None, *flag_names], object)  # code + 1; 0: nothing stored
    ok_of = np.array([False, *(f in VALID_FLAGS for f in flag_names)], bool)
    param_code, param_names = _codes(table["parameter"])
    expected = np.ones(n_hours, np.uint8)
    out = {}
    for name in wanted:
        flag = np.zeros(n_hours, np.int64)
        values = np.full(n_hours, np.nan)
        if name in param_names:
            where = param_code == param_names.index(name)
            flag[hour[where]] = flag_code[where] + 1
            values[hour[where]] = value[where]
        valid = ok_of[flag]
        out[name] = {
            "value": values,
            "flag": flag_of[flag].tolist(),
            "expected": expected,
            "observed": valid.astype(np.uint8),
            "valid": valid,
        }
    return out


def _aggregate_columns(agg: Aggregate) -> dict[str, Any]:
    return {
        "value": np.asarray(agg.value, np.float64),  # NaN (written null) where invalid
        "expected": np.asarray(agg.expected, np.int64),
        "observed": np.asarray(agg.count, np.int64),
        "valid": np.asarray(agg.valid, bool),
    }


def _accepts_gzip(header: str) -> bool:
    """Whether ``Accept-Encoding`` accepts gzip (RFC 9110 §12.5.3; ``q=0`` refuses)."""
    for item in header.lower().split(","):
        coding, _, params = item.partition(";")
        if coding.strip() in {"gzip", "*"}:
            q = params.strip().removeprefix("q=")
            try:
                return not params.strip().startswith("q=") or float(q) > 0
            except ValueError:
                return True
    return False


#: zlib level of the gzip answers: a station-year (1.2 MB of columns) compresses 11:1 at
#: level 1 in ~16 ms on the 2-core CI machine; level 4 gains 12 % for 2x the time, 6: 18 %, 6x.
_GZIP_LEVEL = 1


def _gzip(body: bytes) -> bytes:
    # mtime 0: the same answer gives the same bytes (caches, ETags)
    compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, 31)
    return compressor.compress(body) + compressor.flush()


#: A series ending this many days before today is "past": late data and corrections are
#: rare there, so its answer is kept up to a minute whatever the writer does meanwhile.
_PAST_DAYS = 2
_PAST_MAX_AGE = 60.0

_COLUMNS_DOC = {
    "type": "object",
    "description": "layout=columns: each field an array aligned with the top-level period",
    "properties": {
        "value": {"type": "array", "items": {"type": ["number", "null"]}},
        "expected": {"type": "array", "items": {"type": "integer"}},
        "observed": {"type": "array", "items": {"type": "integer"}},
        "valid": {"type": "array", "items": {"type": "boolean"}},
        "flag": {
            "type": "array",
            "items": {"type": ["string", "null"]},
            "description": "hour only: the HJ 212-2017 §6.6 flag; null where nothing is stored",
        },
        "minimum": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "year only: valid days the year needed (GB 3095-2012 Table 4)",
        },
    },
    "required": ["value", "expected", "observed", "valid"],
}
_ROWS_DOC = {
    "type": "array",
    "description": "layout=rows: one object per value",
    "items": {
        "type": "object",
        "properties": {
            "period": {"type": "string"},
            "value": {"type": ["number", "null"]},
            "expected": {"type": "integer"},
            "observed": {"type": "integer"},
            "valid": {"type": "boolean"},
            "flag": {"type": "string"},
            "minimum": {"type": "integer"},
        },
        "required": ["period", "value", "expected", "observed", "valid"],
    },
}
_SERIES_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The series (gzip-encoded when the client accepts it).",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "site": {"type": "string"},
                        "aggregation": {"type": "string"},
                        "statistic": {"type": "string"},
                        "from": {"type": "string", "format": "date"},
                        "to": {"type": "string", "format": "date"},
                        "time_convention": {"type": "string"},
                        "layout": {"type": "string", "enum": ["columns", "rows"]},
                        "period": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "layout=columns: the periods, once for all "
                            "parameters: every hour's start YYYY-MM-DDTHH:MM:SS+08:00, every "
                            "day YYYY-MM-DD, month YYYY-MM or year YYYY of from … to",
                        },
                        "series": {
                            "type": "object",
                            "additionalProperties": {"oneOf": [_COLUMNS_DOC, _ROWS_DOC]},
                        },
                        "partial": {
                            "type": "array",
                            "description": "month and year: the periods from … to cuts "
                            "short, with the days their values rest on (not whole-period "
                            "means; their minimum of valid days is the part's share)",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "period": {"type": "string"},
                                    "from": {"type": "string", "format": "date"},
                                    "to": {"type": "string", "format": "date"},
                                },
                            },
                        },
                    },
                    "required": ["site", "aggregation", "from", "to", "layout", "series"],
                }
            }
        },
    }
}


@router.get("/sites/{code}/series", response_model=None, responses=_SERIES_DOC)
async def series(
    request: Request,
    *,
    code: str,
    start: From,
    end: To,
    parameters: Annotated[
        str | None, Query(description="comma-separated codes, e.g. PM2.5,O3; default: six")
    ] = None,
    aggregation: Aggregation = Aggregation.hour,
    layout: Annotated[
        Layout, Query(description="columns (arrays per field, the default) or rows")
    ] = Layout.columns,
) -> Response:
    """Hourly values or day / month / year means of a site's parameters, with counts.

    Every value carries its ``period`` (an hour's start, a day, month or year), its
    ``value``, the ``expected`` and ``observed`` counts it rests on and whether it is
    ``valid``; hourly values also carry their HJ 212 ``flag``, yearly ones the ``minimum`` of
    valid days they needed.

    ``layout=columns`` (the default) states the periods once, in ``period``: every hour (day,
    month, year) of ``from`` … ``to``, and maps each parameter to an object of arrays
    aligned with it (``value`` null and ``flag`` null where nothing is stored).
    ``layout=rows`` maps each parameter to a list of objects, one per stored value (hour) or
    period, each with its ``period`` — five times the bytes of a station-year.

    Answers are gzip-encoded when the client accepts it, and cached: a period that ended
    more than two days ago up to 60 s, a recent one until the writer stores new data (at
    most 2 s)."""
    day_span(start, end, max_days=_HOUR_DAYS if aggregation == "hour" else 3700)
    wanted = (
        [p.strip() for p in parameters.split(",") if p.strip()]
        if parameters
        else list(HOURLY_POLLUTANTS)
    )
    if not wanted:
        raise ApiError(422, "validation_failed", "parameters is empty")
    bearings = [
        p for p in wanted if UNITS.get(p) == "°" or getattr(POLLUTANTS.get(p), "unit", "") == "°"
    ]  # WD, and its HJ 212 code a01008 as the gateway stores it
    if bearings and aggregation != Aggregation.hour:
        # a bearing is circular: the arithmetic mean of 350° and 10° is 180°, the wind's
        # opposite (review 21, finding 4: a day of north winds was published as 185°).
        # CHOICE: refused rather than a vector mean, which no standard of this platform
        # defines for its validity counts
        raise ApiError(
            422, "validation_failed",
            f"{', '.join(bearings)} is a direction and has no arithmetic mean: ask for "
            "aggregation=hour",
        )  # fmt: skip
    cache: ResponseCache = request.app.state.cache
    key = f"series:{code}:{start}:{end}:{aggregation.value}:{layout.value}:{','.join(wanted)}"
    gzip = _accepts_gzip(request.headers.get("accept-encoding", ""))
    headers = {"Vary": "Accept-Encoding"}
    if gzip:
        key, headers["Content-Encoding"] = f"{key}:gzip", "gzip"
    body = cache.fresh(key)
    if body is None:
        past = end < dt.datetime.now(ZoneInfo(_TZ)).date() - dt.timedelta(days=_PAST_DAYS)
        options: dict[str, Any] = {"max_age": _PAST_MAX_AGE if past else None, "follow": not past}

        def compute() -> bytes:
            return _series(request, code, start, end, wanted, aggregation, layout)

        def compressed() -> bytes:
            # the plain answer's cache entry is reused (or made): one query for both
            return _gzip(cache.get(key.removesuffix(":gzip"), compute, **options))

        body = await run_in_threadpool(cache.get, key, compressed if gzip else compute, **options)
    return Response(body, media_type="application/json", headers=headers)


def _series(  # noqa: PLR0917 - the endpoint's parameters
    request: Request,
    code: str,
    start: dt.date,
    end: dt.date,
    wanted: list[str],
    aggregation: Aggregation,
    layout: Layout,
) -> bytes:
    """The body of :func:`series` (in a worker thread: it reads the store)."""
    t0 = pd.Timestamp(start).tz_localize(_TZ)
    t1 = pd.Timestamp(end + dt.timedelta(days=1)).tz_localize(_TZ)
    if not any(s.code == code for s in sites_of(request)):
        raise ApiError(404, "not_found", f"no site {code!r}")
    cached: Expiring[frozenset[str]] = request.app.state.parameters
    known: frozenset[str] | set[str] = cached.get()  # not inside store_of: it takes a reader
    with store_of(request) as store:
        if not known.issuperset(wanted):  # a parameter added in the last 10 s?
            known = {p.code for p in store.parameters()}
        unknown = [p for p in wanted if p not in known]
        if unknown:
            raise ApiError(422, "validation_failed", f"unknown parameters: {unknown}")
        table = _read_site(store, code, t0.to_pydatetime(), t1.to_pydatetime(), wanted)
    head: dict[str, Any] = {
        "site": code,
        "aggregation": aggregation.value,
        "statistic": "mean",
        "from": start.isoformat(),
        "to": end.isoformat(),
        "time_convention": TIME_CONVENTION,
        "layout": layout.value,
    }
    n_days = (end - start).days + 1
    if aggregation == "hour" and layout == Layout.columns:
        # Beijing time is UTC+8 without daylight saving (since 1991): 24 hours a day
        hours = np.datetime64(start.isoformat(), "h") + np.arange(n_days * 24)
        text = np.datetime_as_string(hours.astype("datetime64[s]"), unit="s").tolist()
        head["period"] = [f"{t}+08:00" for t in text]
        columns = _hour_columns(table, t0, n_days * 24, wanted)
        return orjson.dumps({**head, "series": columns}, option=orjson.OPT_SERIALIZE_NUMPY)
    long = long_frame(table)
    if aggregation == "hour":
        arrays = _hours_json(long, wanted)
        series = b",".join(orjson.dumps(name) + b":" + arrays[name] for name in wanted)
        return orjson.dumps(head)[:-1] + b',"series":{' + series + b"}}"
    out: dict[str, Any] = {}
    periods: list[str] = []
    for name in wanted:
        one = long[long["parameter"] == name]
        # GB 3095-2012 §3 and Table 4: 24-hour means of ≥ 20 valid hours
        daily = daily_mean(_grid(one, t0, n_days * 24)[None, :])
        daily = Aggregate(daily.value[0], daily.count[0], daily.expected[0], daily.valid[0])
        if aggregation == "day":
            periods = [(start + dt.timedelta(days=i)).isoformat() for i in range(n_days)]
            agg = daily
        elif aggregation == "month":
            # GB 3095-2012 Table 4: ≥ 27 valid days a month, 25 in February
            months, agg = monthly_mean(daily, start)
            periods = [m.strftime("%Y-%m") for m in months]
        else:
            years = _years(daily, start, end)
            periods = [y["period"] for y in years]
            if layout == Layout.rows:
                out[name] = years
            else:
                out[name] = {
                    k: [y[k] for y in years]
                    for k in ("value", "expected", "observed", "minimum", "valid")
                }
            continue
        out[name] = _rows(periods, agg) if layout == Layout.rows else _aggregate_columns(agg)
    if layout == Layout.columns:
        head["period"] = periods
    if aggregation in (Aggregation.month, Aggregation.year):
        head["partial"] = _partial(aggregation, start, end)
    return orjson.dumps({**head, "series": out}, option=orjson.OPT_SERIALIZE_NUMPY)


def _partial(aggregation: Aggregation, start: dt.date, end: dt.date) -> list[dict[str, str]]:
    """The months or years that ``from`` … ``to`` cuts short, with the days they cover: a
    value labelled "2015" from one day of 2015 is that day's mean, not an annual mean
    (review 21, finding 5). CHOICE: such a period keeps its proportional minimum of valid
    days (:func:`~shanshui.standards.validity.period_rule`, what a year-to-date figure
    needs) and is listed here, so that no reader takes it for a whole one."""
    out = []
    first = start
    while first <= end:
        if aggregation == Aggregation.year:
            a, b = dt.date(first.year, 1, 1), dt.date(first.year, 12, 31)
            label = str(first.year)
        else:
            a = first.replace(day=1)
            b = next_month(a) - dt.timedelta(days=1)
            label = a.strftime("%Y-%m")
        cut_from, cut_to = max(a, start), min(b, end)
        if (cut_from, cut_to) != (a, b):
            out.append({"period": label, "from": cut_from.isoformat(), "to": cut_to.isoformat()})
        first = b + dt.timedelta(days=1)
    return out
