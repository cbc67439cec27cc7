"""Generic long CSV: ``site,time,parameter,value[,flag][,unit]`` — one value per line.

Validation, per line (a failing line is a :class:`~shanshui.formats.canonical.BadRow`):

- ``site``: non-empty.
- ``time``: ISO 8601 (``2025-01-04T05:00:00+08:00``, ``2025-01-04 05:00``, ``…Z``). A time
  without offset is Beijing local time (Asia/Shanghai). The file must already label hourly
  values by the START of their hour (the canonical convention); nothing is shifted. Given
  the ``period`` of the values (as the importer does), a time that does not start its
  period is a bad line (08:19 for an hourly value, 13:00 for a daily one:
  :func:`~shanshui.formats.validity.misaligned`, the HTTP ingest's rule).
- ``parameter``: non-empty; a name not in :data:`~shanshui.formats.canonical.UNITS` needs a
  ``unit`` column (its unit is then returned in ``frame.attrs["units"]``).
- ``value``: a finite number (an empty value is a bad line: the long form has no use for it);
  not negative for a concentration or the AQI
  (:func:`~shanshui.formats.validity.cannot_be_negative`: HJ 633-2012 Table 1 starts at 0);
  within the parameter's plausibility bounds, held in its canonical unit (``PM2.5`` 99999,
  an AQI above 500, ``TEMP`` 1e308: :func:`~shanshui.formats.validity.bounds`).
- ``flag``: optional column; empty → ``N``; else 1–2 letters (HJ 212 data flags N F M S D C
  T B …).
- ``unit``: optional column; for a known parameter it must be its canonical unit or a mass
  concentration that converts exactly (µg/m³ ↔ mg/m³, factor 1000); spellings ``ug/m3``,
  ``μg/m³``, ``mg/m3`` … are accepted. Another parameter's unit is the one the caller gives
  (``units``: the store's definition) or else the first a parsed chunk names; its other
  rows must name that unit, one that converts to it the same way, or none (review 20,
  finding 2: ``ppb`` and ``mg/m³`` rows of NH3 were stored unconverted under ``µg/m³``).

Other columns are ignored. Values of known parameters come back in canonical units.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Literal, cast

import numpy as np
import pandas as pd

from shanshui.formats.canonical import (
    UNITS,
    BadRow,
    Chunk,
    FormatError,
    build_frame,
    local_to_time,
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
    misaligned,
    misaligned_reason,
    negative,
    negative_reason,
    time_out_of_range,
    time_range_reason,
)

#: Columns every long CSV must have.
REQUIRED: tuple[str, ...] = ("site", "time", "parameter", "value")

#: Optional columns.
OPTIONAL: tuple[str, ...] = ("flag", "unit")

_OFFSET = r"(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_FLAG = re.compile(r"^[A-Za-z]{1,2}$")

# mass concentration units by their factor to µg/m³
_MASS_UNITS = {"µg/m³": 1.0, "mg/m³": 1000.0}


def normalise_unit(unit: str) -> str:
    """Spelling variants → canonical spelling: ``ug/m3``, ``μg/m3`` → ``µg/m³``."""
    u = unit.strip().replace("μ", "µ").replace("m3", "m³").replace("m^3", "m³")
    if u.startswith("ug/"):
        u = "µ" + u[1:]
    return {"degC": "°C", "deg": "°", "m s-1": "m/s"}.get(u, u)


def unit_factor(parameter: str, unit: str) -> float | None:
    """Factor from ``unit`` to the canonical unit of ``parameter``; None if not convertible."""
    target = UNITS.get(parameter)
    if target is None:
        return 1.0
    return _convert(normalise_unit(unit), target)


def _convert(unit: str, target: str) -> float | None:
    """Factor from ``unit`` to ``target`` (both canonical spellings); None if none exactly."""
    if unit == target:
        return 1.0
    if unit in _MASS_UNITS and target in _MASS_UNITS:
        return _MASS_UNITS[unit] / _MASS_UNITS[target]
    return None


def is_long_header(header: list[str]) -> bool:
    """Whether a header has the columns of a generic long CSV."""
    return all(c in header for c in REQUIRED)


def parse_times(text: pd.Series) -> np.ndarray:
    """ISO 8601 strings → int64 µs of Beijing local time (as if UTC); int64 min where invalid."""
    text = text.fillna("").str.strip().reset_index(drop=True)
    aware = np.array(text.str.contains(_OFFSET, regex=True), dtype=bool)
    out = np.full(len(text), np.iinfo(np.int64).min, dtype=np.int64)
    if aware.any():
        t = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce")
        us = t.to_numpy(dtype="datetime64[us]").astype(np.int64)
        good = t.notna().to_numpy()
        out[np.flatnonzero(aware)[good]] = us[good] + 8 * 3600 * 1_000_000
    if (~aware).any():
        t = pd.to_datetime(text[~aware], format="ISO8601", errors="coerce")
        us = t.to_numpy(dtype="datetime64[us]").astype(np.int64)
        good = t.notna().to_numpy()
        out[np.flatnonzero(~aware)[good]] = us[good]
    return out


#: Periods a long CSV's values may have (the store's: ``shanshui.store.api.PERIODS``).
Period = Literal["rt", "minute", "hour", "day"]


def _block_parser(
    src: Source,
    categorical: bool = False,
    period: Period | None = None,
    units: dict[str, str] | None = None,
) -> BlockParser:
    header = src.header
    if period is not None and period not in ("rt", "minute", "hour", "day"):
        raise ValueError("period must be rt, minute, hour or day")
    if not is_long_header(header):
        missing = [c for c in REQUIRED if c not in header]
        raise FormatError(src.path, 1, f"not a long CSV: missing column(s) {', '.join(missing)}")
    if len(set(header)) != len(header):
        raise FormatError(src.path, 1, "duplicate column names")
    has_flag = "flag" in header
    has_unit = "unit" in header
    # the unit of each parameter outside UNITS: the caller's, else the first a parsed chunk
    # names (kept across chunks, so every chunk converts to the same unit). A caller's dict
    # is updated in place: the importer passes one to all its files, so every file converts
    # to one unit per parameter. CHOICE: with no unit in the store, the first chunk parsed
    # sets it; the importer parses the next files' first chunks ahead of the current file's
    # later ones, so between files that name different units for a new parameter, file
    # order does not decide which holds (the others' rows are bad rows naming both units)
    established: dict[str, str] = {} if units is None else units

    def parse(lines: Lines) -> tuple[pd.DataFrame, list[BadRow]]:
        cells = parse_lines(src.path, lines, header, numeric=["value"])
        bad = cells.bad
        n = len(lines.line_numbers)
        site = cells.text["site"].fillna("").str.strip()
        param = cells.text["parameter"].fillna("").str.strip()
        value = cells.numbers[:, 0].copy()
        time_us = parse_times(cells.text["time"])
        if has_flag:
            flag = cells.text["flag"].fillna("").str.strip()
            flag = flag.where(flag != "", "N")
            flag_ok = np.array(flag.str.match(_FLAG), dtype=bool)
        else:
            flag = None
            flag_ok = np.ones(n, dtype=bool)
        factor = np.ones(n)
        unit_ok = np.ones(n, dtype=bool)
        known = np.array(param.isin([*UNITS, *established]), dtype=bool)
        units: dict[str, str] = {}  # this chunk's parameters outside UNITS, and their units
        if has_unit:
            unit = cells.text["unit"].fillna("")
            pairs = pd.DataFrame({"p": param, "u": unit})
            for key, idx in pairs.groupby(["p", "u"], sort=False).indices.items():
                p, u = (str(k) for k in cast(tuple[str, str], key))
                if p in UNITS:
                    f = unit_factor(p, u) if u.strip() else 1.0
                elif u.strip():
                    target = established.setdefault(p, normalise_unit(u))
                    f = _convert(normalise_unit(u), target)
                    known[idx] = True
                else:  # no unit on the row: the parameter's own, if it has one
                    f = 1.0
                if f is None:
                    unit_ok[idx] = False
                else:
                    factor[idx] = f
        for p in pd.unique(param[known & ~param.isin(list(UNITS)).to_numpy()]):
            units[str(p)] = established[str(p)]
        ok = ~np.isin(lines.line_numbers, [b.line for b in bad])  # not-a-number cells
        no_time = time_us == np.iinfo(np.int64).min
        # concentrations and the AQI cannot be negative (formats.validity)
        bounded = [p for p, u in UNITS.items() if cannot_be_negative(p, u)]
        bounded += [p for p, u in units.items() if cannot_be_negative(p, u)]
        # and every value within its parameter's plausibility bounds, in the canonical unit
        codes, names = pd.factorize(param)
        known_units = {**established, **UNITS}
        low, high = bound_arrays([str(p) for p in names], known_units, codes)
        canonical = value * factor
        checks = (
            (site.eq("").to_numpy(), "empty site"),
            (no_time, "time is not ISO 8601"),
            (~no_time & time_out_of_range(time_us), "time out of range"),
            (
                ~no_time & misaligned(time_us, period or "rt"),
                "time does not start its period",
            ),
            (param.eq("").to_numpy(), "empty parameter"),
            (~known & param.ne("").to_numpy(), "unknown parameter without a unit"),
            (np.isnan(value), "empty value"),
            (negative(value) & np.asarray(param.isin(bounded), dtype=bool), "negative"),
            (~flag_ok, "flag must be 1-2 letters"),
            (~unit_ok, "unit does not convert to the parameter's unit"),
            (implausible(canonical, low, high), "implausible"),
        )
        for failed, reason in checks:
            for i in np.flatnonzero(failed & ok):
                if reason == "time does not start its period":
                    text = str(cells.text["time"].iloc[i]).strip()
                    reason_i = misaligned_reason(int(time_us[i]), period or "rt", text)
                elif reason == "time out of range":
                    text = str(cells.text["time"].iloc[i]).strip()
                    reason_i = time_range_reason(int(time_us[i]), text)
                elif reason == "negative":
                    reason_i = negative_reason(f"value of {param.iloc[i]}", float(value[i]))
                elif reason == "implausible":
                    p = str(param.iloc[i])
                    limits = bounds(p, known_units.get(p))
                    assert limits is not None  # a finite bound: bounds() found one
                    reason_i = implausible_reason(f"value of {p}", float(canonical[i]), p, limits)
                elif reason == "unknown parameter without a unit":
                    reason_i = f"unknown parameter {param.iloc[i]!r} without a unit"
                elif reason == "unit does not convert to the parameter's unit":
                    reason_i = (
                        f"unit {cells.text['unit'].iloc[i]!r} does not convert to "
                        f"{known_units[param.iloc[i]]!r} ({param.iloc[i]})"
                    )
                else:
                    reason_i = reason
                bad.append(BadRow(src.path, int(lines.line_numbers[i]), reason_i))
            ok &= ~failed
        rows = np.flatnonzero(ok)
        out = build_frame(
            site=site.array[rows],
            time=local_to_time(time_us[rows]),
            parameter=param.array[rows],
            value=value[rows] * factor[rows],
            flag="N" if flag is None else flag.array[rows],
        )
        if categorical:
            for column in ("site", "parameter", "flag"):
                out[column] = out[column].astype("category")
        if units:
            out.attrs["units"] = units
        return out, bad

    return parse


def iter_long_csv(
    path: str | os.PathLike[str],
    chunk_rows: int = 500_000,
    *,
    categorical: bool = False,
    period: Period | None = None,
    units: dict[str, str] | None = None,
) -> Iterator[Chunk]:
    """Stream a long CSV in chunks of ``chunk_rows`` lines (see :func:`read_long_csv`);
    ``units``: the units (canonical spellings) that parameters outside UNITS already have
    (the store's), to which the reader adds those it meets first."""
    return iter_source(path, chunk_rows, lambda src: _block_parser(src, categorical, period, units))


def read_long_csv(
    path: PathArg,
    *,
    errors: Literal["raise", "skip"] = "raise",
    categorical: bool = False,
    period: Period | None = None,
) -> pd.DataFrame:
    """Read generic long CSV file(s) ``site,time,parameter,value[,flag][,unit]``.

    See the module docstring for the validation rules. Returns the canonical long table;
    ``frame.attrs["units"]`` holds the units of parameters that are not in
    :data:`~shanshui.formats.canonical.UNITS`. ``categorical``: ``site``, ``parameter`` and
    ``flag`` as pandas Categoricals instead of ``str``. ``period``: the values' period
    (``rt``, ``minute``, ``hour``, ``day``): a time that does not start it is a bad line
    (None: times are not checked, as for instants).
    """
    return collect(
        (
            chunk
            for p in as_paths(path)
            for chunk in iter_long_csv(p, 1 << 20, categorical=categorical, period=period)
        ),
        errors,
    )
