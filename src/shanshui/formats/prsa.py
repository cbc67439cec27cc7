"""Beijing multi-site air-quality files (UCI dataset 501, "PRSA"): ``PRSA_Data_<Station>_….csv``.

Columns: ``No,year,month,day,hour,PM2.5,PM10,SO2,NO2,CO,O3,TEMP,PRES,DEWP,RAIN,wd,WSPM,station``.
Pollutants in µg/m³ — **CO too** (e.g. ``300`` = 0.3 mg/m³); missing values are ``NA``.
Meteorology from the nearest CMA station: TEMP °C, PRES hPa, DEWP (dew point) °C, RAIN mm,
WSPM m/s, ``wd`` 16-point wind direction (``N``, ``NNE``, …).

What the reader does:

- ``station`` (pinyin) → national station code through the table shipped in the package
  (:func:`shanshui.formats.reference.prsa_stations`; e.g. ``Dongsi`` → ``1003A``).
- CO µg/m³ → mg/m³ (÷ 1000), the unit of GB 3095-2012 table 1 for CO.
- ``NA`` → no row (the long table holds only values that exist).
- A negative pollutant cell is a bad cell (file, line, column; the rest of its line is kept):
  a concentration cannot be negative (:mod:`shanshui.formats.validity`). Meteorology
  (TEMP, DEWP, …) may be negative. A cell beyond its parameter's plausibility bounds
  (``PM2.5`` 99999, ``TEMP`` 1e308: :func:`shanshui.formats.validity.bounds`) is a bad
  cell the same way; CO is held against its ceiling in the file's µg/m³.
- ``wd`` → parameter ``WD`` [°]: the central bearing of the 16-point compass sector, clockwise
  from north, the direction the wind blows *from* (meteorological convention): N 0, NNE 22.5,
  …, NNW 337.5. A calm has no sector in these files (it is ``NA`` there too).
- Hour label: see :func:`read_prsa` (default: the CNEMC convention, h = mean over (h−1, h]).
- ``No`` (the file's row counter) carries no measurement and nothing depends on it; a cell
  there that is not a number is still reported as a bad row (file, line), like any cell, and
  the line's values are kept. Parsing it costs ~0.01 s of CPU for the 12 files (~2.5 % of
  the reading, measured 2026-11-26), below the wall-time noise of ``bench/import.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]

from shanshui.formats.canonical import (
    FLAG_NORMAL,
    HOUR_US,
    UNITS,
    UTC_OFFSET_US,
    BadRow,
    Chunk,
    FormatError,
    arrow_map,
    arrow_table,
    days_of_runs,
    dict_runs,
    dict_strings,
)
from shanshui.formats.lines import (
    BlockParser,
    Lines,
    PathArg,
    Source,
    arrow_cells,
    as_paths,
    collect,
    iter_source,
)
from shanshui.formats.reference import prsa_stations
from shanshui.formats.validity import (
    Bounds,
    bounds,
    cannot_be_negative,
    implausible,
    implausible_reason,
    negative,
    negative_reason,
    time_out_of_range,
    time_range_reason,
)

#: The header of every PRSA file.
HEADER: tuple[str, ...] = (
    "No",
    "year",
    "month",
    "day",
    "hour",
    "PM2.5",
    "PM10",
    "SO2",
    "NO2",
    "CO",
    "O3",
    "TEMP",
    "PRES",
    "DEWP",
    "RAIN",
    "wd",
    "WSPM",
    "station",
)

#: Pollutant columns, in file order; canonical names are the same.
POLLUTANT_COLUMNS: tuple[str, ...] = ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3")

#: Numeric meteorology columns; canonical names are the same.
METEO_COLUMNS: tuple[str, ...] = ("TEMP", "PRES", "DEWP", "RAIN", "WSPM")

#: 16-point compass → bearing [°] clockwise from north (where the wind comes from).
WIND_BEARINGS: dict[str, float] = {
    name: 22.5 * i
    for i, name in enumerate(
        "N NNE NE ENE E ESE SE SSE S SSW SW WSW W WNW NW NNW".split()  # noqa: SIM905
    )
}

HourLabel = Literal["end", "start"]

#: Columns read as numbers. ``No`` (the file's row counter) is parsed only to report a cell
#: that is not a number as a bad row (nothing else depends on it); it comes first, before
#: the measurement columns ``_NUMERIC``.
_NUMERIC = [c for c in HEADER if c not in ("No", "wd", "station")]
_PARSED = ["No", *_NUMERIC]
_YMDH = ("year", "month", "day", "hour")
#: Rows of ``_NUMERIC`` that cannot be negative: the pollutants, concentrations in µg/m³ in
#: the file (:func:`~shanshui.formats.validity.cannot_be_negative`); meteorology may be.
_BOUNDED = [_NUMERIC.index(c) for c in POLLUTANT_COLUMNS if cannot_be_negative(c, "µg/m³")]


def _file_bounds(column: str) -> Bounds | None:
    """The plausibility bounds of a value column in the file's unit (CO in µg/m³, the
    others as :data:`~shanshui.formats.canonical.UNITS` has them)."""
    found = bounds(column, UNITS[column])
    if found is not None and column == "CO":
        return found.in_unit("µg/m³", 1000.0)  # the file's CO is in µg/m³
    return found


def is_prsa_header(header: list[str]) -> bool:
    """Whether a header is that of a PRSA file."""
    return tuple(header) == HEADER


@lru_cache(maxsize=1)
def _station_codes() -> tuple[list[str], dict[str, int]]:
    """The national codes of the PRSA stations (sorted) and, by pinyin name, the index of
    each station's code among them."""
    table = prsa_stations()
    codes = {str(s): str(c) for s, c in zip(table["station"], table["code"], strict=True)}
    site_names = sorted(set(codes.values()))
    return site_names, {name: site_names.index(code) for name, code in codes.items()}


