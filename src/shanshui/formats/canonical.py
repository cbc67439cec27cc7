"""The canonical long table every reader returns, its units, and the reader errors.

See the package docstring (:mod:`shanshui.formats`) for the conventions in full.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from shanshui.errors import PeerError

#: Time zone of every timestamp the readers return (DESIGN §4: sites default to UTC+8; China
#: has kept UTC+8 without daylight saving since 1991, so local time = UTC + 8 h exactly).
TZ = "Asia/Shanghai"

#: Fixed offset of :data:`TZ` [µs]; used to localise naive local times without ambiguity.
UTC_OFFSET_US = 8 * 3600 * 1_000_000

#: One hour [µs].
HOUR_US = 3600 * 1_000_000

#: Columns of the canonical long table, in order.
COLUMNS: tuple[str, ...] = ("site", "time", "parameter", "value", "flag")

#: dtype of the ``time`` column: tz-aware, microsecond resolution (the pandas 3 default).
TIME_DTYPE = pd.DatetimeTZDtype("us", TZ)

#: The six pollutants of GB 3095-2012 table 1 / HJ 633-2012 that are measured hourly.
POLLUTANTS: tuple[str, ...] = ("PM2.5", "PM10", "SO2", "NO2", "O3", "CO")

#: Unit of every parameter the readers produce. Concentrations are mass concentrations as
#: GB 3095-2012 states its limits: µg/m³, except CO in mg/m³. The derived CNEMC columns keep
#: the unit of their pollutant; AQI is dimensionless (HJ 633-2012).
UNITS: dict[str, str] = {
    "PM2.5": "µg/m³",
    "PM10": "µg/m³",
    "SO2": "µg/m³",
    "NO2": "µg/m³",
    "O3": "µg/m³",
    "CO": "mg/m³",
    # CNEMC derived ("rolling") types, only with read_cnemc(..., derived=True)
    "PM2.5_24h": "µg/m³",
    "PM10_24h": "µg/m³",
    "SO2_24h": "µg/m³",
    "NO2_24h": "µg/m³",
    "O3_24h": "µg/m³",
    "O3_8h": "µg/m³",
    "O3_8h_24h": "µg/m³",
    "CO_24h": "mg/m³",
    "AQI": "1",
    # meteorology (PRSA files)
    "TEMP": "°C",
    "PRES": "hPa",
    "DEWP": "°C",
    "RAIN": "mm",
    "WSPM": "m/s",
    "WD": "°",
}

#: Flag of a value the source published as a normal, valid measurement (HJ 212-2017 table
#: "数据标记": N = 在线监控（监测）仪器仪表工作正常).
FLAG_NORMAL = "N"


def unit_of(parameter: str) -> str:
    """Unit of a canonical parameter name, e.g. ``unit_of("CO") == "mg/m³"``.

    Raises ``KeyError`` for a parameter no reader produces.
    """
    return UNITS[parameter]


@dataclass(frozen=True)
class BadRow:
    """One row of a source file that was not imported, and why."""

    file: str
    """Path of the file, as given to the reader."""
    line: int
    """1-based physical line number in the (decompressed) file; the header is line 1."""
    reason: str


class FormatError(PeerError):
    """A file (or a row of it) that is not in the format its reader expects.

    ``file`` and ``line`` (1-based; 0 when the whole file is meant) say where.
    """

    def __init__(self, file: str | os.PathLike[str], line: int, reason: str) -> None:
        self.file = str(file)
        self.line = line
        self.reason = reason
        where = f"{self.file}:{line}" if line else self.file
        super().__init__(f"{where}: {reason}")

    @classmethod
    def from_bad_row(cls, bad: BadRow) -> FormatError:
        """The error that a bad row raises when the caller asked for ``errors="raise"``."""
        return cls(bad.file, bad.line, bad.reason)


#: The canonical long table as Arrow (what :attr:`Chunk.table` holds and the importer hands
#: to the store): the string columns dictionary-encoded (a few distinct codes over millions
#: of rows) with *compact* dictionaries (every dictionary value occurs in its chunk, so the
#: dictionary is the chunk's distinct values), ``time`` as µs since the epoch labelled UTC
#: (the same instants as the frame's Beijing times; Arrow keeps the zone as metadata only).
ARROW_SCHEMA = pa.schema(
    [
        ("site", pa.dictionary(pa.int32(), pa.string())),
        ("time", pa.timestamp("us", tz="UTC")),
        ("parameter", pa.dictionary(pa.int32(), pa.string())),
        ("value", pa.float64()),
        ("flag", pa.dictionary(pa.int32(), pa.string())),
    ]
)


class Chunk:
    """A piece of a file read by :func:`shanshui.formats.iter_chunks`.

    The good rows come as a canonical long table, either as a pandas ``frame`` or as an
    Arrow ``table`` of :data:`ARROW_SCHEMA` (readers give one; the other is converted on
    first use and kept). ``bad`` holds the rows left out. ``position`` and ``size`` are bytes
    of the file on disk (compressed size for ``.gz``): how far reading has got, for a
    progress bar. ``lines``: source lines covered by this chunk (good and bad, excluding the
    header). ``units``: units of parameters that are not in :data:`UNITS` (long CSV).
    """

    def __init__(  # noqa: PLR0917 - the positional order of the former dataclass
        self,
        file: str,
        frame: pd.DataFrame | None = None,
        bad: list[BadRow] | None = None,
        position: int = 0,
        size: int = 0,
        lines: int = 0,
        *,
        table: pa.Table | None = None,
        categorical: bool = False,
    ) -> None:
        if frame is None and table is None:
            raise ValueError("a chunk needs a frame or a table")
        self.file = file
        self.bad: list[BadRow] = list(bad or [])
        self.position = position
        self.size = size
        self.lines = lines
        self.categorical = categorical
        """Whether :attr:`frame` (when made from the table) has Categorical string columns."""
        self.from_table = frame is None
        """Whether the reader gave the rows as an Arrow table (the frame is derived)."""
        self._frame = frame
        self._table = table

    @property
    def frame(self) -> pd.DataFrame:
        """The good rows as a canonical pandas long table."""
        if self._frame is None:
            assert self._table is not None
            self._frame = arrow_to_frame(self._table, self.categorical)
        return self._frame

    @property
    def table(self) -> pa.Table:
        """The good rows as an Arrow table of :data:`ARROW_SCHEMA`."""
        if self._table is None:
            assert self._frame is not None
            self._table = frame_to_arrow(self._frame)
        return self._table

    @property
    def rows(self) -> int:
        """Number of good rows (values)."""
        return len(self._frame) if self._frame is not None else int(self.table.num_rows)

    @property
    def units(self) -> dict[str, str]:
        """Units the file itself gives for its parameters (a long CSV's ``unit`` column)."""
        if self._frame is None:
            return {}
        units: dict[str, str] = self._frame.attrs.get("units", {})
        return units

    def __repr__(self) -> str:
        return (
            f"Chunk({self.file!r}, rows={self.rows}, bad={len(self.bad)}, "
            f"lines={self.lines}, position={self.position}/{self.size})"
        )


_STRING = pa.string()


def dict_strings(names: list[str], index: np.ndarray) -> pa.DictionaryArray:
    """``names[index]`` as an Arrow dictionary array whose dictionary holds only the names
    that occur (so that ``dictionary`` is the column's distinct values)."""
    index = np.asarray(index)
    used = np.unique(index) if len(index) else np.array([], dtype=np.int64)
    if len(used) == len(names):
        codes = index.astype(np.int32, copy=False)
        dictionary = pa.array(names, pa.string())
    else:
        remap = np.full(len(names), -1, dtype=np.int32)
        remap[used] = np.arange(len(used), dtype=np.int32)
        codes = remap[index]
        dictionary = pa.array([names[i] for i in used], pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), dictionary, safe=False)


