"""The hourly cube: the canonical long table as a dense (parameter, site, hour) array.

The first step of every assessment (GB 3095-2012, HJ 663-2013): only valid data enter
(HJ 212 flag ``N``, or no flag), on a grid of whole natural days (自然日, 00:00–24:00 local
time), each hour labelled by its START (the project's convention, DESIGN §4).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from shanshui.standards.validity import AssessmentError

FloatArray = NDArray[np.float64]

#: Local time of China's stations (no daylight saving since 1991, so every natural day has
#: 24 hours — the cube relies on it).
TZ: Final = "Asia/Shanghai"
#: HJ 212 data flags whose values enter statistics: ``N`` (normal). Every other flag (F, M, S,
#: D, C, T, B) marks data that do not enter assessments; an empty/missing flag is taken as N.
VALID_FLAGS: Final = frozenset({"N", ""})
#: Ticks per hour of each datetime64 unit.
_PER_HOUR: Final = {"s": 3600, "ms": 3_600_000, "us": 3_600_000_000, "ns": 3_600_000_000_000}
#: Hourly parameters the assessment reads (µg/m³, CO mg/m³).
HOURLY_PARAMETERS: Final = ("SO2", "NO2", "CO", "PM10", "PM2.5", "O3")


@dataclass(frozen=True)
class HourlyCube:
    """Hourly values on a dense grid of whole natural days.

    Attributes
    ----------
    values : NDArray[float64], shape (n_parameters, n_sites, n_days*24)
        NaN = missing or not valid; element ``h`` is the hour starting ``h`` hours after
        00:00 local time of ``first_day``.
    parameters : tuple of str
    sites : tuple of str
    first_day : datetime.date
    """

    values: FloatArray
    parameters: tuple[str, ...]
    sites: tuple[str, ...]
    first_day: dt.date

    @property
    def n_days(self) -> int:
        """Number of natural days the cube holds."""
        return int(self.values.shape[-1] // 24)

    def parameter(self, name: str) -> FloatArray:
        """The (n_sites, n_hours) array of one parameter (NaN throughout if absent)."""
        if name not in self.parameters:
            return np.full(self.values.shape[1:], np.nan)
        out: FloatArray = self.values[self.parameters.index(name)]
        return out


_Slicer = Callable[[int, int], NDArray[np.int64]]
_CHUNK: Final = 1 << 18  # rows per step when scattering a long table (cache-sized)


def _coder(column: pd.Series, wanted: Sequence[str]) -> tuple[_Slicer, bool]:
    """Rows a..b → position of each entry in ``wanted`` (-1: not asked for, or missing).

    The flag says whether every row is found (no -1 anywhere), so callers may skip checks.
    """
    index = pd.Index(list(wanted))
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        no_missing = bool(codes.size == 0 or codes.min() >= 0)
        mapped = index.get_indexer(pd.Index(column.cat.categories))
        if np.array_equal(mapped, np.arange(len(wanted))):
            # categories are ``wanted``: the codes are the positions
            return (lambda a, b: codes[a:b].astype(np.int64)), no_missing
        # map the few categories once, then index by code; code -1 picks the appended -1
        table = np.append(mapped, -1).astype(np.int64)
        return (lambda a, b: table[codes[a:b]]), no_missing and bool((mapped >= 0).all())
    full = index.get_indexer(pd.Index(column)).astype(np.int64)
    return (lambda a, b: full[a:b]), bool(full.size == 0 or full.min() >= 0)


def _present(column: pd.Series) -> tuple[str, ...]:
    """The distinct values of a column, sorted (fast for categorical columns)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        cats = column.cat.categories
        seen = np.zeros(len(cats) + 1, dtype=bool)  # the last slot takes code -1 (missing)
        for a in range(0, codes.size, _CHUNK):
            seen[codes[a : a + _CHUNK]] = True
        return tuple(sorted(str(c) for c, used in zip(cats, seen[:-1], strict=True) if used))
    return tuple(sorted(str(v) for v in pd.unique(column.dropna())))


