"""``shanshui aqi hourly|daily IN.csv`` — the HJ 633-2012 AQI of every row of a CSV file.

Input: a CSV file (``-`` for stdin) with a header row. Columns (µg/m³, CO mg/m³):

- ``hourly``: ``SO2,NO2,CO,O3,PM2.5,PM10`` (1-hour values) and, optionally, ``SO2_24h``
  (used where a 1-hour SO2 exceeds 800 µg/m³, HJ 633-2012 Table 1 note);
- ``daily``: ``SO2,NO2,CO,PM10,PM2.5`` (24-hour means), ``O3_1h`` and ``O3_8h`` (the day's
  maximum 1-hour and 8-hour values).

Every required column must be present; a cell may be empty (or ``NA``/``NaN``/``null``/``-``)
for a missing value, which is left out of the AQI. Other columns pass through unchanged.
Output on stdout: the same rows and columns, plus ``AQI``, ``primary_pollutant``, ``level``,
``category`` (Chinese), ``category_en``, ``colour``, ``non_attainment`` and one
``IAQI_<pollutant>`` column each — CSV, or JSON lines with ``--json``. ``hourly --rule
cnemc`` follows CNEMC's real-time platform where it departs from the standard
(``docs/aqi-realtime-rule.md``); the default ``hj633`` follows HJ 633-2012. Bad input (missing
columns, a non-numeric or negative value, a value beyond its pollutant's plausibility bounds
(:mod:`shanshui.formats.validity`, the bounds every importer, the HTTP ingest and the HJ 212
gateway apply), a column name the output would overwrite) gives a message on stderr naming
the column and data row, and exit status 2.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import typer

from shanshui.cli.assess import _parse_day, check_source, open_source_store
from shanshui.errors import PeerError, ShanshuiError
from shanshui.formats.canonical import UNITS
from shanshui.formats.validity import Bounds, bounds, implausible, implausible_reason
from shanshui.standards.aqi import (
    DAILY_POLLUTANTS,
    HOURLY_POLLUTANTS,
    daily_aqi,
    hourly_aqi,
)
from shanshui.standards.validity import MIN_HOURS_PER_DAY

if TYPE_CHECKING:
    from shanshui.store import Store

app = typer.Typer(
    no_args_is_help=True,
    help="Air quality index (HJ 633-2012) of each row of a CSV file.",
)

#: Cells read as a missing value.
MISSING_TOKENS = frozenset({"", "NA", "NaN", "nan", "null", "NULL", "-"})
#: Columns the commands add (an input column with one of these names is refused).
RESULT_COLUMNS = (
    "AQI",
    "primary_pollutant",
    "level",
    "category",
    "category_en",
    "colour",
    "non_attainment",
)


class Rule(StrEnum):
    """HJ 633-2012 as written, or CNEMC's real-time platform practice (see ``hourly_aqi``)."""

    hj633 = "hj633"
    cnemc = "cnemc"


class InputError(PeerError):
    """A problem with the input file, reported on stderr."""


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _read(path: str) -> pd.DataFrame:
    """Read every cell as text, so that pass-through columns come out exactly as they went in."""
    source = getattr(sys.stdin, "buffer", sys.stdin) if path == "-" else path
    try:
        # utf-8-sig: a byte-order mark (as spreadsheet programs write) is not part of a name
        return pd.read_csv(
            source, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig"
        )
    except FileNotFoundError as exc:
        raise InputError(f"no such file: {path}") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path} as CSV: {exc}") from exc


def _arrow_text(column: pd.Series) -> pa.Array:
    """A text column as an Arrow string array (zero-copy for pandas' Arrow-backed strings)."""
    array = column.array
    if hasattr(array, "__arrow_array__"):
        return pa.array(array)
    return pa.array(column.to_numpy(dtype=object), type=pa.string())


#: Input columns that are not parameter names of :data:`shanshui.formats.UNITS`: the daily
#: maximum 1-hour O3 is an O3 1-hour value.
_PARAMETER_OF = {"O3_1h": "O3"}


