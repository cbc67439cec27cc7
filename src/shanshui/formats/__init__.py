"""Readers that turn real files into the canonical long table, and shipped reference metadata.

The canonical long table
------------------------
A :class:`pandas.DataFrame` with one row per value and the columns

========== ============================== ===================================================
column     dtype                          meaning
========== ============================== ===================================================
site       ``str``                        national station code, e.g. ``1001A``
time       ``datetime64[us, Asia/Shanghai]``  start of the value's hour (or instant)
parameter  ``str``                        ``PM2.5 PM10 SO2 NO2 O3 CO`` and others (:data:`UNITS`)
value      ``float64``                    in the unit :data:`UNITS` gives for the parameter
flag       ``str``                        HJ 212 data flag; ``N`` = normal
========== ============================== ===================================================

Conventions (DESIGN §4):

- **Time** is tz-aware Beijing time. An hourly value is labelled by the **start** of its hour.
  Sources that label by the end are shifted: CNEMC's hour ``h`` is the mean over (h−1, h],
  so ``time = date + h − 1 h`` (hour 0 → 23:00 of the previous day). The PRSA files do not
  document their convention; they are read the CNEMC way by default (``hour_label="end"``).
  A natural day (自然日, 00:00–24:00) is then the 24 values with times 00:00 … 23:00,
  i.e. CNEMC labels 1 … 24.
- **Units** travel with the parameter in :data:`UNITS`: µg/m³ for air pollutants, CO in
  mg/m³ (GB 3095-2012 table 1); PRSA's CO (µg/m³ in the file) is converted.
- **Missing values** produce no row (CNEMC empty cells, PRSA ``NA``; every reader takes
  pandas' default NA markers — empty, ``NA``, ``NaN``, ``N/A``, ``NULL``, ``None`` … — as
  "no value").
- **Flags**: every value the public sources publish is a normal one (``N``); a long CSV may
  carry its own flags.
- **Order**: rows come in file order; readers do not sort or deduplicate across files (the
  store is idempotent on site, parameter, time). Within a PRSA or CNEMC file a repeated hour
  is a bad row.
- **String columns** are pandas ``str`` (Arrow-backed). For bulk work every reader takes
  ``categorical=True``: ``site``, ``parameter`` and ``flag`` then come as Categoricals (same
  values; less memory and time). Tip: iterate ``frame.site.unique()``, not ``frame.site``
  (turning millions of Arrow strings into Python objects is slow).
- **Bad input**: a file that is not in the format raises :class:`FormatError` (a
  :class:`~shanshui.errors.PeerError`); a bad line becomes a :class:`BadRow` (file, line,
  reason) — :func:`iter_chunks` yields them beside the good rows, the ``read_*`` functions
  raise at the first (``errors="raise"``) or leave them out (``errors="skip"``). In wide
  files a single bad cell drops only that value. A line the parser cannot read (an unclosed
  ``"``) is a bad row of its own line; the others are kept.
- **Impossible values** are bad cells in every reader: a value that is not finite, a
  negative concentration or AQI (meteorology may be negative), a value beyond its
  parameter's plausibility bounds (PM2.5 above 10,000 µg/m³, an AQI above 500, a TEMP of
  1e308: :func:`shanshui.formats.validity.bounds`); a long CSV read with a
  ``period`` also refuses times that do not start it (:mod:`shanshui.formats.validity`).

Entry points: :func:`read_cnemc`, :func:`read_prsa`, :func:`read_long_csv`, :func:`read_any`,
:func:`iter_chunks`; reference data :func:`stations`, :func:`regions`, :func:`city_regions`,
:func:`prsa_stations`, :func:`demo_data`, :func:`boundaries`.
"""

from __future__ import annotations

from shanshui.formats.canonical import (
    COLUMNS,
    FLAG_NORMAL,
    POLLUTANTS,
    TZ,
    UNITS,
    BadRow,
    Chunk,
    FormatError,
    empty_frame,
    unit_of,
)
from shanshui.formats.cnemc import DERIVED, iter_cnemc, read_cnemc
from shanshui.formats.detect import detect_format, iter_chunks, read_any
from shanshui.formats.longcsv import iter_long_csv, read_long_csv
from shanshui.formats.prsa import iter_prsa, read_prsa
from shanshui.formats.reference import (
    boundaries,
    city_regions,
    demo_data,
    prsa_stations,
    regions,
    stations,
)

__all__ = [
    "COLUMNS",
    "DERIVED",
    "FLAG_NORMAL",
    "POLLUTANTS",
    "TZ",
    "UNITS",
    "BadRow",
    "Chunk",
    "FormatError",
    "boundaries",
    "city_regions",
    "demo_data",
    "detect_format",
    "empty_frame",
    "iter_chunks",
    "iter_cnemc",
    "iter_long_csv",
    "iter_prsa",
    "prsa_stations",
    "read_any",
    "read_cnemc",
    "read_long_csv",
    "read_prsa",
    "regions",
    "stations",
    "unit_of",
]