def _block_parser(src: Source, meteorology: bool, hour_label: HourLabel) -> BlockParser:
    if not is_prsa_header(src.header):
        raise FormatError(src.path, 1, "not a PRSA file: header must be " + ",".join(HEADER))
    if hour_label not in ("end", "start"):
        raise ValueError("hour_label must be 'end' or 'start'")
    site_names, site_of = _station_codes()
    params = [*POLLUTANT_COLUMNS, *((*METEO_COLUMNS, "WD") if meteorology else ())]
    take_cols = [_NUMERIC.index(c) for c in params if c != "WD"]
    # the plausibility bounds of the columns read (formats.validity), in the file's units
    limits = {j: b for j in take_cols if (b := _file_bounds(_NUMERIC[j])) is not None}
    co = params.index("CO")
    # The PRSA files do not say whether hour h starts or ends at h. The air-quality data come
    # from the Beijing Municipal Environmental Monitoring Center, which publishes hourly
    # values labelled by the END of the hour like CNEMC (h = mean over (h-1, h]); we read
    # them that way by default (canonical time = h - 1 h), and let the caller choose "start".
    shift_us = -HOUR_US if hour_label == "end" else 0
    seen: list[np.ndarray] = []

    def parse(lines: Lines) -> tuple[pa.Table, list[BadRow]]:
        cells = arrow_cells(src.path, lines, list(HEADER), numeric=_PARSED)
        bad = cells.bad  # with "column No: … is not a number"; the rest of its line is kept
        num = cells.numbers[1:]  # (column of _NUMERIC, row): a view without No
        year, month, day, hour = (num[_NUMERIC.index(c)] for c in _YMDH)
        days = days_of_runs(year, month, day)  # since 1970-01-01; NaN: not a date
        day_us = np.nan_to_num(days).astype(np.int64) * (24 * HOUR_US)
        station = cells.text["station"]
        site = arrow_map(station, site_of)  # index into site_names
        valid_hour = (hour >= 0) & (hour <= 23) & (hour == np.floor(hour))
        valid_date = ~np.isnan(days) & valid_hour
        hour_us = np.nan_to_num(hour).astype(np.int64) * HOUR_US
        # a placeholder date (year 1) or one in the future: a bad row, like no date at all
        far = valid_date & time_out_of_range(day_us + hour_us + shift_us)
        valid_date &= ~far
        ok = valid_date & ~np.isnan(site)
        site_idx = np.where(ok, site, 0).astype(np.int32)
        time_us = np.where(ok, day_us + hour_us + shift_us, 0)
        # a repeated (station, hour) in the file: keep the first, report the others
        key = site_idx.astype(np.int64) * (1 << 40) + (time_us // HOUR_US + (1 << 39))
        live = np.flatnonzero(ok)
        keys = key[live]
        dup = np.zeros(len(key), dtype=bool)
        if len(keys) > 1 and not bool((keys[1:] > keys[:-1]).all()):  # else none repeats
            _, first = np.unique(keys, return_index=True)
            dup[live] = True
            dup[live[first]] = False
        if seen and len(keys):
            earlier = np.concatenate(seen)
            if keys.min() <= earlier.max():  # a file in time order never gets here
                dup[live] |= np.isin(keys, earlier)
        seen.append(np.unique(keys[~dup[live]]) if dup.any() else keys)
        ok &= ~dup
        for j in _BOUNDED:  # a negative concentration: a bad cell (formats.validity)
            for i in np.flatnonzero(negative(num[j]) & ok):
                line = int(lines.line_numbers[i])
                bad.append(
                    BadRow(src.path, line, negative_reason(f"column {_NUMERIC[j]}", num[j, i]))
                )
                num[j, i] = np.nan
        for j, b in limits.items():  # beyond its plausibility bounds: a bad cell too
            for i in np.flatnonzero(implausible(num[j], b.low, b.high) & ok):
                reason = implausible_reason(f"column {_NUMERIC[j]}", num[j, i], _NUMERIC[j], b)
                bad.append(BadRow(src.path, int(lines.line_numbers[i]), reason))
                num[j, i] = np.nan
        for i in np.flatnonzero(~ok):
            line = int(lines.line_numbers[i])
            if dup[i]:
                reason = "duplicate: this station and hour appear earlier in the file"
            elif far[i]:
                ymdh = " ".join(f"{c}={num[_NUMERIC.index(c), i]:g}" for c in _YMDH)
                reason = time_range_reason(int(day_us[i] + hour_us[i] + shift_us), ymdh)
            elif not valid_date[i]:
                ymdh = " ".join(f"{c}={num[_NUMERIC.index(c), i]:g}" for c in _YMDH)
                reason = f"not a valid date and hour: {ymdh}"
            else:
                reason = f"unknown station {station[i].as_py()!r}"
            bad.append(BadRow(src.path, line, reason))
        rows = np.flatnonzero(ok)
        every = len(rows) == len(ok)
        columns = [num[j] if every else num[j][rows] for j in take_cols]
        if meteorology:
            wd = cells.text["wd"] if every else cells.text["wd"].take(pa.array(rows))
            bearing = arrow_map(wd, WIND_BEARINGS)
            given = wd.is_valid().to_numpy(zero_copy_only=False)
            for i in np.flatnonzero(np.isnan(bearing) & given):
                reason = f"column wd: {wd[i].as_py()!r} is not a 16-point direction"
                bad.append(BadRow(src.path, int(lines.line_numbers[rows[i]]), reason))
            columns.append(bearing)
        # one row per parameter and hour with a value, parameter-major (the parameter
        # column is a few runs): each parameter's values compressed into its slice
        present = [~np.isnan(c) for c in columns]
        counts = np.array([np.count_nonzero(m) for m in present], dtype=np.int64)
        ends = np.cumsum(counts)
        n = int(ends[-1]) if len(ends) else 0
        row_utc = (time_us if every else time_us[rows]) - UTC_OFFSET_US
        row_site = site_idx if every else site_idx[rows]
        one_site = not len(row_site) or bool((row_site == row_site[0]).all())
        value = np.empty(n, dtype=np.float64)
        utc = np.empty(n, dtype=np.int64)
        sites = None if one_site else np.empty(n, dtype=np.int32)
        for k, (column, mask) in enumerate(zip(columns, present, strict=True)):
            part = slice(int(ends[k] - counts[k]), int(ends[k]))
            # (boolean indexing: several times faster than np.compress with out=)
            value[part] = column[mask]
            utc[part] = row_utc[mask]
            if sites is not None:
                sites[part] = row_site[mask]
        value[int(ends[co] - counts[co]) : int(ends[co])] /= 1000.0  # CO: µg/m³ -> mg/m³
        # (GB 3095-2012 table 1 states CO in mg/m³; the files give µg/m³)
        if sites is None:  # one station per file
            site_col = dict_runs([site_names[row_site[0]] if n else ""], np.array([n]))
        else:
            site_col = dict_strings(site_names, sites)
        out = arrow_table(
            site=site_col,
            utc_us=utc,
            parameter=dict_runs(params, counts),
            value=value,
            flag=dict_runs([FLAG_NORMAL], np.array([n])),
        )
        return out, bad

    return parse


def iter_prsa(
    path: str | os.PathLike[str],
    chunk_rows: int = 100_000,
    *,
    meteorology: bool = True,
    hour_label: HourLabel = "end",
    categorical: bool = False,
) -> Iterator[Chunk]:
    """Stream a PRSA file in chunks of ``chunk_rows`` source lines (see :func:`read_prsa`)."""
    return iter_source(
        path,
        chunk_rows,
        lambda src: _block_parser(src, meteorology, hour_label),
        categorical=categorical,
        checked=False,  # arrow_cells checks the field counts
    )


def read_prsa(
    path: PathArg,
    *,
    meteorology: bool = True,
    hour_label: HourLabel = "end",
    errors: Literal["raise", "skip"] = "raise",
    categorical: bool = False,
) -> pd.DataFrame:
    """Read PRSA file(s) into the canonical long table.

    Parameters
    ----------
    path : one ``PRSA_Data_<Station>_20130301-20170228.csv`` file (``.gz`` allowed) or an
        iterable of them.
    meteorology : also return TEMP [°C], PRES [hPa], DEWP [°C], RAIN [mm], WSPM [m/s] and
        WD [°] (from ``wd``); otherwise only the six pollutants.
    hour_label : ``"end"`` (default; hour h = mean over (h−1, h] as CNEMC and the Beijing
        centre publish, so canonical time = h − 1 h) or ``"start"`` (no shift). The source
        does not document its convention.
    errors : ``"raise"`` a :class:`FormatError` at the first bad row, or ``"skip"``.
    categorical : ``site``, ``parameter`` and ``flag`` as pandas Categoricals instead of
        ``str`` (about half the memory and time of the string columns; for bulk work).

    Returns
    -------
    Canonical long table: site = national code (``1003A``), pollutants in µg/m³ except CO
    in mg/m³ (converted from the file's µg/m³), ``NA`` cells left out, flag ``N``.
    """
    return collect(
        (
            chunk
            for p in as_paths(path)
            for chunk in iter_prsa(
                p,
                1 << 20,
                meteorology=meteorology,
                hour_label=hour_label,
                categorical=categorical,
            )
        ),
        errors,
    )