def _column_bounds(name: str) -> Bounds | None:
    """The plausibility bounds of a pollutant column (:func:`shanshui.formats.validity.bounds`:
    20 × the column's highest HJ 633-2012 Table 1 concentration, the rule every importer,
    the HTTP ingest and the gateway apply), in the column's unit (µg/m³, CO mg/m³)."""
    parameter = _PARAMETER_OF.get(name, name)
    return bounds(parameter, UNITS.get(parameter))


def _numeric(text: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The pollutant columns as floats; a non-numeric or negative cell, or one beyond the
    column's plausibility bounds (:func:`_column_bounds`), is an error."""
    tokens = pa.array(sorted(MISSING_TOKENS))
    out = {}
    for name in columns:
        raw = pc.utf8_trim_whitespace(_arrow_text(text[name]))
        missing = pc.is_in(raw, value_set=tokens).to_numpy(zero_copy_only=False)
        try:
            cast = pc.cast(pc.if_else(pc.is_in(raw, value_set=tokens), None, raw), pa.float64())
            values = cast.to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # slow path, only to say where: every cell that is neither a number nor missing
            parsed = pd.to_numeric(text[name].where(~missing), errors="coerce")
            values = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            bad = ~missing & (np.isnan(values) | ~np.isfinite(values) | (values < 0))
        limits = _column_bounds(name)
        beyond = np.zeros(len(values), dtype=bool)
        if limits is not None:  # e.g. PM2.5 = 99999: a fault, not a reading (AQI 500)
            beyond = ~missing & ~bad & implausible(values, limits.low, limits.high)
        if bad.any() or beyond.any():
            row = int(np.flatnonzero(bad | beyond)[0])
            where = f"column {name!r}, data row {row + 1}"
            if beyond[row]:
                assert limits is not None
                raise InputError(
                    f"{implausible_reason(where, float(values[row]), name, limits)} "
                    f"({int((bad | beyond).sum())} such cells in the column)"
                )
            raise InputError(
                f"{where}: {text[name].iloc[row]!r} is not a "
                f"non-negative number ({int((bad | beyond).sum())} such cells in the column)"
            )
        out[name] = values
    return pd.DataFrame(out, index=text.index)


def _csv_field(values: pa.Array) -> pa.Array:
    """CSV text of one column: minimal quoting (as pandas and the csv module do), '' for null."""
    text = pc.cast(values, pa.large_string())
    needs = pc.match_substring_regex(text, r'[",\r\n]')
    quote, empty = pa.scalar('"', pa.large_string()), pa.scalar("", pa.large_string())
    quoted = pc.binary_join_element_wise(quote, pc.replace_substring(text, '"', '""'), quote, empty)
    return pc.fill_null(pc.if_else(needs, quoted, text), "")


def _write_csv(frame: pd.DataFrame, chunk: int = 262_144) -> None:
    """Write ``frame`` as CSV to stdout, vectorized with Arrow (pandas' writer is ~10× slower)."""
    header = _csv_field(pa.array([str(c) for c in frame.columns]))
    sys.stdout.write(",".join(header.to_pylist()) + "\n")
    for start in range(0, len(frame), chunk):
        part = frame.iloc[start : start + chunk]
        fields = [_csv_field(pa.array(part[c].array)) for c in part.columns]
        comma = pa.scalar(",", pa.large_string())
        newline, empty = pa.scalar("\n", pa.large_string()), pa.scalar("", pa.large_string())
        lines = pc.binary_join_element_wise(*fields, comma)
        lines = pc.binary_join_element_wise(lines, newline, empty)
        if isinstance(lines, pa.ChunkedArray):
            lines = lines.combine_chunks()
        # the lines lie back to back in the array's data buffer
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
        first, last = offsets[lines.offset], offsets[lines.offset + len(lines)]
        sys.stdout.write(bytes(memoryview(lines.buffers()[2])[first:last]).decode("utf-8"))


def _run(
    path: str,
    as_json: bool,
    required: Sequence[str],
    optional: Sequence[str],
    compute: Callable[[pd.DataFrame], pd.DataFrame],
) -> None:
    try:
        text = _read(path)
        absent = [c for c in required if c not in text.columns]
        if absent:
            raise InputError(
                f"missing column(s) {', '.join(absent)}; the input needs "
                f"{', '.join(required)} (got {', '.join(map(str, text.columns)) or 'none'})"
            )
        present = [c for c in (*required, *optional) if c in text.columns]
        numbers = _numeric(text, present)
        result = compute(numbers).rename(columns={"category_zh": "category"})
        ordered = [*RESULT_COLUMNS, *(c for c in result.columns if c.startswith("IAQI_"))]
        clash = [c for c in ordered if c in text.columns]
        if clash:
            raise InputError(
                f"input column(s) {', '.join(clash)} would be overwritten by the output; "
                "rename them"
            )
    except InputError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        # JSON lines: the pollutant columns as numbers, the others as the text they were
        frame = pd.concat([text.assign(**numbers), result[ordered]], axis=1)
        frame.to_json(sys.stdout, orient="records", lines=True, force_ascii=False)
    else:
        _write_csv(pd.concat([text, result[ordered]], axis=1))


def _result_columns(result: pd.DataFrame) -> list[str]:
    return [*RESULT_COLUMNS, *(c for c in result.columns if c.startswith("IAQI_"))]


def _write_store_rows(front: pd.DataFrame, result: pd.DataFrame, as_json: bool) -> None:
    """Store mode output: the key, value and count columns, then the AQI columns."""
    result = result.rename(columns={"category_zh": "category"})
    frame = pd.concat([front, result[_result_columns(result)]], axis=1)
    if as_json:
        frame.to_json(sys.stdout, orient="records", lines=True, force_ascii=False)
        return
    floats = {c: frame[c].astype("Float64") for c in frame.columns if frame[c].dtype == "float64"}
    _write_csv(frame.assign(**floats))  # NaN → empty cell, as a missing value is read


def _iso_hours(times: pd.DatetimeIndex) -> pd.Series:
    """ISO 8601 text of Beijing times (Asia/Shanghai has kept +08:00 since 1991)."""
    return pd.Series(times.strftime("%Y-%m-%dT%H:%M:%S") + "+08:00", dtype=object)


def _hourly_grid(
    store: Store,
    stations: list[str] | None,
    city: str | None,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> tuple[list[str], dict[str, np.ndarray]]:
    """Stored 1-hour values on a (site, hour) grid from ``start`` to ``end`` (exclusive).

    Only values whose HJ 212 flag is ``N`` (or none) enter (GB 3095-2012 Table 4: valid data
    only; the rule of :mod:`shanshui.standards.cube`); every other cell is NaN.
    """
    from shanshui.standards.cube import VALID_FLAGS  # noqa: PLC0415 - heavy imports when used
    from shanshui.store.reading import read_long, select_sites  # noqa: PLC0415

    codes = select_sites(store, stations, city=city)
    long = read_long(
        store,
        codes,
        start=start.to_pydatetime(),
        end=end.to_pydatetime(),
        parameters=list(HOURLY_POLLUTANTS),
    )
    n_hours = int((end - start) / pd.Timedelta(hours=1))
    keep = (long["flag"].isna() | long["flag"].isin(VALID_FLAGS)).to_numpy(dtype=bool)
    long = long[keep]
    site = pd.Categorical(long["site"], categories=codes).codes.astype(np.int64)
    offset = (long["time"] - start) // pd.Timedelta(hours=1)
    hour = offset.to_numpy(dtype=np.int64)
    grid: dict[str, np.ndarray] = {}
    for name in HOURLY_POLLUTANTS:
        cells = np.full((len(codes), n_hours), np.nan)
        rows = (long["parameter"] == name).to_numpy(dtype=bool) & (site >= 0)
        cells[site[rows], hour[rows]] = long["value"].to_numpy(dtype=np.float64)[rows]
        grid[name] = cells
    return codes, grid


def _days_span(first: dt.date, last: dt.date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Natural days first … last as [00:00 of first, 00:00 after last) in Beijing time."""
    if last < first:
        raise typer.BadParameter(f"--to {last} is before --from {first}")
    start = pd.Timestamp(first).tz_localize("Asia/Shanghai")
    return start, pd.Timestamp(last + dt.timedelta(days=1)).tz_localize("Asia/Shanghai")


def store_hourly(
    store: Store,
    stations: list[str] | None,
    city: str | None,
    first: dt.date,
    last: dt.date,
    *,
    rule: str = "hj633",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly AQI of stored station-hours: (site, time, the six values, SO2_24h) and the
    :func:`~shanshui.standards.aqi.hourly_aqi` result, row for row."""
    from shanshui.standards.statistics import trailing_mean  # noqa: PLC0415

    start, end = _days_span(first, last)
    lead = 23  # hours before the first day that the first trailing 24-hour SO2 mean needs
    codes, grid = _hourly_grid(store, stations, city, start - pd.Timedelta(hours=lead), end)
    # HJ 633-2012 Table 1 note: a 1-hour SO2 above 800 µg/m³ reports the IAQI of the 24-hour
    # mean. Choice: in real time that is the mean of the last 24 hours, ending with this one
    # (as CNEMC's SO2_24h), valid with ≥ 20 hourly values (GB 3095-2012 Table 4).
    so2_24h = trailing_mean(grid["SO2"], 24, MIN_HOURS_PER_DAY).value[:, lead:]
    values = {name: cells[:, lead:] for name, cells in grid.items()}
    present = np.zeros(values["SO2"].shape, dtype=bool)
    for cells in values.values():
        present |= ~np.isnan(cells)
    site_idx, hour_idx = np.nonzero(present)  # row-major: by site, then time
    times = start + pd.to_timedelta(hour_idx, unit="h")
    numbers = pd.DataFrame({name: values[name][site_idx, hour_idx] for name in HOURLY_POLLUTANTS})
    numbers["SO2_24h"] = so2_24h[site_idx, hour_idx]
    front = pd.concat(
        [
            pd.DataFrame(
                {
                    "site": np.asarray(codes, dtype=object)[site_idx],
                    "time": _iso_hours(pd.DatetimeIndex(times)),
                }
            ),
            numbers,
        ],
        axis=1,
    )
    return front, hourly_aqi(numbers, rule=rule)  # type: ignore[arg-type]


def store_daily(
    store: Store,
    stations: list[str] | None,
    city: str | None,
    first: dt.date,
    last: dt.date,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily AQI of stored stations: (site, date, the seven daily values with counts, valid)
    and the :func:`~shanshui.standards.aqi.daily_aqi` result, row for row (empty where a day
    is not valid)."""
    from shanshui.standards.statistics import (  # noqa: PLC0415
        daily_max_1h,
        daily_max_8h,
        daily_mean,
    )

    start, end = _days_span(first, last)
    codes, grid = _hourly_grid(store, stations, city, start, end)
    # GB 3095-2012 §3 and Table 4: 24-hour means (≥ 20 hours); HJ 663-2013: O3 daily maximum
    # 8-hour mean (≥ 14 valid windows); the daily maximum 1-hour O3 (≥ 20 hours, the
    # choice documented in daily_max_1h).
    stats = {name: daily_mean(grid[name]) for name in ("SO2", "NO2", "CO", "PM10", "PM2.5")}
    stats["O3_1h"] = daily_max_1h(grid["O3"])
    stats["O3_8h"] = daily_max_8h(grid["O3"])
    n_days = (last - first).days + 1
    days = pd.date_range(first, periods=n_days, freq="D").strftime("%Y-%m-%d")
    front = pd.DataFrame(
        {
            "site": np.repeat(np.asarray(codes, dtype=object), n_days),
            "date": np.tile(np.asarray(days, dtype=object), len(codes)),
        }
    )
    valid = np.ones(len(front), dtype=bool)
    for name in DAILY_POLLUTANTS:
        front[name] = stats[name].value.ravel()
        valid &= stats[name].valid.ravel()
    for name in DAILY_POLLUTANTS:
        front[f"{name}_windows" if name == "O3_8h" else f"{name}_hours"] = stats[name].count.ravel()
    front["valid"] = valid
    # Choice (as shanshui.standards.assessment.good_days): a day has an AQI only when all
    # seven daily inputs are valid; an AQI without a pollutant would understate the day.
    inputs = front[list(DAILY_POLLUTANTS)].where(pd.Series(valid, index=front.index), np.nan)
    return front, daily_aqi(inputs)


def _store_run(
    compute: Callable[
        [Store, list[str] | None, str | None, dt.date, dt.date], tuple[pd.DataFrame, pd.DataFrame]
    ],
    *,
    db: Path | None,
    postgres: str | None,
    stations: list[str] | None,
    city: str | None,
    start: str | None,
    end: str | None,
    as_json: bool,
) -> None:
    if bool(stations) == (city is not None):
        raise typer.BadParameter("with a store, give --station CODE (repeatable) or --city NAME")
    if start is None or end is None:
        raise typer.BadParameter("with a store, give --from DATE and --to DATE")
    first, last = _parse_day(start, last=False), _parse_day(end, last=True)
    try:
        with open_source_store(db, postgres) as store:
            front, result = compute(store, stations or None, city, first, last)
    except ShanshuiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    _write_store_rows(front, result, as_json)


PathArg = Annotated[
    str | None,
    typer.Argument(help="CSV file with a header row; '-' reads stdin (or --db / --postgres)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Write JSON lines instead of CSV.")]
DbOpt = Annotated[
    Path | None, typer.Option("--db", help="Read the embedded (DuckDB) store at PATH.")
]
PgOpt = Annotated[str | None, typer.Option("--postgres", help="Read the PostgreSQL store at URL.")]
StationOpt = Annotated[
    list[str] | None, typer.Option("--station", help="Station code (store mode; repeatable).")
]
CityOpt = Annotated[
    str | None, typer.Option("--city", help="City as the station list writes it (store mode).")
]
FromOpt = Annotated[
    str | None, typer.Option("--from", help="First day, YYYY[-MM[-DD]] (store mode).")
]
ToOpt = Annotated[
    str | None, typer.Option("--to", help="Last day, inclusive, YYYY[-MM[-DD]] (store mode).")
]


def _file_mode_only(
    path: str | None, db: Path | None, postgres: str | None, **store_options: object
) -> bool:
    """Whether to read a file; store-only options with a file are a usage error."""
    check_source([path] if path is not None else None, db, postgres, what="IN.csv")
    if path is None:
        return False
    given = [name for name, value in store_options.items() if value]
    if given:
        raise typer.BadParameter(
            f"{', '.join('--' + g for g in given)} only apply with --db or --postgres"
        )
    return True


@app.command()
def hourly(
    path: PathArg = None,
    *,
    as_json: JsonOpt = False,
    rule: Annotated[
        Rule,
        typer.Option(
            help="hj633: a 1-hour SO2 above 800 µg/m³ takes the IAQI of SO2_24h (HJ 633-2012 "
            "Table 1 note). cnemc: as CNEMC's real-time platform publishes, it takes IAQI 200, "
            "and an hour without PM2.5 and PM10 gets no AQI."
        ),
    ] = Rule.hj633,
    db: DbOpt = None,
    postgres: PgOpt = None,
    station: StationOpt = None,
    city: CityOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
) -> None:
    """Real-time (hourly) AQI from the 1-hour SO2,NO2,CO,O3,PM2.5,PM10 [+SO2_24h]."""
    if not _file_mode_only(
        path, db, postgres, station=station, city=city, **{"from": start, "to": end}
    ):
        _store_run(
            lambda *a: store_hourly(*a, rule=rule.value),
            db=db, postgres=postgres, stations=station, city=city, start=start, end=end,
            as_json=as_json,
        )  # fmt: skip
        return
    assert path is not None
    _run(
        path,
        as_json,
        HOURLY_POLLUTANTS,
        ("SO2_24h",),
        lambda frame: hourly_aqi(frame, rule=rule.value),
    )


@app.command()
def daily(
    path: PathArg = None,
    *,
    as_json: JsonOpt = False,
    db: DbOpt = None,
    postgres: PgOpt = None,
    station: StationOpt = None,
    city: CityOpt = None,
    start: FromOpt = None,
    end: ToOpt = None,
) -> None:
    """Daily AQI from the 24-hour SO2,NO2,CO,PM10,PM2.5 and the daily maxima O3_1h,O3_8h."""
    if not _file_mode_only(
        path, db, postgres, station=station, city=city, **{"from": start, "to": end}
    ):
        _store_run(
            store_daily, db=db, postgres=postgres, stations=station, city=city, start=start,
            end=end, as_json=as_json,
        )  # fmt: skip
        return
    assert path is not None
    _run(path, as_json, DAILY_POLLUTANTS, (), daily_aqi)
