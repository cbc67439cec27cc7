"""Downloads of readings, streamed: ``/downloads/observations.csv`` and ``.parquet``.

The answer is written while it is read from the store, one month at a time: a CSV chunk or
one Parquet row group per month, so a decade of a city's stations never sits in memory.
Columns: ``site, time, parameter, value, flag, unit`` — ``time`` the start of the period in
Beijing time (UTC+8, ISO 8601; DESIGN §4), ``value`` in ``unit``, the parameter's unit as
``/parameters`` lists it (µg/m³; CO mg/m³), ``flag`` the HJ 212 data flag (N = valid). The
unit travels with every value (DESIGN §4: never implied; a bare CO 1.2 read as µg/m³ would be
a thousandfold error), last so that the first five columns keep their places; the Parquet
file also states the time convention in its schema metadata.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from shanshui.api.common import From, ReaderPool, To, day_span, next_month, store_of
from shanshui.api.errors import ApiError
from shanshui.store.api import PERIODS, STATISTICS, StoreInputError
from shanshui.store.reading import read_long, select_sites

router = APIRouter(tags=["downloads"])

_TZ = "Asia/Shanghai"
#: Most days one download may span (about ten years).
MAX_DOWNLOAD_DAYS = 3700
_SCHEMA = pa.schema(
    [
        ("site", pa.string()),
        ("time", pa.string()),
        ("parameter", pa.string()),
        ("value", pa.float64()),
        ("flag", pa.string()),
        ("unit", pa.string()),
    ],
    metadata={
        "time": "start of the period, Beijing time (UTC+8), ISO 8601 (DESIGN §4)",
        "value": "in the row's unit; flag: HJ 212-2017 data flag (N = valid)",
    },
)


class Format(StrEnum):
    csv = "csv"
    parquet = "parquet"


def _months(first: dt.date, last: dt.date) -> Iterator[tuple[dt.date, dt.date]]:
    """``[a, b)`` day windows of at most one calendar month covering ``first`` … ``last``."""
    a = first
    while a <= last:
        b = min(next_month(a), last + dt.timedelta(days=1))
        yield a, b
        a = b


def _arrow(frame: pd.DataFrame, units: dict[str, str]) -> pa.Table:
    """The canonical long frame as the download's table; times as ``…T…+08:00`` text,
    each parameter's unit from ``units`` (empty where the store has none).

    Beijing time has been UTC+8 without daylight saving since 1991, so the offset is fixed.
    """
    times = pa.array(frame["time"].dt.tz_convert(_TZ))
    text = pc.utf8_slice_codeunits(pc.strftime(times, format="%Y-%m-%dT%H:%M:%S"), 0, 19)
    return pa.table(
        [
            pa.array(frame["site"].astype(str), pa.string()),
            pc.binary_join_element_wise(text, pa.scalar("+08:00"), ""),
            pa.array(frame["parameter"].astype(str), pa.string()),
            pa.array(frame["value"].to_numpy(), pa.float64()),
            pa.array(frame["flag"].astype(str), pa.string()),
            pa.array(frame["parameter"].astype(str).map(units).fillna(""), pa.string()),
        ],
        schema=_SCHEMA,
    )


class _Sink(io.RawIOBase):
    """A write-only file that hands out what was written and counts every byte (Parquet
    needs the true offsets for its footer)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pos = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = bytes(data)
        self._parts.append(chunk)
        self._pos += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._pos

    def take(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


def _chunks(  # noqa: PLR0917 - one private call site
    pool: ReaderPool,
    codes: list[str],
    parameters: list[str] | None,
    first: dt.date,
    last: dt.date,
    statistic: str,
    period: str,
    units: dict[str, str],
) -> Iterator[pa.Table]:
    for a, b in _months(first, last):
        with pool.acquire() as store:  # held for one month's read only
            # any kind: the codes were checked against every stored site (a water section's
            # download read as air sites raised after the answer had begun: review 21, #2)
            frame = read_long(
                store, codes, start=a, end=b, parameters=parameters,
                statistic=statistic, period=period, kind=None,
            )  # fmt: skip
        if not frame.empty:
            yield _arrow(frame, units)


def _csv(tables: Iterator[pa.Table]) -> Iterator[bytes]:
    header = True
    for table in tables:
        buf = io.BytesIO()
        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=header))
        header = False
        yield buf.getvalue()
    if header:  # no data: still a valid CSV with its header
        yield (",".join(_SCHEMA.names) + "\n").encode()


def _parquet(tables: Iterator[pa.Table]) -> Iterator[bytes]:
    sink = _Sink()
    with pq.ParquetWriter(sink, _SCHEMA, compression="zstd") as writer:
        for table in tables:
            writer.write_table(table, row_group_size=max(table.num_rows, 1))
            if part := sink.take():
                yield part
    yield sink.take()


@router.get("/downloads/observations.{fmt}")
def download(
    request: Request,
    *,
    fmt: Format,
    start: From,
    end: To,
    sites: Annotated[str | None, Query(description="comma-separated site codes")] = None,
    city: Annotated[str | None, Query(description="city name or GB/T 2260 code")] = None,
    parameters: Annotated[str | None, Query(description="comma-separated codes; all")] = None,
    statistic: Annotated[str, Query(description="avg, min, max, cou, …")] = "avg",
    period: Annotated[str, Query(description="rt, minute, hour or day")] = "hour",
) -> StreamingResponse:
    """Readings of sites (or a city's air stations) in a period, as CSV or Parquet, streamed.

    Give ``sites`` or ``city``. Every reading is listed as stored, with its flag; nothing is
    averaged or left out (use ``/sites/{code}/series`` for validated means).
    """
    day_span(start, end, max_days=MAX_DOWNLOAD_DAYS)
    if (sites is None) == (city is None):
        raise ApiError(422, "validation_failed", "give exactly one of sites or city")
    if statistic not in STATISTICS or period not in PERIODS:
        raise ApiError(
            422, "validation_failed",
            f"statistic one of {sorted(STATISTICS)}, period one of {sorted(PERIODS)}",
        )  # fmt: skip
    wanted = [p.strip() for p in parameters.split(",") if p.strip()] if parameters else None
    codes_given = [s.strip() for s in sites.split(",") if s.strip()] if sites else None
    with store_of(request) as store:
        known_sites = {s.code for s in store.sites()}
        if codes_given is not None:
            missing = [c for c in codes_given if c not in known_sites]
            if missing or not codes_given:
                raise ApiError(404, "not_found", f"no sites {missing}")
            codes = codes_given
        else:
            try:
                codes = select_sites(store, None, city=city)
            except StoreInputError as exc:
                raise ApiError(404, "not_found", f"no city {city!r}") from exc
            if not codes:
                raise ApiError(404, "not_found", f"no stations in {city!r}")
        units = {p.code: p.unit or "" for p in store.parameters()}
        if wanted is not None:
            unknown = [p for p in wanted if p not in units]
            if unknown or not wanted:
                raise ApiError(422, "validation_failed", f"unknown parameters: {unknown}")
    pool: ReaderPool = request.app.state.readers
    tables = _chunks(pool, codes, wanted, start, end, statistic, period, units)
    name = f"observations_{start:%Y%m%d}_{end:%Y%m%d}.{fmt.value}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt is Format.csv:
        return StreamingResponse(
            _csv(tables), media_type="text/csv; charset=utf-8", headers=headers
        )
    return StreamingResponse(
        _parquet(tables), media_type="application/vnd.apache.parquet", headers=headers
    )