def dict_runs(names: list[str], counts: np.ndarray) -> pa.DictionaryArray:
    """``names[0]`` repeated ``counts[0]`` times, then ``names[1]`` …, as a dictionary array
    (only the names with a non-zero count in the dictionary)."""
    counts = np.asarray(counts, dtype=np.int64)
    keep = np.flatnonzero(counts > 0)
    if len(keep) == 1:  # one value throughout (a site, a flag): zeros, no repeat
        codes = np.zeros(int(counts[keep[0]]), dtype=np.int32)
    else:  # each run a slice fill (a memset): cheaper than np.repeat
        codes = np.empty(int(counts.sum()), dtype=np.int32)
        ends = np.cumsum(counts[keep])
        for code, (start, end) in enumerate(zip(ends - counts[keep], ends, strict=True)):
            codes[start:end] = code
    dictionary = pa.array([names[i] for i in keep], pa.string())
    # codes built in range: no validation pass over them
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), dictionary, safe=False)


def constant_strings(value: str, n: int, kind: pa.DataType = _STRING) -> pa.Array:
    """``value`` ``n`` times as an Arrow ``string`` (or ``large_string``: ``kind``) array,
    built from its buffers (offsets ``0, k, 2k, …`` and the repeated bytes: no per-row
    work). A ``string`` array holds < 2 GiB."""
    encoded = value.encode("utf-8")
    width = np.int64 if kind == pa.large_string() else np.int32
    offsets = np.arange(n + 1, dtype=width) * width(len(encoded))
    return pa.Array.from_buffers(kind, n, [None, pa.py_buffer(offsets), pa.py_buffer(encoded * n)])


