"""Checking and normalising a batch of readings into the Arrow table the stores stage.

Vectorised: the cost per row is a few array operations, not Python code, except for batches
given as Python tuples (which already cost Python per row).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shanshui.store.api import PERIODS, STATISTICS, Observation, ObservationBatch, StoreInputError

KEY = ["site", "parameter", "statistic", "period", "time"]
FIELDS = list(Observation._fields)
TIME = pa.timestamp("us", tz="UTC")
#: A checked batch by codes (the write path then maps the codes to ids, ``stages.OBS_STAGE``).
STAGE_SCHEMA = pa.schema(
    [
        ("site", pa.string()),
        ("parameter", pa.string()),
        ("statistic", pa.string()),
        ("period", pa.string()),
        ("time", TIME),
        ("value", pa.float64()),
        ("flag", pa.string()),
        ("received", TIME),
        ("source", pa.string()),
    ]
)


def _frame(batch: ObservationBatch) -> pd.DataFrame:
    if isinstance(batch, pd.DataFrame):
        return batch
    if isinstance(batch, pa.Table):
        return batch.to_pandas()
    if isinstance(batch, (str, bytes)) or not hasattr(batch, "__len__"):
        raise StoreInputError(
            f"a batch is a DataFrame, an Arrow table or a sequence of tuples, not {type(batch)}"
        )
    rows = list(batch)
    width = len(FIELDS)
    padded = []
    for i, row in enumerate(rows):
        if not isinstance(row, tuple) or not 6 <= len(row) <= width:
            raise StoreInputError(f"row {i}: expected a tuple of 6 to {width} fields, got {row!r}")
        padded.append(tuple(row) + (None,) * (width - len(row)))
    return pd.DataFrame(padded, columns=FIELDS)


def _strings(frame: pd.DataFrame, name: str, *, nullable: bool) -> pa.Array:
    try:
        arr = pa.array(frame[name], type=pa.string(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        raise StoreInputError(f"column {name!r} must hold strings: {exc}") from None
    if not nullable and arr.null_count:
        raise StoreInputError(f"column {name!r} has {arr.null_count} missing values")
    return arr


def _times(frame: pd.DataFrame, name: str, default: datetime | None) -> pa.Array:
    if default is not None and (name not in frame.columns or frame[name].isna().all()):
        return pa.repeat(pa.scalar(default, type=TIME), len(frame))
    col = frame[name]
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        utc = col.dt.tz_convert("UTC")
    elif col.dtype == object and all(
        isinstance(x, datetime) and x.tzinfo is not None and x.utcoffset() is not None for x in col
    ):
        utc = pd.to_datetime(col, utc=True)
    else:
        raise StoreInputError(
            f"column {name!r} must hold timezone-aware datetimes (naive times are ambiguous, "
            f"DESIGN §4), got dtype {col.dtype}"
        )
    if utc.isna().any():
        raise StoreInputError(f"column {name!r} has missing times")
    try:
        return pa.array(utc, type=TIME)
    except pa.ArrowInvalid as exc:  # finer than a microsecond
        raise StoreInputError(f"column {name!r}: {exc}") from None


#: Columns that may also come dictionary-encoded (strings): the write path maps their few
#: distinct codes to ids without decoding every row (an importer's readers produce them).
CODES = ("site", "parameter")


def _is_codes(name: str, kind: pa.DataType) -> bool:
    return (
        name in CODES
        and pa.types.is_dictionary(kind)
        and kind.value_type == pa.string()
        and pa.types.is_integer(kind.index_type)
    )


def _arrow_ready(batch: ObservationBatch) -> bool:
    """Whether ``batch`` is an Arrow table whose columns have the staged types already
    (``site`` and ``parameter`` also as dictionaries of strings)."""
    if not isinstance(batch, pa.Table):
        return False
    schema = batch.schema
    for f in STAGE_SCHEMA:
        i = schema.get_field_index(f.name)
        if i < 0:
            return False
        kind = schema.field(i).type
        if kind != f.type and not _is_codes(f.name, kind):
            return False
    return True


def _key_codes(table: pa.Table, key: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """The key as two int64 arrays: the columns ``key[:4]``'s dictionary codes (numbered in
    order of appearance) in mixed radix, and the time [µs]; None if the codes would not fit
    in 63 bits."""
    combo = np.zeros(table.num_rows, dtype=np.int64)
    radix = 1
    for name in key[:4]:
        column = table[name]
        span = pc.min_max(column).as_py()
        if span["min"] == span["max"]:  # one value throughout: tells no keys apart
            continue
        if pa.types.is_integer(column.type):  # ids: their offsets from the least are codes
            size = int(span["max"]) - int(span["min"]) + 1
            codes = _numpy(column).astype(np.int64) - int(span["min"])
        else:
            encoded = pc.dictionary_encode(column.combine_chunks())
            size = len(encoded.dictionary)
            codes = encoded.indices.to_numpy(zero_copy_only=False)
        radix *= size
        if radix >= 1 << 62:
            return None
        combo = combo * size + codes
    time = table["time"].combine_chunks().cast(pa.int64()).to_numpy(zero_copy_only=False)
    return combo, time


def last_of_keys(table: pa.Table, key: Sequence[str] = KEY) -> tuple[pa.Table, int]:
    """``table`` without repeated keys (the last row of a key wins); rows dropped.

    ``key``: the key's columns, ``time`` last (codes, or the integer ids of migration 0004).

    Rows in key order without repeats (a file read station by station, parameter by
    parameter, hour by hour) are recognised in one vectorised pass (dictionary codes are
    numbered in order of appearance; ids by value); other batches are sorted by key to look
    for repeats, and grouped by key with Arrow only if there are some.
    """
    if table.num_rows < 2:
        return table, 0
    codes = _key_codes(table, key)
    if codes is not None:
        combo, time = codes
        step = np.diff(combo)
        if bool(np.all((step > 0) | ((step == 0) & (np.diff(time) > 0)))):
            return table, 0
        # not in key order (ids need not follow the codes' order): sort to look for repeats
        order = np.lexsort((time, combo))
        if not bool(np.any((np.diff(combo[order]) == 0) & (np.diff(time[order]) == 0))):
            return table, 0
        keys = pa.table({"c": combo, "t": time, "_row": np.arange(table.num_rows)})
        last = keys.group_by(["c", "t"], use_threads=False).aggregate([("_row", "max")])
    else:
        keys = table.select(list(key)).append_column("_row", pa.array(np.arange(table.num_rows)))
        last = keys.group_by(list(key), use_threads=False).aggregate([("_row", "max")])
    dropped = table.num_rows - last.num_rows
    if dropped:
        rows = last["_row_max"]
        table = table.take(pc.take(rows, pc.sort_indices(rows)))
    return table, dropped


def _normalise_arrow(table: pa.Table, received: datetime, source: str | None) -> pa.Table:
    """:func:`normalise` for a table of the staged types: the same checks on Arrow arrays,
    without a trip through pandas."""
    n = table.num_rows
    for name in KEY[:4]:
        nulls = table[name].null_count
        if nulls:
            raise StoreInputError(f"column {name!r} has {nulls} missing values")
    for name, allowed in (("statistic", STATISTICS), ("period", PERIODS)):
        bad = pc.invert(pc.is_in(table[name], value_set=pa.array(sorted(allowed))))
        if pc.any(bad).as_py():
            wrong = sorted(set(pc.filter(table[name], bad).to_pylist()))[:5]
            raise StoreInputError(f"unknown {name} {wrong}; allowed: {sorted(allowed)}")
    if table["time"].null_count:
        raise StoreInputError("column 'time' has missing times")
    values = table["value"]
    if values.null_count or not pc.all(pc.is_finite(values)).as_py():
        raise StoreInputError(
            "column 'value' has missing, NaN or infinite values; a reading without a value "
            "is not stored"
        )
    recv = table["received"]
    if recv.null_count == n:
        recv = pa.repeat(pa.scalar(received, type=TIME), n)
    elif recv.null_count:
        raise StoreInputError("column 'received' has missing times")
    src = table["source"]
    if src.null_count == n:
        src = pa.repeat(pa.scalar(source, pa.string()), n)
    cols = [table[name] for name in ("site", "parameter", "statistic", "period", "time")]
    cols += [values, table["flag"], recv, src]
    schema = pa.schema(
        [
            pa.field(f.name, c.type) if f.name in CODES else f
            for f, c in zip(STAGE_SCHEMA, cols, strict=True)
        ]
    )
    return pa.Table.from_arrays(cols, schema=schema)


def normalise(
    batch: ObservationBatch, *, received: datetime, source: str | None
) -> tuple[pa.Table, int]:
    """Check a batch and return it as a table of :data:`STAGE_SCHEMA`
    without repeated keys (the last row of a key wins), and the number of rows dropped."""
    table = checked(batch, received=received, source=source)
    for name in CODES:
        if pa.types.is_dictionary(table.schema.field(name).type):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, table[name].cast(pa.string()))
    return last_of_keys(table)


def checked(batch: ObservationBatch, *, received: datetime, source: str | None) -> pa.Table:
    """Check a batch and return it as a table of :data:`STAGE_SCHEMA`, repeated keys still
    in it (the write path drops them on the integer keys: :func:`last_of_keys`); ``site``
    and ``parameter`` stay dictionary-encoded where they came so."""
    if _arrow_ready(batch):
        assert isinstance(batch, pa.Table)
        if batch.num_rows == 0:
            return STAGE_SCHEMA.empty_table()
        return _normalise_arrow(batch, received, source)
    frame = _frame(batch)
    missing = [c for c in FIELDS[:6] if c not in frame.columns]
    if missing:
        raise StoreInputError(f"batch lacks columns {missing}")
    if len(frame) == 0:
        return STAGE_SCHEMA.empty_table()
    cols: dict[str, Any] = {c: _strings(frame, c, nullable=False) for c in KEY[:4]}
    for name, allowed in (("statistic", STATISTICS), ("period", PERIODS)):
        bad = pc.invert(pc.is_in(cols[name], value_set=pa.array(sorted(allowed))))
        if pc.any(bad).as_py():
            wrong = sorted(set(pc.filter(cols[name], bad).to_pylist()))[:5]
            raise StoreInputError(f"unknown {name} {wrong}; allowed: {sorted(allowed)}")
    cols["time"] = _times(frame, "time", None)
    value = frame["value"]
    if value.dtype == bool or not (
        pd.api.types.is_numeric_dtype(value.dtype)
        or (
            value.dtype == object
            and all(
                isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in value
            )
        )
    ):
        raise StoreInputError(f"column 'value' must be numeric, got dtype {value.dtype}")
    try:
        values = pa.array(value, type=pa.float64(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        raise StoreInputError(f"column 'value' must be numeric: {exc}") from None
    finite = pc.is_finite(values)
    if values.null_count or not pc.all(finite).as_py():
        raise StoreInputError(
            "column 'value' has missing, NaN or infinite values; a reading without a value "
            "is not stored"
        )
    cols["value"] = values
    n = len(frame)
    cols["flag"] = (
        _strings(frame, "flag", nullable=True)
        if "flag" in frame.columns
        else pa.nulls(n, pa.string())
    )
    cols["received"] = _times(frame, "received", received)
    if "source" in frame.columns and not frame["source"].isna().all():
        cols["source"] = _strings(frame, "source", nullable=True)
    else:
        cols["source"] = pa.array([source] * n, type=pa.string())
    return pa.Table.from_pydict(cols, schema=STAGE_SCHEMA)


def natural_days(
    site_id: pa.Array,
    statistic: pa.Array,
    period: pa.Array,
    time: pa.Array,
    zone_of: Mapping[int, str],
) -> pa.Table:
    """The distinct (``site_id``, ``day``) pairs of a batch's hourly means: ``day`` is the
    site's natural day (自然日, 00:00–24:00 local time, DESIGN §4) of the hour's start label,
    the day whose daily mean the reading enters (GB 3095-2012 Table 4, 24-hour mean).

    The time-zone arithmetic runs on the batch's distinct times only (a station batch: one
    hour; an import of ten parameters: a tenth of its rows); the days reach the rows through
    an integer gather.

    Parameters
    ----------
    site_id, statistic, period, time : the batch's columns (``time`` UTC [µs]).
    zone_of : IANA time zone of every site id in the batch.

    Returns
    -------
    Table ``site_id`` (int32), ``day`` (date32); empty if the batch has no hourly means.
    """
    hourly = pc.and_(pc.equal(period, "hour"), pc.equal(statistic, "avg"))
    if not pc.any(hourly).as_py():
        return pa.table({"site_id": pa.array([], pa.int32()), "day": pa.array([], pa.date32())})
    if not pc.all(hourly).as_py():
        site_id, time = pc.filter(site_id, hourly), pc.filter(time, hourly)
    sites = _numpy(site_id).astype(np.int64)
    distinct = pc.unique(time)
    where = _numpy(pc.index_in(time, value_set=distinct))
    zones = sorted({zone_of[i] for i in np.unique(sites).tolist()})
    days = np.zeros(len(sites), dtype=np.int64)
    for zone in zones:
        local = pc.local_timestamp(distinct.cast(pa.timestamp("us", tz=zone)))
        day = _numpy(local.cast(pa.date32()).cast(pa.int32()))[where]  # days since 1970-01-01
        if len(zones) == 1:
            days = day.astype(np.int64)
            break
        mine = np.isin(sites, [i for i, z in zone_of.items() if z == zone])
        days[mine] = day[mine]
    # distinct (site, day) pairs through one int64 key: site in the high 32 bits, the day
    # (offset to be non-negative) in the low 32
    pairs = np.unique((sites << 32) | (days + (1 << 31)))
    return pa.table(
        {
            "site_id": pa.array((pairs >> 32).astype(np.int32)),
            "day": pa.array(((pairs & 0xFFFFFFFF) - (1 << 31)).astype(np.int32)).cast(pa.date32()),
        }
    )


def _numpy(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.to_numpy(zero_copy_only=False)
