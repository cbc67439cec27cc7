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


def constant_string(column: pa.Array | pa.ChunkedArray) -> str | None:
    """The string every row of a ``string`` column holds, or None if the rows differ, one
    is null, the column is empty or not of type ``string``.

    One vectorised pass over the offsets and the bytes (no hashing, no per-row compare of
    strings): the statistic and period columns of an import are one value throughout.
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    value: bytes | None = None
    for chunk in chunks:
        n = len(chunk)
        if not n:
            continue
        if chunk.type != pa.string() or chunk.null_count:
            return None
        _, offsets_buf, data_buf = chunk.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=np.int32, count=n + 1, offset=4 * chunk.offset)
        start, width = int(offsets[0]), int(offsets[1] - offsets[0])
        if int(offsets[-1]) - start != n * width:
            return None
        if width:
            if not bool(np.all(np.diff(offsets) == width)):
                return None
            data = np.frombuffer(data_buf, dtype=np.uint8, count=n * width, offset=start)
            first = data[:width].tobytes()
            if not np.array_equal(data, np.frombuffer(first * n, dtype=np.uint8)):
                return None
        else:
            first = b""
        if value is None:
            value = first
        elif first != value:
            return None
    return None if value is None else value.decode("utf-8")


def _key_codes(table: pa.Table, key: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """The key as two int64 arrays: the columns ``key[:4]``'s dictionary codes (numbered in
    order of appearance) in mixed radix, and the time [µs]; None if the codes would not fit
    in 63 bits."""
    combo = np.zeros(table.num_rows, dtype=np.int64)
    radix = 1
    for name in key[:4]:
        column = table[name]
        if constant_string(column) is not None:  # one value throughout: tells no keys apart
            continue
        if pa.types.is_integer(column.type):  # ids: their offsets from the least are codes
            span = pc.min_max(column).as_py()
            if span["min"] == span["max"]:
                continue
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
        tmin, tmax = int(time.min()), int(time.max())
        radix = int(combo.max()) + 1
        if radix * (tmax - tmin + 1) < 1 << 62:  # the whole key in one int64: one compare
            whole = combo * (tmax - tmin + 1) + (time - tmin)
            if bool(np.all(whole[1:] > whole[:-1])):
                return table, 0
        else:
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


def _check_allowed(name: str, column: pa.Array | pa.ChunkedArray, allowed: frozenset[str]) -> None:
    """StoreInputError unless every value of a string column is in ``allowed`` (a column of
    one value throughout, as an import's, is told by :func:`constant_string`: no hashing)."""
    value = constant_string(column)
    if value is not None and value in allowed:
        return
    bad = pc.invert(pc.is_in(column, value_set=pa.array(sorted(allowed))))
    if pc.any(bad).as_py():
        wrong = sorted(set(pc.filter(column, bad).to_pylist()))[:5]
        raise StoreInputError(f"unknown {name} {wrong}; allowed: {sorted(allowed)}")


def _normalise_arrow(table: pa.Table, received: datetime, source: str | None) -> pa.Table:
    """:func:`normalise` for a table of the staged types: the same checks on Arrow arrays,
    without a trip through pandas."""
    n = table.num_rows
    for name in KEY[:4]:
        nulls = table[name].null_count
        if nulls:
            raise StoreInputError(f"column {name!r} has {nulls} missing values")
    for name, allowed in (("statistic", STATISTICS), ("period", PERIODS)):
        _check_allowed(name, table[name], allowed)
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
        _check_allowed(name, cols[name], allowed)
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


#: A day [µs].
DAY_US = 86_400_000_000

#: The slots of :func:`_slot_days` [µs]: 15 minutes, the grid every hour label lies on.
SLOT_US = 900_000_000

#: The widest span of slots :func:`_slot_days` converts (about 15 years of 15 minutes).
MAX_SLOTS = 1 << 19


def _slot_days(times: np.ndarray, zone: str) -> np.ndarray:
    """The local day [days since 1970-01-01] in ``zone`` of UTC times [µs], exact.

    Hour labels lie on a 15-minute grid, so where every time does, the batch's distinct
    instants are among the slots from its first to its last time: each slot is converted
    with the zone's rules (Arrow's time-zone conversion: daylight saving time, historical
    offsets) and each time takes its slot's day (a table lookup, not a conversion per row).
    Other batches, and spans wider than :data:`MAX_SLOTS`, convert every time."""
    first, last = int(times.min()) // SLOT_US, int(times.max()) // SLOT_US
    if last - first >= MAX_SLOTS or np.any(times % SLOT_US):
        return _local_days(times, zone)
    slots = np.arange(first, last + 1, dtype=np.int64) * SLOT_US
    return _local_days(slots, zone)[times // SLOT_US - first]


def natural_days(
    site_id: pa.Array | pa.ChunkedArray,
    statistic: pa.Array | pa.ChunkedArray,
    period: pa.Array | pa.ChunkedArray,
    time: pa.Array | pa.ChunkedArray,
    zone_of: Mapping[int, str],
) -> pa.Table:
    """The distinct (``site_id``, ``day``) pairs of a batch's hourly means: ``day`` is the
    site's natural day (自然日, 00:00–24:00 local time, DESIGN §4) of the hour's start label,
    the day whose daily mean the reading enters (GB 3095-2012 Table 4, 24-hour mean).

    Each site's zone converts the batch's distinct 15-minute slots, not every row
    (:func:`_slot_days`: exact, daylight saving time included). The distinct pairs come
    from a bitmap over (site, day) where that is small (an import: a few sites × a few
    years), else a sort.

    Parameters
    ----------
    site_id, statistic, period, time : the batch's columns (``time`` UTC [µs]).
    zone_of : IANA time zone of every site id in the batch.

    Returns
    -------
    Table ``site_id`` (int32), ``day`` (date32), sorted by both; empty if the batch has no
    hourly means.
    """
    stat, per = constant_string(statistic), constant_string(period)
    if stat is not None and per is not None:  # one kind of reading throughout: no mask
        if (stat, per) != ("avg", "hour"):
            return _no_days()
    else:
        hourly = pc.and_(pc.equal(period, "hour"), pc.equal(statistic, "avg"))
        if not pc.any(hourly).as_py():
            return _no_days()
        if not pc.all(hourly).as_py():
            site_id, time = pc.filter(site_id, hourly), pc.filter(time, hourly)
    sites = _numpy(site_id).astype(np.int64)
    if not len(sites):
        return _no_days()
    times = _numpy(pc.cast(time, pa.int64())).astype(np.int64, copy=False)  # [µs]
    low, high = int(sites.min()), int(sites.max())
    if low == high:  # one site (a station's batch, an import's file): no hashing
        ids = np.array([low], dtype=np.int64)
    else:
        ids = np.sort(pc.unique(site_id).to_numpy(zero_copy_only=False).astype(np.int64))
    zones = [zone_of[int(i)] for i in ids]
    if len(set(zones)) == 1:
        days = _slot_days(times, zones[0])
    else:
        of_row = np.searchsorted(ids, sites)  # each row's site among ids
        days = np.empty_like(times)
        for zone in set(zones):
            mine = np.isin(of_row, [k for k, z in enumerate(zones) if z == zone])
            days[mine] = _slot_days(times[mine], zone)
    return _distinct_pairs(sites, days, ids)


def _no_days() -> pa.Table:
    return pa.table({"site_id": pa.array([], pa.int32()), "day": pa.array([], pa.date32())})


def _local_days(times: np.ndarray, zone: str) -> np.ndarray:
    """The local day [days since 1970-01-01] in ``zone`` of UTC times [µs]: the exact path,
    each time converted by Arrow with the zone's rules."""
    local = pc.local_timestamp(pa.array(times, pa.int64()).cast(pa.timestamp("us", tz=zone)))
    return _numpy(local.cast(pa.int64())).astype(np.int64) // DAY_US


def _distinct_pairs(sites: np.ndarray, days: np.ndarray, ids: np.ndarray) -> pa.Table:
    """The distinct (site, day) pairs of two int64 columns, sorted (``ids``: the distinct
    sites, sorted)."""
    dmin, dmax = int(days.min()), int(days.max())
    width = dmax - dmin + 1
    first, size = int(ids[0]), (int(ids[-1]) - int(ids[0]) + 1) * width
    if size <= max(4 * len(sites), 1 << 20):  # a bitmap of (site, day): one scatter
        seen = np.zeros(size, dtype=bool)
        if len(ids) == 1:
            seen[days - dmin] = True
        else:
            seen[(sites - first) * width + (days - dmin)] = True
        keys = np.flatnonzero(seen)
        pair_site, pair_day = keys // width + first, keys % width + dmin
    else:  # sparse: sort one int64 key (site in the high 32 bits, day offset in the low)
        key = np.sort((sites << 32) | (days + (1 << 31)))
        key = key[np.concatenate([[True], key[1:] != key[:-1]])]
        pair_site, pair_day = key >> 32, (key & 0xFFFFFFFF) - (1 << 31)
    return pa.table(
        {
            "site_id": pa.array(pair_site.astype(np.int32)),
            "day": pa.array(pair_day.astype(np.int32)).cast(pa.date32()),
        }
    )


def _numpy(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.to_numpy(zero_copy_only=False)