def plain_strings(column: pa.ChunkedArray, kind: pa.DataType = _STRING) -> pa.ChunkedArray:
    """A dictionary (or string) column as Arrow ``string`` (or ``large_string``: ``kind``),
    built from its runs of equal codes.

    A canonical column is a few long runs (one site per file, one parameter per block of
    rows), so its offsets and bytes are written run by run: about a tenth of the cost of a
    gather (``cast``) per row. Other columns are cast. A ``string`` chunk holds < 2 GiB.
    """
    if not pa.types.is_dictionary(column.type):
        return column.cast(kind)
    parts = []
    for part in column.chunks:
        codes = part.indices.to_numpy(zero_copy_only=False)
        if part.null_count or not len(codes):
            parts.append(part.cast(kind))
            continue
        starts = np.flatnonzero(np.diff(codes)) + 1
        if len(starts) > len(codes) // 64:  # not a few runs: a gather is as good
            parts.append(part.cast(kind))
            continue
        if not len(starts):  # one run
            value = part.dictionary[int(codes[0])].as_py()
            parts.append(constant_strings(value, len(codes), kind))
            continue
        bounds = np.concatenate([[0], starts, [len(codes)]])
        run_codes = codes[bounds[:-1]]
        counts = np.diff(bounds)
        names = [v.encode("utf-8") for v in part.dictionary.to_pylist()]
        width = np.int64 if kind == pa.large_string() else np.int32
        size = np.array([len(names[c]) for c in run_codes], dtype=width)
        offsets = np.empty(len(codes) + 1, dtype=width)
        offsets[0] = 0
        np.cumsum(np.repeat(size, counts), out=offsets[1:])
        data = b"".join(names[c] * int(k) for c, k in zip(run_codes, counts, strict=True))
        parts.append(
            pa.Array.from_buffers(
                kind, len(codes), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
            )
        )
    return pa.chunked_array(parts, kind)


def utc_us_array(utc_us: np.ndarray) -> pa.Array:
    """int64 µs since the epoch → Arrow ``timestamp[us, UTC]`` (no copy)."""
    data = np.ascontiguousarray(utc_us, dtype=np.int64)
    return pa.Array.from_buffers(
        pa.timestamp("us", tz="UTC"), len(data), [None, pa.py_buffer(data)]
    )