def _flag_coder(flag: pd.Series) -> Callable[[int, int], NDArray[np.bool_]] | None:
    """Rows a..b → whether the HJ 212 flag keeps the value OUT (not in :data:`VALID_FLAGS`).

    ``None`` when every row's flag lets its value in.
    """
    if isinstance(flag.dtype, pd.CategoricalDtype):
        codes = flag.cat.codes.to_numpy()
        cats = [str(c) for c in flag.cat.categories]
        bad = [i for i, c in enumerate(cats) if c not in VALID_FLAGS]
        good = [-1] + [i for i, c in enumerate(cats) if c in VALID_FLAGS]  # -1: no flag
        if not bad:
            return None

        # a few comparisons of the small codes beat a gather
        invert = len(bad) > len(good)
        compare = good if invert else bad

        def out(a: int, b: int) -> NDArray[np.bool_]:
            part = codes[a:b]
            hit: NDArray[np.bool_] = part == compare[0]
            for c in compare[1:]:
                hit |= part == c
            if invert:
                np.logical_not(hit, out=hit)
            return hit

        return out
    full = ~(flag.isna() | flag.isin(VALID_FLAGS)).to_numpy(dtype=bool)
    if not full.any():
        return None
    return lambda a, b: full[a:b]


def hourly_cube(
    frame: pd.DataFrame,
    start: dt.date,
    end: dt.date,
    *,
    sites: Sequence[str] | None = None,
    parameters: Sequence[str] = HOURLY_PARAMETERS,
    tz: str = TZ,
) -> HourlyCube:
    """Turn the canonical long table into a dense hourly cube over ``start`` .. ``end``.

    Only valid data enter (HJ 212 flag ``N`` or none; GB 3095-2012 Table 4 counts valid hourly
    values); rows outside the period, of other sites or parameters, or with a non-finite value
    are left out. A repeated (site, parameter, hour) keeps the last row.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns ``site`` (str), ``time`` (tz-aware, start of the hour), ``parameter`` (str),
        ``value`` (float; µg/m³, CO mg/m³) and optionally ``flag`` (str).
    start, end : datetime.date
        First and last natural day (inclusive), local time ``tz``.
    sites : sequence of str, optional
        Sites to keep, in this order (default: all, sorted).
    parameters : sequence of str
    tz : str, default "Asia/Shanghai"

    Returns
    -------
    HourlyCube
    """
    if end < start:
        raise AssessmentError(f"period end {end} is before its start {start}")
    for column in ("site", "time", "parameter", "value"):
        if column not in frame.columns:
            raise AssessmentError(f"the canonical table needs a {column!r} column")
    time = frame["time"]
    if not isinstance(time.dtype, pd.DatetimeTZDtype):
        raise AssessmentError("the 'time' column must be timezone-aware")
    site_list = _present(frame["site"]) if sites is None else tuple(sites)
    params = tuple(parameters)
    n_days = (end - start).days + 1
    n_hours = 24 * n_days
    t0 = pd.Timestamp(start).tz_localize(tz)
    per_hour = _PER_HOUR[str(time.dt.unit)]
    base = t0.value // (_PER_HOUR["ns"] // per_hour)  # Timestamp.value is in ns
    ticks: NDArray[np.int64] = cast(Any, time.array).asi8  # UTC ticks, no copy
    flag_bad = _flag_coder(frame["flag"]) if "flag" in frame.columns else None
    raw_value = frame["value"]
    value = (
        raw_value.to_numpy()
        if raw_value.dtype == np.float64
        else raw_value.to_numpy(dtype=np.float64, na_value=np.nan)
    )
    # Scatter into a flat buffer, in chunks of rows; rows left out go to a spare last element.
    n_sites = len(site_list)
    size = len(params) * n_sites * n_hours
    site_of, all_sites = _coder(frame["site"], site_list)
    param_of, all_params = _coder(frame["parameter"], params)
    all_finite = bool(np.isfinite(value).all())
    buffer = np.full(size + 1, np.nan)
    for a in range(0, len(frame), _CHUNK):
        b = a + _CHUNK
        hour = (ticks[a:b] - base) // per_hour
        # negative hours turn huge as unsigned: one comparison finds both ends
        unsigned: NDArray[np.uint64] = hour.view(np.uint64)
        drop = unsigned >= n_hours
        site = site_of(a, b)
        param = param_of(a, b)
        v = value[a:b]
        if not all_sites:
            drop |= site < 0
        if not all_params:
            drop |= param < 0
        if not all_finite:
            drop |= ~np.isfinite(v)
        if flag_bad is not None:
            drop |= flag_bad(a, b)
        flat = param * n_sites
        flat += site
        flat *= n_hours
        flat += hour
        np.copyto(flat, size, where=drop)
        buffer[flat] = v
    cube = buffer[:size].reshape(len(params), n_sites, n_hours)
    return HourlyCube(cube, params, site_list, start)
