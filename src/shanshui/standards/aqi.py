"""Air quality index (AQI) of HJ 633-2012 (环境空气质量指数（AQI）技术规定（试行）).

Pure, vectorized functions: concentrations in, IAQI / AQI / primary pollutants out.

- :func:`iaqi` — the individual AQI (空气质量分指数) of one pollutant and averaging period,
  HJ 633-2012 §4.2 formula (1) on the breakpoints of Table 1.
- :func:`hourly_aqi` — the real-time (hourly, 实时报) AQI of a table of station-hours.
- :func:`aqi_value` — the real-time AQI value alone (no other columns), faster.
- :func:`daily_aqi` — the daily (日报) AQI of a table of station-days or city-days.
- :func:`summarise_iaqi` — AQI, primary and non-attainment pollutants, level, category and
  colour from any set of IAQI columns.
- :func:`aqi_level` — the level (1–6) of Table 2.

Formula (1) itself is :mod:`shanshui.standards.aqi_formula` (a compiled loop where
``setup.py`` built it, numpy otherwise; the same values).

Rules, all from HJ 633-2012 unless said otherwise:

- IAQI by linear interpolation within the Table 1 segment that holds the concentration
  (§4.2, formula (1)); a concentration exactly at a breakpoint belongs to the lower segment.
  The IAQI is rounded **up** to an integer (进位取整). Choice: an interpolated value less
  than a relative 1e-9 above an integer counts as that integer, so that binary floating
  point (``50.00000000000001`` for 35 µg/m³ PM2.5) cannot push an exact breakpoint to the
  next integer; concentrations are published to 0.1 µg/m³ (0.001 mg/m³ CO), where the
  smallest true excess is about 0.002 (relative 4e-6 at IAQI 500).
- AQI = the maximum of the IAQI (§4, formula (2)); a missing pollutant is left out, never
  taken as zero; no pollutant at all gives a missing AQI.
- Above the highest breakpoint of Table 1 the IAQI is 500 (the platform publishes 500; the
  standard computes no IAQI beyond its top breakpoint, IAQI 500 = its highest value).
- SO2 1-hour above 800 µg/m³ (Table 1 note): no 1-hour IAQI; the SO2 IAQI is the one of the
  24-hour mean (input column ``SO2_24h``; missing when that column or value is missing).
- O3 8-hour above 800 µg/m³ (Table 1 note): no 8-hour IAQI; the O3 8-hour IAQI is the one
  of the 1-hour value (``O3_1h``).
- Primary pollutant(s) (首要污染物): only when AQI > 50, every pollutant whose IAQI equals
  the AQI (ties all listed, sorted, joined by ``,``). Non-attainment pollutants (超标污染物):
  IAQI > 100. Level and category: Table 2; colour: Appendix A.

Real-time (hourly) rule of CNEMC's national platform (全国城市空气质量实时发布平台), found
from its published data (``docs/aqi-realtime-rule.md``): SO2, NO2, CO and O3 use their
1-hour values on the 1-hour breakpoints; PM2.5 and PM10, which Table 1 gives only 24-hour
breakpoints, use their **1-hour** values on the **24-hour** breakpoints (not the published
``PM2.5_24h``/``PM10_24h``); O3 8-hour values do not enter the hourly AQI; a missing
pollutant is left out. On 30 days of all 2,026 stations (1,124,916 station-hours with a
published AQI) this reproduces every published AQI but 7: 5 are not a function of the
published concentrations (see the doc), and 2 are SO2 1-hour values above 800 µg/m³, where
the platform reports SO2 IAQI 200 (the IAQI of the top 1-hour breakpoint) instead of the
24-hour IAQI that Table 1's note asks for; ``hourly_aqi(..., rule="cnemc")`` reproduces that.
The platform also publishes no AQI for a station-hour that lacks both PM2.5 and PM10 (not
once in the 30 days); ``rule="cnemc"`` withholds the AQI there too, ``hj633`` does not (the
standard computes the AQI from the pollutants there are).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Final, Literal, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from shanshui.standards.aqi_formula import COLUMNS, int_iaqi, raw_iaqi
from shanshui.standards.aqi_tables import CATEGORIES
from shanshui.standards.errors import StandardsError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Input columns of :func:`hourly_aqi` (1-hour concentrations; µg/m³, CO mg/m³) and the
#: Table 1 column each is held against (the real-time rule, see the module docstring).
HOURLY_TABLE: Final[Mapping[str, str]] = {
    "SO2": "SO2_1h",
    "NO2": "NO2_1h",
    "CO": "CO_1h",
    "O3": "O3_1h",
    "PM2.5": "PM2.5_24h",
    "PM10": "PM10_24h",
}
#: Input columns of :func:`daily_aqi` (24-hour means; O3: daily maximum 1-hour value and
#: daily maximum 8-hour moving average) and their Table 1 columns (HJ 633-2012 §5, 日报).
DAILY_TABLE: Final[Mapping[str, str]] = {
    "SO2": "SO2_24h",
    "NO2": "NO2_24h",
    "CO": "CO_24h",
    "PM10": "PM10_24h",
    "PM2.5": "PM2.5_24h",
    "O3_1h": "O3_1h",
    "O3_8h": "O3_8h",
}
HOURLY_POLLUTANTS: Final = tuple(HOURLY_TABLE)
DAILY_POLLUTANTS: Final = tuple(DAILY_TABLE)

#: HJ 633-2012 Table 1 notes: the concentration above which the 1-hour SO2 and the 8-hour O3
#: get no IAQI of their own [µg/m³].
SO2_1H_LIMIT: Final = 800.0
O3_8H_LIMIT: Final = 800.0
#: CNEMC's real-time platform: the SO2 IAQI it reports for a 1-hour SO2 above 800 µg/m³ (the
#: IAQI of the top 1-hour breakpoint, Table 1).
CNEMC_SO2_ABOVE_800_IAQI: Final = 200.0

Rule = Literal["hj633", "cnemc"]

_LEVEL_UPPER: Final = np.asarray(
    [c.aqi_max for c in CATEGORIES if c.aqi_max is not None], dtype=np.float64
)
_LEVEL_UPPER_INT: Final = tuple(int(u) for u in _LEVEL_UPPER)
_CATEGORY_ZH: Final = pd.CategoricalDtype(pd.Index([c.category_zh for c in CATEGORIES], dtype=str))
_CATEGORY_EN: Final = pd.CategoricalDtype(pd.Index([c.category_en for c in CATEGORIES], dtype=str))
_COLOUR: Final = pd.CategoricalDtype(pd.Index([c.colour for c in CATEGORIES], dtype=str))


def _iaqi_values(conc: FloatArray, key: str) -> FloatArray:
    """IAQI of ``conc`` on the Table 1 column ``key`` (HJ 633-2012 §4.2 formula (1))."""
    out = raw_iaqi(conc.reshape(-1), key).reshape(conc.shape)
    np.ceil(out, out=out)  # 进位取整 (rounded up)
    return out


def _table_key(pollutant: str, period: str) -> str:
    key = f"{pollutant}_{period}"
    if key not in COLUMNS:
        known = ", ".join(k.replace("_", " ") for k in COLUMNS)
        raise StandardsError(
            f"HJ 633-2012 Table 1 has no breakpoints for {pollutant!r} over {period!r}; "
            f"it has: {known}"
        )
    return key


@overload
def iaqi(concentration: pd.Series, pollutant: str, period: str) -> pd.Series: ...
@overload
def iaqi(concentration: float, pollutant: str, period: str) -> float: ...
@overload
def iaqi(
    concentration: Sequence[float] | FloatArray, pollutant: str, period: str
) -> FloatArray: ...
def iaqi(
    concentration: pd.Series | float | Sequence[float] | FloatArray,
    pollutant: str,
    period: str,
) -> pd.Series | float | FloatArray:
    """Individual air quality index (IAQI, 空气质量分指数), HJ 633-2012 §4.2 formula (1).

    Parameters
    ----------
    concentration : float, array-like or pandas.Series
        Concentration [µg/m³; CO: mg/m³]; NaN = missing.
    pollutant : str
        ``SO2``, ``NO2``, ``CO``, ``O3``, ``PM10`` or ``PM2.5``.
    period : str
        Averaging period of Table 1: ``1h`` (SO2, NO2, CO, O3), ``8h`` (O3) or ``24h``
        (SO2, NO2, CO, PM10, PM2.5).

    Returns
    -------
    float, numpy.ndarray or pandas.Series (like the input)
        The IAQI [-], an integer value (rounded up) as float; NaN where the concentration
        is missing, negative, or where the standard computes no IAQI of this period (SO2
        1-hour or O3 8-hour above 800 µg/m³, Table 1 notes); 500 above the top breakpoint.

    Raises
    ------
    StandardsError
        For a pollutant and period that Table 1 does not list.
    """
    key = _table_key(pollutant, period)
    if isinstance(concentration, pd.Series):
        values = _iaqi_values(_as_float(concentration, str(concentration.name)), key)
        return pd.Series(values, index=concentration.index, name=concentration.name)
    if np.ndim(concentration) == 0:
        return float(_iaqi_values(np.asarray([concentration], dtype=np.float64), key)[0])
    return _iaqi_values(np.asarray(concentration, dtype=np.float64), key)


def aqi_level(aqi: npt.ArrayLike) -> FloatArray:
    """AQI level 1–6 of HJ 633-2012 Table 2 (NaN where the AQI is missing).

    Parameters
    ----------
    aqi : array-like
        AQI [-] (integers, as :func:`summarise_iaqi` gives them).

    Returns
    -------
    numpy.ndarray of float
        1 (0–50, 优), 2 (51–100, 良), 3 (101–150), 4 (151–200), 5 (201–300), 6 (> 300).
    """
    values = np.asarray(aqi, dtype=np.float64)
    level = np.ones(values.shape, dtype=np.float64)
    for upper in _LEVEL_UPPER:  # Table 2: the AQI ranges 0–50, 51–100, … (integers)
        level += values > upper
    level[np.isnan(values)] = np.nan
    return level


def _as_float(column: pd.Series, name: str) -> FloatArray:
    """A numeric column as a float array with NaN for missing; reject non-numeric input."""
    dtype = column.dtype
    if dtype == np.float64:  # NaN is already the missing value: no conversion
        return column.to_numpy()
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise StandardsError(f"column {name!r} is not numeric (dtype {dtype})")
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def _column(frame: pd.DataFrame, name: str) -> FloatArray | None:
    return _as_float(frame[name], name) if name in frame.columns else None


@functools.cache
def _subsets(names: tuple[str, ...]) -> pd.CategoricalDtype[str]:
    """Categories for every subset of ``names``, indexed by bit mask: each subset's names
    sorted and ``,``-joined (the empty subset: ``""``)."""
    labels = [
        ",".join(sorted(n for bit, n in enumerate(names) if mask >> bit & 1))
        for mask in range(1 << len(names))
    ]
    return pd.CategoricalDtype(pd.Index(labels, dtype=str))


def summarise_iaqi(
    iaqis: Mapping[str, FloatArray],
    index: pd.Index | None = None,
    *,
    reported: npt.NDArray[np.bool_] | None = None,
) -> pd.DataFrame:
    """AQI, primary and non-attainment pollutants, level, category and colour.

    HJ 633-2012 §4 formula (2) (AQI = max IAQI), the primary pollutant and non-attainment
    rules, Table 2 and Appendix A.

    Parameters
    ----------
    iaqis : mapping of str to numpy.ndarray
        Pollutant name → IAQI [-], all the same length: integers (a fraction is rounded
        up, 进位取整, §4.2); NaN or negative = missing.
    index : pandas.Index, optional
        Index of the result (default: a RangeIndex).
    reported : numpy.ndarray of bool, optional
        Where false, no AQI is reported (the IAQI columns still are); default: everywhere.

    Returns
    -------
    pandas.DataFrame
        Columns ``AQI`` (Int64), ``primary_pollutant`` (names whose IAQI equals the AQI when
        AQI > 50, sorted, ``,``-joined; empty otherwise), ``level`` (Int64, 1–6),
        ``category_zh``, ``category_en``, ``colour`` (``#RRGGBB``; missing with the AQI),
        ``non_attainment`` (names with IAQI > 100, sorted, ``,``-joined), then one
        ``IAQI_<name>`` (Int64) per input, in input order. The text columns are
        categoricals; those of pollutant names have every subset of the inputs as a
        category.
    """
    names = list(iaqis)
    if not names:
        raise StandardsError("no pollutant given: the AQI needs at least one IAQI")
    if len(names) > 8:
        raise StandardsError(f"at most 8 pollutants, got {len(names)}")
    ints: dict[str, IntArray] = {}
    for name in names:
        # IAQI are integers (进位取整, §4.2); missing (NaN) or negative: -1, none
        rounded = np.ceil(np.asarray(iaqis[name], dtype=np.float64))
        rounded[~(rounded >= 0.0)] = -1.0
        ints[name] = rounded.astype(np.int64)
    return _summarise(ints, index, reported)


def _summarise(
    ints: Mapping[str, IntArray],
    index: pd.Index | None,
    reported: npt.NDArray[np.bool_] | None,
) -> pd.DataFrame:
    """:func:`summarise_iaqi` of integer IAQI, -1 standing for a missing one."""
    names = list(ints)
    values = list(ints.values())
    n = len(values[0])
    # formula (2): AQI = max(IAQI_1 … IAQI_n); a missing IAQI (-1) is below every IAQI, so
    # it is left out (never taken as zero); all missing gives -1, no AQI
    aqi = values[0].copy()
    for v in values[1:]:
        np.maximum(aqi, v, out=aqi)
    if reported is not None:
        aqi[~reported] = -1
    missing = aqi < 0
    bits = _Bits(n)
    # one bit per pollutant: primary pollutant(s) (IAQI == AQI, ties all listed) and
    # non-attainment pollutants (IAQI > 100)
    for i, v in enumerate(values):
        bits.set(bits.primary, np.equal(v, aqi, out=bits.hit), i)
        bits.set(bits.over, np.greater(v, 100, out=bits.hit), i)
    # a primary pollutant only when AQI > 50
    bits.keep(bits.primary, np.greater(aqi, 50, out=bits.hit))
    # Table 2: the level index 0–5 counts the upper bounds 50, 100, 150, 200, 300 below the
    # AQI (integers, so 51–100 is level 2); a missing AQI gets -1 (no category)
    for upper in _LEVEL_UPPER_INT:
        bits.add(bits.level, np.greater(aqi, upper, out=bits.hit))
    code = bits.level[:n]
    code -= missing  # 0 - 1 wraps to 255, which is -1 as int8
    code_i8 = code.view(np.int8)
    subsets = _subsets(tuple(names))
    columns: dict[str, object] = {
        "AQI": pd.arrays.IntegerArray(aqi, missing),
        "primary_pollutant": _coded(bits.primary[:n], subsets),
        "level": pd.arrays.IntegerArray(np.add(code_i8, 1, dtype=np.int64), missing),
        "category_zh": pd.Categorical.from_codes(code_i8, dtype=_CATEGORY_ZH, validate=False),
        "category_en": pd.Categorical.from_codes(code_i8, dtype=_CATEGORY_EN, validate=False),
        "colour": pd.Categorical.from_codes(code_i8, dtype=_COLOUR, validate=False),
        "non_attainment": _coded(bits.over[:n], subsets),
    }
    for name, v in zip(names, values, strict=True):
        columns[f"IAQI_{name}"] = pd.arrays.IntegerArray(v, v < 0)
    return pd.DataFrame(columns, index=pd.RangeIndex(n) if index is None else index, copy=False)


class _Bits:
    """uint8 per-row bit masks and counters, updated eight rows at a time as uint64 words.

    ``hit`` holds one 0/1 byte per row (a compare result); the masks and counters are
    padded to whole words with zeros. Shifting a word of 0/1 bytes left by i < 8 moves each
    byte's bit without carrying into its neighbour, and a counter never exceeds 8.
    """

    def __init__(self, n: int) -> None:
        padded = -(-n // 8) * 8
        self.hit = np.zeros(padded, dtype=np.bool_)[:n]
        self.primary = np.zeros(padded, dtype=np.uint8)
        self.over = np.zeros(padded, dtype=np.uint8)
        self.level = np.zeros(padded, dtype=np.uint8)
        self.word = np.empty(padded // 8, dtype=np.uint64)

    @staticmethod
    def _words(array: npt.NDArray[np.bool_] | npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
        return array.base.view(np.uint64) if array.base is not None else array.view(np.uint64)

    def set(self, mask: npt.NDArray[np.uint8], hit: npt.NDArray[np.bool_], bit: int) -> None:
        """``mask |= hit << bit``."""
        np.left_shift(self._words(hit), bit, out=self.word)
        np.bitwise_or(self._words(mask), self.word, out=self._words(mask))

    def keep(self, mask: npt.NDArray[np.uint8], hit: npt.NDArray[np.bool_]) -> None:
        """``mask &= 0xFF if hit else 0``."""
        np.multiply(self._words(hit), 0xFF, out=self.word)
        np.bitwise_and(self._words(mask), self.word, out=self._words(mask))

    def add(self, counter: npt.NDArray[np.uint8], hit: npt.NDArray[np.bool_]) -> None:
        """``counter += hit``."""
        np.add(self._words(counter), self._words(hit), out=self._words(counter))


def _coded(mask: npt.NDArray[np.uint8], subsets: pd.CategoricalDtype[str]) -> pd.Categorical[str]:
    """Bit masks as a categorical of the subsets they name (every subset is a category)."""
    codes = mask.view(np.int8) if len(subsets.categories) <= 128 else mask.astype(np.int16)
    return pd.Categorical.from_codes(codes, dtype=subsets, validate=False)


def _check_frame(frame: pd.DataFrame, names: Sequence[str], what: str) -> None:
    if not any(n in frame.columns for n in names):
        raise StandardsError(
            f"{what} needs at least one of the columns {', '.join(names)}; "
            f"got {', '.join(map(str, frame.columns)) or 'none'}"
        )


def hourly_aqi(frame: pd.DataFrame, *, rule: Rule = "hj633") -> pd.DataFrame:
    """Real-time (hourly) AQI, HJ 633-2012 §5 (实时报) with Table 1 and its notes.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per station-hour; columns (any subset, at least one; others are ignored):
        ``SO2``, ``NO2``, ``O3`` [µg/m³], ``CO`` [mg/m³] — 1-hour means held against the
        1-hour breakpoints; ``PM2.5``, ``PM10`` [µg/m³] — 1-hour means held against the
        24-hour breakpoints (Table 1 has no 1-hour PM breakpoints; CNEMC's platform does
        this, see the module docstring); ``SO2_24h`` [µg/m³] — the 24-hour mean, used only
        where 1-hour SO2 > 800. Missing values (NaN/NA) are left out of the AQI.
    rule : {"hj633", "cnemc"}
        ``hj633`` (default): 1-hour SO2 > 800 µg/m³ takes the IAQI of ``SO2_24h`` (Table 1
        note). ``cnemc``: CNEMC's real-time platform practice — it takes IAQI 200, and no
        AQI is reported for a station-hour without PM2.5 and PM10 (the IAQI columns are).

    Returns
    -------
    pandas.DataFrame
        Same index; the columns of :func:`summarise_iaqi` with ``IAQI_SO2``, ``IAQI_NO2``,
        ``IAQI_CO``, ``IAQI_O3``, ``IAQI_PM2.5``, ``IAQI_PM10``.

    Raises
    ------
    StandardsError
        No pollutant column, a non-numeric column, or an unknown ``rule``.
    """
    if rule not in ("hj633", "cnemc"):
        raise StandardsError(f"unknown rule {rule!r}; use 'hj633' or 'cnemc'")
    _check_frame(frame, HOURLY_POLLUTANTS, "the hourly AQI")
    n = len(frame)
    ints: dict[str, IntArray] = {}
    for name, key in HOURLY_TABLE.items():
        conc = _column(frame, name)
        ints[name] = np.full(n, -1, dtype=np.int64) if conc is None else int_iaqi(conc, key)
    so2 = _column(frame, "SO2")
    if so2 is not None:
        with np.errstate(invalid="ignore"):
            above = so2 > SO2_1H_LIMIT  # Table 1 note: no 1-hour SO2 IAQI above 800 µg/m³
        rows = np.flatnonzero(above)
        if len(rows):
            so2_24h = _column(frame, "SO2_24h")
            if rule == "cnemc":
                ints["SO2"][rows] = int(CNEMC_SO2_ABOVE_800_IAQI)
            elif so2_24h is None:
                ints["SO2"][rows] = -1  # no IAQI
            else:
                ints["SO2"][rows] = int_iaqi(so2_24h[rows], "SO2_24h")
    reported = None
    if rule == "cnemc":
        # the platform publishes no AQI for a station-hour without either PM value
        reported = (ints["PM2.5"] >= 0) | (ints["PM10"] >= 0)
    return _summarise(ints, frame.index, reported)


def aqi_value(frame: pd.DataFrame, *, rule: Rule = "hj633") -> FloatArray:
    """The real-time (hourly) AQI value alone: ``hourly_aqi(frame, rule=rule)["AQI"]``, faster.

    The same rules as :func:`hourly_aqi` (HJ 633-2012 §4.2 formula (1), §4 formula (2),
    Table 1 and its SO2 note, the real-time rule of the module docstring), without the
    primary pollutants, level, category and IAQI columns. Formula (1) is rounded up
    (进位取整) once, after the maximum of formula (2): rounding up is monotonic, so
    ``ceil(max(IAQI_i)) == max(ceil(IAQI_i))``.

    Parameters
    ----------
    frame : pandas.DataFrame
        As for :func:`hourly_aqi`.
    rule : {"hj633", "cnemc"}
        As for :func:`hourly_aqi`.

    Returns
    -------
    numpy.ndarray of float
        The AQI [-] of each row, an integer value as float; NaN where there is none.

    Raises
    ------
    StandardsError
        No pollutant column, a non-numeric column, or an unknown ``rule``.
    """
    if rule not in ("hj633", "cnemc"):
        raise StandardsError(f"unknown rule {rule!r}; use 'hj633' or 'cnemc'")
    _check_frame(frame, HOURLY_POLLUTANTS, "the hourly AQI")
    aqi = np.full(len(frame), np.nan)
    no_pm = np.ones(len(frame), dtype=np.bool_) if rule == "cnemc" else None
    for name, key in HOURLY_TABLE.items():
        conc = _column(frame, name)
        if conc is None:
            continue  # a missing pollutant is left out (formula (2))
        if no_pm is not None and name in ("PM2.5", "PM10"):
            raw = raw_iaqi(conc, key)
            no_pm &= np.isnan(raw)
            np.fmax(aqi, raw, out=aqi)
        else:
            # formula (2) as a running maximum that leaves a missing IAQI out (np.fmax); a
            # 1-hour SO2 above 800 µg/m³ gets none here (the SO2_1h column stops at 800)
            raw_iaqi(conc, key, aqi, accumulate=True)
        if name == "SO2":
            with np.errstate(invalid="ignore"):
                rows = np.flatnonzero(conc > SO2_1H_LIMIT)  # Table 1 note (see hourly_aqi)
            if len(rows):
                so2_24h = _column(frame, "SO2_24h")
                if rule == "cnemc":
                    aqi[rows] = np.fmax(aqi[rows], CNEMC_SO2_ABOVE_800_IAQI)
                elif so2_24h is not None:
                    aqi[rows] = np.fmax(aqi[rows], raw_iaqi(so2_24h[rows], "SO2_24h"))
    np.ceil(aqi, out=aqi)  # 进位取整, once for all pollutants (see above)
    if no_pm is not None:
        aqi[no_pm] = np.nan  # the platform publishes no AQI without either PM value
    return aqi


def daily_aqi(frame: pd.DataFrame) -> pd.DataFrame:
    """Daily AQI (日报), HJ 633-2012 §5 with Table 1 and its notes.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per station-day (or city-day); columns (any subset, at least one; others
        are ignored): ``SO2``, ``NO2``, ``PM10``, ``PM2.5`` [µg/m³] and ``CO`` [mg/m³] —
        24-hour means; ``O3_1h`` — the day's maximum 1-hour O3, ``O3_8h`` — the day's
        maximum 8-hour moving average O3 [µg/m³]. Missing values are left out.

    Returns
    -------
    pandas.DataFrame
        Same index; the columns of :func:`summarise_iaqi` with ``IAQI_SO2``, ``IAQI_NO2``,
        ``IAQI_CO``, ``IAQI_PM10``, ``IAQI_PM2.5``, ``IAQI_O3_1h``, ``IAQI_O3_8h``; an
        O3 8-hour value above 800 µg/m³ takes the IAQI of ``O3_1h`` (Table 1 note).

    Raises
    ------
    StandardsError
        No pollutant column or a non-numeric column.
    """
    _check_frame(frame, DAILY_POLLUTANTS, "the daily AQI")
    n = len(frame)
    ints: dict[str, IntArray] = {}
    for name, key in DAILY_TABLE.items():
        conc = _column(frame, name)
        ints[name] = np.full(n, -1, dtype=np.int64) if conc is None else int_iaqi(conc, key)
    o3_8h = _column(frame, "O3_8h")
    if o3_8h is not None:
        with np.errstate(invalid="ignore"):
            above = o3_8h > O3_8H_LIMIT  # Table 1 note: O3 8-hour > 800 → the 1-hour IAQI
        ints["O3_8h"] = np.where(above, ints["O3_1h"], ints["O3_8h"])
    return _summarise(ints, frame.index, None)