def arrow_table(
    site: pa.Array, utc_us: np.ndarray, parameter: pa.Array, value: np.ndarray, flag: pa.Array
) -> pa.Table:
    """Assemble a table of :data:`ARROW_SCHEMA` from its columns."""
    return pa.Table.from_arrays(
        [site, utc_us_array(utc_us), parameter, pa.array(value, pa.float64()), flag],
        schema=ARROW_SCHEMA,
    )


def _dict_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        if column.type != ARROW_SCHEMA.field("site").type:
            column = column.cast(pa.dictionary(pa.int32(), column.type.value_type))
        if column.type.value_type != pa.string():
            column = column.cast(ARROW_SCHEMA.field("site").type)
        return column
    return pc.dictionary_encode(column.cast(pa.string()))


def frame_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """A canonical pandas long table as an Arrow table of :data:`ARROW_SCHEMA`.

    String columns (``str`` or Categorical) are dictionary-encoded; times must be tz-aware
    (the readers' frames always are), else ``TypeError``.
    """
    times = frame["time"]
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        raise TypeError(f"column 'time' must hold tz-aware times, not {times.dtype}")
    columns = []
    for name in COLUMNS:
        if name == "time":
            columns.append(pa.chunked_array([utc_us_array(utc_us(times))]))
        elif name == "value":
            columns.append(pa.chunked_array([pa.array(frame["value"], pa.float64())]))
        else:
            values = frame[name]
            if isinstance(values.dtype, pd.CategoricalDtype):  # compact: used values only
                values = values.cat.remove_unused_categories()
            data = pa.array(values) if len(frame) else pa.array([], pa.string())
            columns.append(_dict_column(pa.chunked_array([data])))
    return pa.Table.from_arrays(columns, schema=ARROW_SCHEMA)


def utc_us(column: pd.Series) -> np.ndarray:
    """µs since the epoch (UTC) of a tz-aware column, without a copy when already in µs."""
    times: Any = column.array
    if times.unit != "us":
        times = times.as_unit("us")
    values: np.ndarray = times.asi8
    return values


def arrow_to_frame(table: pa.Table, categorical: bool = False) -> pd.DataFrame:
    """An Arrow table of :data:`ARROW_SCHEMA` as the canonical pandas long table.

    ``categorical``: string columns as pandas Categoricals (else ``str``).
    """
    columns: dict[str, Any] = {}
    for name in ("site", "parameter", "flag"):
        column = table[name]
        if categorical:
            unified = column.unify_dictionaries() if column.num_chunks > 1 else column
            chunks = unified.chunks
            if chunks:
                dictionary = chunks[0].dictionary
                codes = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in chunks])
            else:
                dictionary, codes = pa.array([], pa.string()), np.array([], dtype=np.int32)
            names = dictionary.to_pylist()
            columns[name] = pd.Categorical.from_codes(
                codes.astype(_code_type(len(names))), categories=_categories(names), validate=False
            )
        else:
            plain = (
                plain_strings(column, pa.large_string())
                if len(column)
                else pa.chunked_array([], pa.large_string())
            )
            columns[name] = pd.array(plain, dtype="str")
    time = table["time"].combine_chunks() if table.num_rows else pa.array([], pa.int64())
    utc = time.cast(pa.int64()).to_numpy(zero_copy_only=False)
    columns["time"] = pd.Series(utc_to_time(utc), copy=False).array
    columns["value"] = table["value"].to_numpy()
    return pd.DataFrame({c: columns[c] for c in COLUMNS}, copy=False)


def _str_array(values: np.ndarray | list[str]) -> pd.api.extensions.ExtensionArray:
    return pd.array(values, dtype="str")


#: A string column of the long table: pandas ``str`` (default) or a ``Categorical``.
StrColumn = pd.api.extensions.ExtensionArray


