"""CNEMC national station files as archived by quotsoft.net/air: ``china_sites_YYYYMMDD.csv``.

Layout (wide): ``date,hour,type,<station code>…`` — one row per (hour, type), one column per
station; an empty cell is no value. ``type`` is a measured 1-hour pollutant (``PM2.5 PM10
SO2 NO2 O3 CO``), a rolling value CNEMC derives from them (``PM2.5_24h``, ``O3_8h``, …) or
the hourly ``AQI``. Units: µg/m³, CO mg/m³, AQI dimensionless.

Hour label: CNEMC's hour ``h`` is the mean over (h−1, h] (DESIGN §4; checked on the data in
``../shared/data/cnemc/README.md``). The canonical table labels an hour by its start, so
``time = date + h − 1 h``; hour 0 becomes 23:00 of the previous day.

Every type is a concentration or the AQI: a negative cell is a bad cell (file, line, station
column; the rest of its line is kept), as a cell that is not a finite number is, and so is a
cell above its type's plausibility ceiling (``PM2.5`` 99999; AQI above 500:
:func:`shanshui.formats.validity.bounds`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Literal

import numpy as np
import pandas as pd

from shanshui.formats.canonical import (
    HOUR_US,
    POLLUTANTS,
    UNITS,
    BadRow,
    Chunk,
    FormatError,
    build_frame,
    local_to_time,
    take_strings,
)
from shanshui.formats.lines import (
    BlockParser,
    Lines,
    PathArg,
    Source,
    as_paths,
    collect,
    iter_source,
    parse_lines,
)
from shanshui.formats.validity import (
    bound_arrays,
    bounds,
    cannot_be_negative,
    implausible,
    implausible_reason,
    negative,
    negative_reason,
    time_out_of_range,
    time_range_reason,
)

#: Leading columns of a CNEMC station (or city) file.
HEADER = ("date", "hour", "type")

#: Every ``type`` a CNEMC file carries, in the order of the files.
TYPES: tuple[str, ...] = (
    "AQI",
    "PM2.5",
    "PM2.5_24h",
    "PM10",
    "PM10_24h",
    "SO2",
    "SO2_24h",
    "NO2",
    "NO2_24h",
    "O3",
    "O3_24h",
    "O3_8h",
    "O3_8h_24h",
    "CO",
    "CO_24h",
)

#: The derived types: rolling means CNEMC computes from the 1-hour values, and the AQI.
#: Their time label is shifted like the hourly values: a ``PM2.5_24h`` at canonical time t
#: is the value CNEMC published with the hour whose last hour starts at t.
DERIVED: tuple[str, ...] = tuple(t for t in TYPES if t not in POLLUTANTS)

HourLabel = Literal["end", "start"]


def is_cnemc_header(header: list[str]) -> bool:
    """Whether a header is that of a CNEMC station file."""
    return tuple(header[:3]) == HEADER and len(header) > 3


def _block_parser(
    src: Source, derived: bool, hour_label: HourLabel, categorical: bool = False
) -> BlockParser:
    header = src.header
    if not is_cnemc_header(header):
        raise FormatError(src.path, 1, "not a CNEMC station file: header must start date,hour,type")
    codes = header[3:]
    if len(set(codes)) != len(codes) or any(not c for c in codes):
        raise FormatError(src.path, 1, "station columns must be unique, non-empty codes")
    if hour_label not in ("end", "start"):
        raise ValueError("hour_label must be 'end' or 'start'")
    wanted = TYPES if derived else POLLUTANTS
    type_index = {t: i for i, t in enumerate(wanted)}
    # the types that cannot be negative (all of them: concentrations and the AQI)
    bounded = np.array([cannot_be_negative(t, UNITS[t]) for t in wanted], dtype=bool)
    # and their plausibility bounds (formats.validity: HJ 633-2012 Table 1 × margin)
    low, high = bound_arrays(wanted, UNITS)
    # CNEMC convention: label h is the mean over (h-1, h] -> the hour starts at h - 1.
    shift_us = -HOUR_US if hour_label == "end" else 0
    seen: dict[tuple[int, int, str], int] = {}

    def parse(lines: Lines) -> tuple[pd.DataFrame, list[BadRow]]:
        cells = parse_lines(src.path, lines, header, numeric=codes)
        bad = cells.bad
        dates = cells.text["date"].to_numpy(dtype=object)
        day = pd.to_datetime(cells.text["date"], format="%Y%m%d", errors="coerce")
        day_us = day.to_numpy(dtype="datetime64[us]").astype(np.int64)
        hour_text = cells.text["hour"].to_numpy(dtype=object)
        hour = pd.to_numeric(cells.text["hour"], errors="coerce").to_numpy(dtype=np.float64)
        types = cells.text["type"].to_numpy(dtype=object)
        dated = day.notna().to_numpy()
        local_us = np.where(dated, day_us, 0) + np.nan_to_num(hour).astype(np.int64) * HOUR_US
        far = time_out_of_range(local_us + shift_us)  # a placeholder date, or the future
        ok = np.zeros(len(types), dtype=bool)
        for i in range(len(types)):
            line = int(lines.line_numbers[i])
            h = hour[i]
            if pd.isna(day.iloc[i]):
                reason = f"date {dates[i]!r} is not YYYYMMDD"
            elif not (0 <= h <= 23 and h == int(h)):
                reason = f"hour {hour_text[i]!r} is not 0..23"
            elif far[i]:
                at = f"{dates[i]} hour {hour_text[i]}"
                reason = time_range_reason(int(local_us[i] + shift_us), at)
            elif types[i] not in TYPES:
                reason = f"unknown type {types[i]!r}"
            elif (key := (int(day_us[i]), int(h), str(types[i]))) in seen:
                reason = f"duplicate of line {seen[key]} (same date, hour and type)"
            else:
                seen[key] = line
                ok[i] = types[i] in type_index
                continue
            bad.append(BadRow(src.path, line, reason))
        rows = np.flatnonzero(ok)
        row_time = day_us[rows] + hour[rows].astype(np.int64) * HOUR_US + shift_us
        row_type = np.array([type_index[t] for t in types[rows]], dtype=np.int32)
        values = cells.numbers[rows]  # a copy
        below = negative(values) & bounded[row_type][:, None]
        beyond = implausible(values, low[row_type][:, None], high[row_type][:, None])
        for i, j in zip(*np.nonzero(below | beyond), strict=True):
            line = int(lines.line_numbers[rows[i]])
            where, value, name = f"column {codes[j]}", float(values[i, j]), wanted[row_type[i]]
            if below[i, j]:
                reason = negative_reason(where, value)
            else:  # beyond: bounds() gave this type a finite bound
                limits = bounds(name, UNITS[name])
                assert limits is not None
                reason = implausible_reason(where, value, name, limits)
            bad.append(BadRow(src.path, line, reason))
            values[i, j] = np.nan
        r, c = np.nonzero(~np.isnan(values))
        out = build_frame(
            site=take_strings(codes, c, categorical),
            time=local_to_time(row_time[r]),
            parameter=take_strings(list(wanted), row_type[r], categorical),
            value=values[r, c],
            categorical=categorical,
        )
        return out, bad

    return parse


def iter_cnemc(
    path: str | os.PathLike[str],
    chunk_rows: int = 4096,
    *,
    derived: bool = False,
    hour_label: HourLabel = "end",
    categorical: bool = False,
) -> Iterator[Chunk]:
    """Stream a CNEMC station file in chunks of ``chunk_rows`` source lines.

    Parameters
    ----------
    path : a ``china_sites_YYYYMMDD.csv`` file, optionally gzip-compressed.
    chunk_rows : source lines (hour × type rows) per chunk.
    derived : also return the derived types (:data:`DERIVED`) as parameters of their own.
    hour_label : ``"end"`` (CNEMC's convention, default) or ``"start"``.
    categorical : ``site``, ``parameter`` and ``flag`` as pandas Categoricals instead of
        ``str`` (less memory, faster; for bulk work such as importing).

    Missing hours or types (incomplete releases) simply yield no rows.
    """
    return iter_source(
        path, chunk_rows, lambda src: _block_parser(src, derived, hour_label, categorical)
    )


def read_cnemc(
    path: PathArg,
    *,
    derived: bool = False,
    hour_label: HourLabel = "end",
    errors: Literal["raise", "skip"] = "raise",
    categorical: bool = False,
) -> pd.DataFrame:
    """Read CNEMC station file(s) into the canonical long table.

    Parameters
    ----------
    path : one file or an iterable of files (``china_sites_YYYYMMDD.csv[.gz]``).
    derived : include ``AQI`` and the rolling types (``PM2.5_24h``, ``O3_8h``, …, see
        :data:`DERIVED`) as parameters of their own; by default only the six measured 1-hour
        pollutants :data:`~shanshui.formats.canonical.POLLUTANTS`.
    hour_label : how the file labels hours: ``"end"`` (CNEMC: h = mean over (h−1, h], so
        the canonical time is h − 1 h) or ``"start"`` (no shift).
    errors : ``"raise"`` a :class:`FormatError` at the first bad row, or ``"skip"`` them
        (use :func:`iter_cnemc` to see which).
    categorical : string columns as Categoricals (see :func:`iter_cnemc`).

    Returns
    -------
    Canonical long table (site, time, parameter, value [µg/m³; CO mg/m³], flag ``N``),
    rows in file order (hour × type, then station).
    """
    return collect(
        (
            chunk
            for p in as_paths(path)
            for chunk in iter_cnemc(
                p, 1 << 20, derived=derived, hour_label=hour_label, categorical=categorical
            )
        ),
        errors,
    )
