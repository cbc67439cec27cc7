"""CEMS data validity, substitution of invalid hours and emission totals (HJ 75/76-2017).

Averages (HJ 76-2017 Annex B, confidence high), each an
:class:`~shanshui.standards.statistics.Aggregate` with its counts:

- :func:`hour_means` — minute → hour: a valid hourly mean needs ≥ 45 valid minutes;
- :func:`day_means` — hour → day: ≥ 20 valid hours;
- :func:`month_mean` — day → month: ≥ 25 valid days (February: 23).

Emission mass per hour and its totals — the rules of HJ 75-2017 §12 (ch. 12 data review and
processing; the summary in the project's reference notes, confidence MEDIUM: the windows
below were not checked against the printed text), applied by :func:`hourly_mass`:

1. valid hour (flag N, concentration and flow present): mass = C × Q × 10⁻⁶ [kg]
   (:func:`~shanshui.standards.emissions.emission_rate`; measured, not converted C);
2. stopped source (停运, flag F): no emission is counted — mass 0, not substituted
   (HJ 75-2017 §12: the source stopped; the CEMS keeps running during stops);
3. invalid hour (fault D, maintenance M, calibration C, out of range T, communication B,
   manual S, or a running hour without a value): invalid and flagged; its MASS is substituted
   by the maximum hourly mass of the last W valid hours before the gap (the run of
   consecutive invalid hours it belongs to), with the quarterly capture rate α:

   - α ≥ 90 % and the gap ≤ 24 h: W = 180 valid hours;
   - α ≥ 90 % and the gap > 24 h: W = 720;
   - 75 % ≤ α < 90 %: W = 2160;
   - α < 75 %: CHOICE, W = 2160 (the text found gives no window; the largest, most
     conservative one is used);

   concentrations and flue-gas parameters themselves are NOT substituted (only the mass);
   a gap with no valid hour before it cannot be substituted: its mass is NaN and the hour
   counts as missing but not substituted. Reference-method (manual) data that may replace
   missing data, and the out-of-control windows counted back from the last good calibration,
   are the caller's to apply (pass them as valid hours / a shorter series).

Totals (:func:`emission_totals`) per day, month or year carry the period, expected hours,
valid, stopped, substituted and missing hours and their validity: a day is complete with
≥ 20 hours accounted for by measurement (valid or stopped — CHOICE: a stopped hour is known
to emit nothing), a month with ≥ 25 such days (23 in February), a year when every month is
(CHOICE; HJ 76-2017 defines no annual rule).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from shanshui.standards.emissions import (
    FLAG_CASE,
    FloatArray,
    emission_rate,
    flag_case,
)
from shanshui.standards.errors import StandardsError
from shanshui.standards.statistics import Aggregate

#: HJ 76-2017 Annex B: an hourly mean needs ≥ 45 valid minute values.
MIN_MINUTES_PER_HOUR: Final = 45
#: HJ 76-2017 Annex B: a daily mean needs ≥ 20 valid hourly values.
MIN_HOURS_PER_DAY: Final = 20
#: HJ 76-2017 Annex B: a monthly mean needs ≥ 25 valid daily values (23 in February).
MIN_DAYS_PER_MONTH: Final = 25
MIN_DAYS_PER_FEBRUARY: Final = 23

#: HJ 75-2017 §12 look-back windows [valid hours] for substituting an invalid hour's mass.
LOOKBACK_SHORT_GAP: Final = 180  # α ≥ 90 %, gap ≤ 24 h
LOOKBACK_LONG_GAP: Final = 720  # α ≥ 90 %, gap > 24 h
LOOKBACK_LOW_CAPTURE: Final = 2160  # 75 % ≤ α < 90 % (and, by choice, α < 75 %)
SHORT_GAP_HOURS: Final = 24

HourStatus = Literal["valid", "stopped", "substituted", "missing"]


def _blocks(x: FloatArray, size: int, what: str) -> FloatArray:
    if x.shape[-1] % size:
        raise StandardsError(f"{what} must hold whole blocks of {size}; got {x.shape[-1]}")
    return x.reshape(*x.shape[:-1], x.shape[-1] // size, size)


def _mean_of_blocks(x: FloatArray, size: int, minimum: int, what: str) -> Aggregate:
    b = _blocks(x, size, what)
    ok = np.isfinite(b)
    count = ok.sum(axis=-1).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, b, 0.0).sum(axis=-1) / count
    valid = count >= minimum
    return Aggregate(
        value=np.where(valid, mean, np.nan),
        count=count,
        expected=np.full(count.shape, size, dtype=np.int64),
        valid=valid,
    )


def valid_values(values: ArrayLike, flags: ArrayLike | None = None) -> FloatArray:
    """The values with NaN wherever the flag is not N (HJ 212-2017 Table 6; HJ 75-2017 §12).

    Parameters
    ----------
    values : array-like
        Measured values [any unit].
    flags : array-like of str, optional
        HJ 212 data flags of the same shape; None / empty means N. Absent: all N.

    Returns
    -------
    NDArray[float64]
    """
    v = np.asarray(values, dtype=np.float64)
    if flags is None:
        return v.copy()
    return np.where(flag_case(flags) == "valid", v, np.nan)


def hour_means(minutes: ArrayLike, flags: ArrayLike | None = None) -> Aggregate:
    """Hourly means of minute values (HJ 76-2017 Annex B: ≥ 45 valid minutes).

    Parameters
    ----------
    minutes : array-like, shape (..., n_hours * 60)
        Minute values, time on the last axis starting at a full hour; NaN for missing
        [any unit].
    flags : array-like of str, optional
        HJ 212 flags of the minutes; only N counts as valid.

    Returns
    -------
    Aggregate
        shape (..., n_hours); ``expected`` 60.
    """
    v = valid_values(minutes, flags)
    return _mean_of_blocks(v, 60, MIN_MINUTES_PER_HOUR, "a minute array")


def day_means(hourly: ArrayLike) -> Aggregate:
    """Daily means of hourly values (HJ 76-2017 Annex B: ≥ 20 valid hours).

    Parameters
    ----------
    hourly : array-like, shape (..., n_days * 24)
        Valid hourly means, NaN where invalid (e.g. ``hour_means(...).value``) [any unit],
        starting at 00:00 of the natural day.

    Returns
    -------
    Aggregate
        shape (..., n_days); ``expected`` 24.
    """
    v = np.asarray(hourly, dtype=np.float64)
    return _mean_of_blocks(v, 24, MIN_HOURS_PER_DAY, "an hourly array")


def min_days_in_month(month: int) -> int:
    """Valid days a monthly mean needs (HJ 76-2017 Annex B): 25, February 23."""
    return MIN_DAYS_PER_FEBRUARY if month == 2 else MIN_DAYS_PER_MONTH


def month_mean(daily: ArrayLike, month: int) -> Aggregate:
    """The monthly mean of one month's daily means (HJ 76-2017 Annex B: ≥ 25 valid days,
    February ≥ 23).

    Parameters
    ----------
    daily : array-like, shape (..., n_days)
        The month's daily means, NaN where invalid [any unit].
    month : int
        1..12.

    Returns
    -------
    Aggregate
        shape (...); ``expected`` the days given.
    """
    v = np.asarray(daily, dtype=np.float64)
    return _mean_of_blocks(v, v.shape[-1], min_days_in_month(month), "a daily array")


# -- mass per hour, with substitution ---------------------------------------------------------
@dataclass(frozen=True)
class HourlyMass:
    """Emission mass per hour with its status (HJ 75-2017 §12).

    Attributes
    ----------
    mass : NDArray[float64]
        [kg] per hour: measured (valid), 0 (stopped), the look-back maximum (substituted), or
        NaN (missing: nothing to substitute from).
    status : NDArray[str]
        ``'valid'``, ``'stopped'``, ``'substituted'`` or ``'missing'``.
    substituted : NDArray[bool]
        Whether the hour's mass is a substitute.
    window : NDArray[int64]
        The look-back window used [valid hours]; 0 where nothing was substituted.
    """

    mass: FloatArray
    status: NDArray[np.str_]
    substituted: NDArray[np.bool_]
    window: NDArray[np.int64]


def lookback_window(capture_rate: float, gap_hours: int) -> int:
    """Valid hours to look back over for a gap's substitute (HJ 75-2017 §12, medium).

    Parameters
    ----------
    capture_rate : float
        Quarterly valid-data capture rate α [fraction 0..1].
    gap_hours : int
        Length of the run of invalid hours [h].

    Returns
    -------
    int
        180, 720 or 2160 [valid hours] (module docstring).
    """
    if capture_rate >= 0.9:
        return LOOKBACK_SHORT_GAP if gap_hours <= SHORT_GAP_HOURS else LOOKBACK_LONG_GAP
    return LOOKBACK_LOW_CAPTURE  # 75 % ≤ α < 90 %; below 75 % by choice (docstring)


def capture_rate(status: ArrayLike) -> float:
    """Valid-data capture rate α = valid hours / hours the source ran (stops excluded).

    Parameters
    ----------
    status : array-like of str
        Per-hour cases ``'valid'``, ``'stopped'``, other = invalid.

    Returns
    -------
    float
        [fraction]; NaN when the source never ran.
    """
    s = np.asarray(status)
    running = int((s != "stopped").sum())
    return float((s == "valid").sum()) / running if running else float("nan")


def hourly_mass(
    concentration: ArrayLike,
    flow: ArrayLike,
    flags: ArrayLike | None = None,
    *,
    capture: float | None = None,
) -> HourlyMass:
    """Emission mass per hour, invalid hours substituted (HJ 75-2017 §12; module docstring).

    Parameters
    ----------
    concentration : array-like, shape (n_hours,)
        Hourly mean measured concentration, dry standard [mg/m³]; NaN where there is none.
        Consecutive hours of one outlet and pollutant, oldest first.
    flow : array-like, shape (n_hours,)
        Hourly dry standard flow [m³/h].
    flags : array-like of str, optional
        The hour's HJ 212 flag (N valid, F stopped, others invalid; None = N).
    capture : float, optional
        The quarter's capture rate α [fraction]; default: :func:`capture_rate` of this series.

    Returns
    -------
    HourlyMass
    """
    c = np.asarray(concentration, dtype=np.float64).ravel()
    q = np.asarray(flow, dtype=np.float64).ravel()
    if c.shape != q.shape:
        raise StandardsError(f"concentration {c.shape} and flow {q.shape} differ in shape")
    n = c.size
    if flags is None:
        case = np.full(n, "valid", dtype="<U11")
    else:
        f = np.asarray(flags, dtype=object).ravel()
        case = np.array(
            ["valid" if x is None or x == "" else FLAG_CASE.get(str(x), "invalid") for x in f],
            dtype="<U11",
        )
    measured = emission_rate(c, q)  # [kg/h] × 1 h
    # a "valid" hour without a concentration or a flow is missing data (HJ 75-2017 §12)
    case[(case == "valid") & ~np.isfinite(measured)] = "invalid"
    valid = case == "valid"
    stopped = case == "stopped"
    mass = np.where(valid, measured, np.nan)
    mass[stopped] = 0.0  # 停运: no emission counted
    status = np.where(valid, "valid", np.where(stopped, "stopped", "missing")).astype("<U11")
    window = np.zeros(n, dtype=np.int64)
    alpha = capture_rate(case) if capture is None else float(capture)
    invalid = case == "invalid"
    if invalid.any():
        edges = np.diff(np.concatenate(([0], invalid.view(np.int8), [0])))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)
        valid_idx = np.flatnonzero(valid)
        valid_mass = measured[valid_idx]
        for a, b in zip(starts, ends, strict=True):
            w = lookback_window(alpha, int(b - a))
            k = int(np.searchsorted(valid_idx, a))  # valid hours before the gap
            if k == 0:
                continue  # nothing to substitute from: stays missing (NaN)
            mass[a:b] = valid_mass[max(0, k - w) : k].max()  # HJ 75-2017 §12 look-back max
            status[a:b] = "substituted"
            window[a:b] = w
    return HourlyMass(mass=mass, status=status, substituted=status == "substituted", window=window)


# -- totals -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class EmissionTotal:
    """A total emission mass with what it rests on (OpenAQ-like).

    Attributes
    ----------
    period : str
        Label of the period (``'2026-01-05'``, ``'2026-01'``, ``'2026'``; free text).
    expected_hours : int
        Hours in the period.
    valid_hours, stopped_hours, substituted_hours, missing_hours : int
        Hours by status; ``missing_hours`` counts every running hour without a valid
        measurement (substituted or not, absent rows included).
    mass : float
        Total [kg]: valid plus substituted hours (stopped hours add 0); NaN hours skipped.
    valid_mass : float
        Total of the valid hours only [kg].
    valid : bool
        Whether the period meets the completeness rule (module docstring).
    """

    period: str
    expected_hours: int
    valid_hours: int
    stopped_hours: int
    substituted_hours: int
    missing_hours: int
    mass: float
    valid_mass: float
    valid: bool


def period_total(
    hours: HourlyMass, *, period: str = "", expected_hours: int | None = None
) -> EmissionTotal:
    """The total of a run of hours (sum of hourly masses, HJ 75-2017 §12).

    Valid when valid plus stopped hours reach 20 per 24 expected hours (HJ 76-2017 Annex B's
    daily rule, scaled; use :func:`emission_totals` for calendar periods).

    Parameters
    ----------
    hours : HourlyMass
        From :func:`hourly_mass`.
    period : str
        Label.
    expected_hours : int, optional
        Hours the period holds (default: the hours given).

    Returns
    -------
    EmissionTotal
    """
    s = hours.status
    expected = s.size if expected_hours is None else int(expected_hours)
    n_valid = int((s == "valid").sum())
    n_stop = int((s == "stopped").sum())
    n_sub = int((s == "substituted").sum())
    missing = expected - n_valid - n_stop
    valid_mass = float(hours.mass[s == "valid"].sum())
    mass = float(np.nansum(hours.mass))
    complete = (n_valid + n_stop) * 24 >= MIN_HOURS_PER_DAY * expected
    return EmissionTotal(
        period, expected, n_valid, n_stop, n_sub, missing, mass, valid_mass, complete
    )


_FREQ = {"day": "D", "month": "M", "year": "Y"}


def emission_totals(
    hourly: pd.DataFrame,
    freq: Literal["day", "month", "year"],
    *,
    tz: str = "Asia/Shanghai",
) -> pd.DataFrame:
    """Totals per natural day, month or year of an hourly mass series (HJ 75-2017 §12).

    Parameters
    ----------
    hourly : pd.DataFrame
        Index: tz-aware start of each hour; columns ``mass`` [kg] and ``status`` (as
        :class:`HourlyMass`). Hours absent from the index count as missing.
    freq : {'day', 'month', 'year'}
    tz : str
        The zone whose natural days and months the periods follow (DESIGN §4).

    Returns
    -------
    pd.DataFrame
        One row per period: ``period`` (label), ``start``, ``expected_hours``,
        ``valid_hours``, ``stopped_hours``, ``substituted_hours``, ``missing_hours``,
        ``mass`` [kg], ``valid_mass`` [kg], ``valid_days`` (days complete), ``valid``.
    """
    if freq not in _FREQ:
        raise StandardsError(f"freq must be day, month or year, not {freq!r}")
    idx = hourly.index
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
        raise StandardsError("the hourly frame needs a tz-aware DatetimeIndex")
    local = idx.tz_convert(tz)
    status = hourly["status"].to_numpy().astype(str)
    mass = hourly["mass"].to_numpy(dtype=np.float64)
    frame = pd.DataFrame(
        {
            "day": local.floor("D").tz_localize(None),
            "valid": status == "valid",
            "stopped": status == "stopped",
            "substituted": status == "substituted",
            "mass": np.nan_to_num(mass, nan=0.0),
            "valid_mass": np.where(status == "valid", np.nan_to_num(mass), 0.0),
        }
    )
    days = frame.groupby("day").sum()
    # expected hours per local day: 24 (DST-free zones such as Asia/Shanghai; a DST zone's
    # 23/25-hour days are counted as they are)
    first = days.index.min()
    last = days.index.max()
    all_days = pd.date_range(first, last, freq="D")
    days = days.reindex(all_days, fill_value=0)
    starts = all_days.tz_localize(tz)
    ends = (all_days + pd.Timedelta(days=1)).tz_localize(tz)
    days["expected"] = ((ends - starts) / pd.Timedelta(hours=1)).astype(np.int64)
    days["complete"] = (days["valid"] + days["stopped"]) >= MIN_HOURS_PER_DAY
    if freq == "day":
        key = all_days.strftime("%Y-%m-%d")
    elif freq == "month":
        key = all_days.strftime("%Y-%m")
    else:
        key = all_days.strftime("%Y")
    g = days.groupby(np.asarray(key))
    out = pd.DataFrame(
        {
            "expected_hours": g["expected"].sum(),
            "valid_hours": g["valid"].sum(),
            "stopped_hours": g["stopped"].sum(),
            "substituted_hours": g["substituted"].sum(),
            "mass": g["mass"].sum(),
            "valid_mass": g["valid_mass"].sum(),
            "valid_days": g["complete"].sum(),
        }
    )
    out.index.name = "period"
    out = out.reset_index()
    # periods are whole calendar periods: expected hours of days outside the data count too
    out["start"] = [_period_start(p, freq, tz) for p in out["period"]]
    out["expected_hours"] = [_period_hours(p, freq, tz) for p in out["period"]]
    out["missing_hours"] = out["expected_hours"] - out["valid_hours"] - out["stopped_hours"]
    if freq == "day":
        out["valid"] = out["valid_days"] == 1
    elif freq == "month":
        need = [min_days_in_month(int(p[5:7])) for p in out["period"]]
        out["valid"] = out["valid_days"].to_numpy() >= np.asarray(need)
    else:
        out["valid"] = [
            _year_valid(days, int(p), tz) for p in out["period"]
        ]  # every month complete (CHOICE)
    cols = [
        "period", "start", "expected_hours", "valid_hours", "stopped_hours",
        "substituted_hours", "missing_hours", "mass", "valid_mass", "valid_days", "valid",
    ]  # fmt: skip
    for c in ("valid_hours", "stopped_hours", "substituted_hours", "valid_days"):
        out[c] = out[c].astype(np.int64)
    return out[cols]


def _period_start(label: str, freq: str, tz: str) -> pd.Timestamp:
    return pd.Timestamp(label if freq != "year" else f"{label}-01-01").tz_localize(tz)


def _period_hours(label: str, freq: str, tz: str) -> int:
    start = _period_start(label, freq, tz)
    naive = start.tz_localize(None)
    if freq == "day":
        end = naive + pd.Timedelta(days=1)
    elif freq == "month":
        end = naive + pd.Timedelta(days=calendar.monthrange(naive.year, naive.month)[1])
    else:
        end = pd.Timestamp(f"{naive.year + 1}-01-01")
    return int((end.tz_localize(tz) - start) / pd.Timedelta(hours=1))


def _year_valid(days: pd.DataFrame, year: int, tz: str) -> bool:
    idx = pd.DatetimeIndex(days.index)
    for month in range(1, 13):
        in_month = days[(idx.year == year) & (idx.month == month)]
        if int(in_month["complete"].sum()) < min_days_in_month(month):
            return False
    return True