def take_strings(names: list[str], index: np.ndarray, categorical: bool = False) -> StrColumn:
    """``names[index]`` as a pandas ``str`` array, built in Arrow (fast for long columns).

    ``categorical``: a :class:`pandas.Categorical` with categories ``names`` (unique) instead.
    """
    if categorical:
        codes = np.asarray(index).astype(_code_type(len(names)), copy=False)
        return pd.Categorical.from_codes(codes, categories=_categories(names), validate=False)
    taken = pc.take(pa.array(names, pa.large_string()), pa.array(index, pa.int32()))
    result: StrColumn = pd.array(taken, dtype="str")
    return result


def _categories(names: list[str]) -> pd.Index:
    return pd.Index(names, dtype="str")


def _code_type(n: int) -> type[np.signedinteger[Any]]:
    return np.int8 if n < 128 else np.int16 if n < 32768 else np.int32


def run_strings(names: list[str], counts: np.ndarray, categorical: bool = False) -> StrColumn:
    """``names[0]`` repeated ``counts[0]`` times, then ``names[1]`` …, as a ``str`` array.

    Built straight into Arrow buffers (offsets and repeated bytes): much cheaper than a
    gather when a long column consists of few runs (one site per file, one parameter per
    block of rows). ``categorical``: a :class:`pandas.Categorical` instead.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if categorical:
        codes = np.repeat(np.arange(len(names), dtype=_code_type(len(names))), counts)
        return pd.Categorical.from_codes(codes, categories=_categories(names), validate=False)
    encoded = [name.encode("utf-8") for name in names]
    total = int(counts.sum())
    offsets = np.empty(total + 1, dtype=np.int64)
    offsets[0] = pos = row = 0
    for e, k in zip(encoded, counts.tolist(), strict=True):
        # offsets of a run of k copies of e: pos + len(e), pos + 2 len(e), …
        step = len(e)
        if step:
            offsets[row + 1 : row + k + 1] = np.arange(pos + step, pos + step * k + 1, step)
        else:
            offsets[row + 1 : row + k + 1] = pos
        row += k
        pos += k * len(e)
    if len(encoded) == 1:
        data = encoded[0] * int(counts[0])
    else:
        data = b"".join(e * int(k) for e, k in zip(encoded, counts, strict=True))
    array = pa.Array.from_buffers(
        pa.large_string(), total, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    result: StrColumn = pd.array(array, dtype="str")
    return result


def factorize_map(
    values: pd.Series, mapping: dict[str, Any], default: float = np.nan
) -> np.ndarray:
    """``values.map(mapping)`` as float64, computed on the distinct values only (fast)."""
    codes, uniques = pd.factorize(values)
    table = np.array([mapping.get(u, default) for u in uniques] + [default], dtype=np.float64)
    return table[codes]  # code -1 (missing) picks the trailing default


def arrow_map(values: pa.Array, mapping: dict[str, Any], default: float = np.nan) -> np.ndarray:
    """``mapping[value]`` for each string of an Arrow array, as float64 (``default`` for
    nulls and strings not in the mapping); computed on the distinct strings only."""
    encoded = pc.dictionary_encode(values)
    uniques = encoded.dictionary.to_pylist()
    table = np.array([mapping.get(u, default) for u in uniques] + [default], dtype=np.float64)
    codes = encoded.indices.fill_null(len(uniques)).to_numpy(zero_copy_only=False)
    result: np.ndarray = table[codes]
    return result


def empty_frame() -> pd.DataFrame:
    """A canonical long table without rows (right columns and dtypes)."""
    return pd.DataFrame(
        {
            "site": _str_array([]),
            "time": pd.Series([], dtype=TIME_DTYPE),
            "parameter": _str_array([]),
            "value": np.array([], dtype=np.float64),
            "flag": _str_array([]),
        }
    )


_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def civil_days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates given as float arrays.

    Returns float64 with NaN where the triple is not a valid date (not whole numbers, month
    outside 1..12, day outside the month, or year outside 1..9999). Vectorised "days from
    civil" arithmetic (era of 400 years, March-based year), no Python loop.
    """
    y, m, d = (np.asarray(a, dtype=np.float64) for a in (year, month, day))
    whole = (y == np.floor(y)) & (m == np.floor(m)) & (d == np.floor(d))
    ok = whole & (y >= 1) & (y <= 9999) & (m >= 1) & (m <= 12) & (d >= 1)
    yi = np.where(ok, y, 1970).astype(np.int64)
    mi = np.where(ok, m, 1).astype(np.int64)
    di = np.where(ok, d, 1).astype(np.int64)
    leap = ((yi % 4 == 0) & (yi % 100 != 0)) | (yi % 400 == 0)
    length = _DAYS_IN_MONTH[mi - 1] + ((mi == 2) & leap)
    ok &= di <= length
    ya = yi - (mi <= 2)
    era = ya // 400
    yoe = ya - era * 400
    doy = (153 * (mi + np.where(mi > 2, -3, 9)) + 2) // 5 + di - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = (era * 146097 + doe - 719468).astype(np.float64)
    return np.where(ok, days, np.nan)


def days_of_runs(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """:func:`civil_days` of rows that come in runs of one date (hourly rows: 24 a day),
    computed once per run (the same result, a fraction of the work)."""
    y, m, d = (np.asarray(a, dtype=np.float64) for a in (year, month, day))
    if len(y) < 2:
        return civil_days(y, m, d)
    change = (y[1:] != y[:-1]) | (m[1:] != m[:-1]) | (d[1:] != d[:-1])
    starts = np.concatenate([[0], np.flatnonzero(change) + 1])
    if len(starts) * 4 > len(y):  # short runs: no gain
        return civil_days(y, m, d)
    lengths = np.diff(np.append(starts, len(y)))
    return np.repeat(civil_days(y[starts], m[starts], d[starts]), lengths)


def utc_to_time(utc_us: np.ndarray) -> pd.DatetimeIndex:
    """int64 µs since the epoch (UTC) → tz-aware :data:`TZ` times (no copy of the data)."""
    # Arrow builds the tz-aware array straight from the UTC integers (pandas' own
    # constructors take a slower path that re-localises naive values)
    arrow = pa.array(np.asarray(utc_us, dtype=np.int64), pa.timestamp("us", tz=TZ))
    return pd.DatetimeIndex(arrow.to_pandas())


def local_to_time(local_us: np.ndarray) -> pd.DatetimeIndex:
    """Naive Beijing local times (int64 µs since 1970-01-01 00:00 local) → tz-aware times."""
    return utc_to_time(np.asarray(local_us, dtype=np.int64) - UTC_OFFSET_US)


def build_frame(
    site: np.ndarray | StrColumn,
    time: pd.DatetimeIndex | pd.Series,
    parameter: np.ndarray | StrColumn,
    value: np.ndarray,
    flag: np.ndarray | StrColumn | str = FLAG_NORMAL,
    *,
    categorical: bool = False,
) -> pd.DataFrame:
    """Assemble a canonical long table with the canonical dtypes from column arrays.

    String columns may be given as arrays of ``str`` dtype or as Categoricals (kept as they
    are: build long ones with :func:`take_strings` / :func:`run_strings`) or as anything
    :func:`pandas.array` accepts. ``categorical`` only concerns a constant ``flag``.
    """
    n = len(value)
    if isinstance(flag, str):
        flag = run_strings([flag], np.array([n]), categorical)
    return pd.DataFrame(
        {
            "site": _as_str(site),
            "time": pd.Series(time, dtype=TIME_DTYPE).array,
            "parameter": _as_str(parameter),
            "value": np.asarray(value, dtype=np.float64),
            "flag": _as_str(flag),
        },
        copy=False,
    )


def _as_str(values: np.ndarray | StrColumn) -> StrColumn:
    if isinstance(values, pd.Categorical):
        return values
    if isinstance(values, pd.api.extensions.ExtensionArray) and isinstance(
        values.dtype, pd.StringDtype
    ):
        return values
    result: StrColumn = pd.array(np.asarray(values), dtype="str")
    return result
