"""Averaging statistics of GB 3095-2012 and HJ 663-2013 on hourly arrays, with counts.

Conventions of every function here:

- arrays hold concentrations [µg/m³; CO mg/m³] with time on the LAST axis and NaN for a
  missing or invalid value (only valid data enter a statistic, GB 3095-2012 Table 4);
- an hourly array starts at 00:00 local time of its first day, and element ``i`` is the hour
  that STARTS at ``i`` hours (the project's convention; CNEMC's hour label ``h`` is the hour
  ending at ``h``, i.e. element ``h - 1``); its length is a whole number of days;
- every statistic comes back as an :class:`Aggregate`: the value (NaN when invalid), the
  number of values it was computed from, the number the period holds and the validity flag.

All functions are vectorized over any leading axes (stations, pollutants).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from shanshui.standards.validity import (
    MIN_8H_WINDOWS_PER_DAY,
    MIN_DAYS_PER_YEAR,
    MIN_HOURS_PER_8H,
    MIN_HOURS_PER_DAY,
    WINDOWS_8H_PER_DAY,
    AssessmentError,
    PeriodRule,
    period_rule,
)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Aggregate:
    """A statistic with its counts (OpenAQ-like: every aggregate says what it rests on).

    Attributes
    ----------
    value : NDArray[float64]
        The statistic; NaN where it is invalid [unit of the input].
    count : NDArray[int64]
        Valid input values it was computed from.
    expected : NDArray[int64]
        Input values the period holds.
    valid : NDArray[bool]
        Whether ``count`` meets the minimum-data rule.
    """

    value: FloatArray
    count: NDArray[np.int64]
    expected: NDArray[np.int64]
    valid: NDArray[np.bool_]


def _days(hourly: FloatArray) -> FloatArray:
    """View an hourly array (..., n_days*24) as (..., n_days, 24)."""
    x = np.asarray(hourly, dtype=np.float64)
    if x.shape[-1] % 24:
        raise AssessmentError(
            f"an hourly array must hold whole natural days; got {x.shape[-1]} hours"
        )
    return x.reshape(*x.shape[:-1], x.shape[-1] // 24, 24)


def _masked_mean(x: FloatArray, minimum: int) -> Aggregate:
    """Mean over the last axis of the non-NaN values, valid when at least ``minimum``."""
    ok = ~np.isnan(x)
    count = ok.sum(axis=-1, dtype=np.int64)
    total = np.where(ok, x, 0.0).sum(axis=-1)
    valid = count >= minimum
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(valid, total / np.maximum(count, 1), np.nan)
    expected = np.full(count.shape, x.shape[-1], dtype=np.int64)
    return Aggregate(value, count, expected, valid)


def daily_mean(hourly: FloatArray, min_hours: int = MIN_HOURS_PER_DAY) -> Aggregate:
    """24-hour (natural-day) means of hourly values.

    GB 3095-2012 §3 (24 小时平均: the mean over a natural day, 自然日 00:00–24:00) and Table 4
    (at least 20 hourly means in the day).

    Parameters
    ----------
    hourly : NDArray[float64], shape (..., n_days*24)
        Hourly means [µg/m³; CO mg/m³], NaN = missing.
    min_hours : int, default 20
        Minimum valid hours for a valid daily mean.

    Returns
    -------
    Aggregate, shape (..., n_days)
    """
    return _masked_mean(_days(hourly), min_hours)


def daily_max_1h(hourly: FloatArray, min_hours: int = MIN_HOURS_PER_DAY) -> Aggregate:
    """Daily maximum 1-hour value (O3 1-hour daily maximum, HJ 633-2012 daily AQI input).

    Neither GB 3095-2012 Table 4 nor HJ 663-2013 gives a minimum for the daily maximum of
    1-hour values; shanshui requires, by choice, the same 20 hours as a 24-hour mean
    (``min_hours``) so that a day's maximum is not taken from a few hours.

    Parameters
    ----------
    hourly : NDArray[float64], shape (..., n_days*24)
        Hourly means [µg/m³], NaN = missing.
    min_hours : int, default 20

    Returns
    -------
    Aggregate, shape (..., n_days)
    """
    x = _days(hourly)
    ok = ~np.isnan(x)
    count = ok.sum(axis=-1, dtype=np.int64)
    valid = count >= min_hours
    peak = np.where(ok, x, -np.inf).max(axis=-1)
    value = np.where(valid, peak, np.nan)
    return Aggregate(value, count, np.full(count.shape, 24, dtype=np.int64), valid)


def trailing_mean(hourly: FloatArray, window: int, min_hours: int) -> Aggregate:
    """Trailing moving mean over ``window`` hours, one value per hour.

    Element ``i`` of the result is the mean of hours ``i - window + 1 .. i`` (the window that
    ENDS at the end of hour ``i``); hours before the array's start count as missing.

    GB 3095-2012 §3 and Table 4 define the O3 8-hour mean this way (8-hour moving average,
    valid with ≥ 6 hourly values); CNEMC's rolling 24-hour columns (``PM2.5_24h`` …) are the
    same with ``window=24``.

    Parameters
    ----------
    hourly : NDArray[float64], shape (..., n_hours)
        Hourly means, NaN = missing.
    window : int
        Window length [h].
    min_hours : int
        Minimum valid hours in the window.

    Returns
    -------
    Aggregate, shape (..., n_hours)
    """
    if window < 1:
        raise AssessmentError("window must be ≥ 1 hour")
    x = np.asarray(hourly, dtype=np.float64)
    ok = ~np.isnan(x)
    filled = np.where(ok, x, 0.0)
    total = np.zeros(x.shape, dtype=np.float64)
    small = np.zeros(x.shape, dtype=np.int16 if window < 2**15 else np.int64)
    n = x.shape[-1]
    # Sum of shifted slices, oldest hour first: element i gets hours i-window+1 .. i (those
    # before the array's start are missing). ``window`` vector additions, no padding copy.
    for lag in range(window - 1, -1, -1):
        total[..., lag:] += filled[..., : n - lag]
        small[..., lag:] += ok[..., : n - lag]
    count = small.astype(np.int64)
    valid = small >= min_hours
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(valid, total / np.maximum(count, 1), np.nan)
    return Aggregate(value, count, np.full(count.shape, window, dtype=np.int64), valid)


def moving_mean_8h(hourly: FloatArray, min_hours: int = MIN_HOURS_PER_8H) -> Aggregate:
    """O3 8-hour moving average (8 小时滑动平均), one value per hour.

    GB 3095-2012 §3 (8 小时平均) and Table 4 (≥ 6 hourly values in the window); element ``i``
    covers hours ``i-7 .. i`` and is labelled, as HJ 663-2013 and CNEMC do, by the end of the
    window (``i + 1`` o'clock).

    Parameters
    ----------
    hourly : NDArray[float64], shape (..., n_hours)
        Hourly O3 [µg/m³], NaN = missing.
    min_hours : int, default 6

    Returns
    -------
    Aggregate, shape (..., n_hours)
    """
    return trailing_mean(hourly, 8, min_hours)


def daily_max_8h(
    hourly: FloatArray,
    min_hours: int = MIN_HOURS_PER_8H,
    min_windows: int = MIN_8H_WINDOWS_PER_DAY,
) -> Aggregate:
    """O3 daily maximum 8-hour mean (日最大 8 小时平均).

    HJ 663-2013: the largest of the natural day's 8-hour moving averages whose windows end at
    08:00 .. 24:00 (17 windows, all inside the day), valid with ≥ 14 valid windows; each
    window valid with ≥ 6 hourly values (GB 3095-2012 Table 4). ``count`` is the number of
    valid windows (``expected`` = 17).

    Parameters
    ----------
    hourly : NDArray[float64], shape (..., n_days*24)
        Hourly O3 [µg/m³], NaN = missing.
    min_hours : int, default 6
    min_windows : int, default 14

    Returns
    -------
    Aggregate, shape (..., n_days)
    """
    x = _days(hourly)  # checks whole days
    # Windows ending 08:00 .. 24:00 lie inside the day: window j (0..16) covers hours j..j+7.
    # Summed oldest to newest, exactly as moving_mean_8h does.
    present = ~np.isnan(x)
    filled = np.where(present, x, 0.0)
    total = np.zeros((*x.shape[:-1], WINDOWS_8H_PER_DAY))
    hours = np.zeros((*x.shape[:-1], WINDOWS_8H_PER_DAY), dtype=np.int16)
    for k in range(8):
        total += filled[..., k : k + WINDOWS_8H_PER_DAY]
        hours += present[..., k : k + WINDOWS_8H_PER_DAY]
    window_ok = hours >= min_hours
    with np.errstate(invalid="ignore", divide="ignore"):
        windows = np.where(window_ok, total / np.maximum(hours, 1), np.nan)
    ok = window_ok
    count = ok.sum(axis=-1, dtype=np.int64)
    valid = count >= min_windows
    peak = np.where(ok, windows, -np.inf).max(axis=-1)
    value = np.where(valid, peak, np.nan)
    expected = np.full(count.shape, WINDOWS_8H_PER_DAY, dtype=np.int64)
    return Aggregate(value, count, expected, valid)


def running_daily_max_8h(hourly: FloatArray, min_hours: int = MIN_HOURS_PER_8H) -> FloatArray:
    """CNEMC's real-time ``O3_8h``: running maximum, within the day, of the 8-hour averages.

    Reproduces the column CNEMC publishes (see ``shared/data/cnemc/README.md``): at the hour
    ending at ``h`` o'clock (h = 8 .. 24) the maximum of the day's 8-hour moving averages
    whose windows end at 08:00 .. ``h``; NaN for hours ending 01:00 .. 07:00. Not a statistic
    of GB 3095-2012 itself (its final value at 24:00 is :func:`daily_max_8h` without the
    14-window minimum).

    Parameters
    ----------
    hourly : NDArray[float64], shape (..., n_days*24)
        Hourly O3 [µg/m³], NaN = missing.
    min_hours : int, default 6

    Returns
    -------
    NDArray[float64], shape (..., n_days*24)
        Element ``i`` belongs to the hour starting at ``i`` (ending at ``i+1``).
    """
    x = _days(hourly)
    moving = _days(moving_mean_8h(x.reshape(*x.shape[:-2], -1), min_hours).value)
    part = np.where(np.isnan(moving[..., 7:]), -np.inf, moving[..., 7:])
    running = np.maximum.accumulate(part, axis=-1)
    out = np.full(moving.shape, np.nan)
    out[..., 7:] = np.where(np.isneginf(running), np.nan, running)
    return out.reshape((*x.shape[:-2], -1))


def percentile_hj663(values: FloatArray, p: float) -> FloatArray:
    """The p-th percentile of the non-NaN values along the last axis, HJ 663-2013's formula.

    HJ 663-2013 (百分位数计算方法): sort the n values ascending, X(1) ≤ … ≤ X(n); the ordinal
    k = 1 + (n − 1)·p/100; with s the integer part of k,
    m_p = X(s) + (X(s+1) − X(s))·(k − s) (and m_p = X(n) when s = n). NaN where n = 0.

    Parameters
    ----------
    values : NDArray[float64], shape (..., n)
        Daily values [µg/m³; CO mg/m³], NaN = missing (left out, not zero).
    p : float
        Percentile 0..100 (HJ 663-2013: 98 for SO2 and NO2, 95 for PM10, PM2.5 and CO, 90
        for the O3 daily maximum 8-hour mean).

    Returns
    -------
    NDArray[float64], shape (...)
    """
    if not 0.0 <= p <= 100.0:
        raise AssessmentError(f"percentile must be within 0..100, got {p}")
    x = np.sort(np.asarray(values, dtype=np.float64), axis=-1)  # NaN sort last
    n = (~np.isnan(x)).sum(axis=-1)
    k = 1.0 + (n - 1) * (p / 100.0)
    s = np.floor(k).astype(np.int64)
    s_idx = np.clip(s - 1, 0, max(x.shape[-1] - 1, 0))
    s1_idx = np.clip(s, 0, max(x.shape[-1] - 1, 0))
    s1_idx = np.minimum(s1_idx, np.maximum(n - 1, 0))
    if x.shape[-1] == 0:
        return np.full(x.shape[:-1], np.nan)
    lo = np.take_along_axis(x, s_idx[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(x, s1_idx[..., None], axis=-1)[..., 0]
    out: FloatArray = np.where(n > 0, lo + (hi - lo) * (k - s), np.nan)
    return out


def monthly_mean(daily: Aggregate, first_day: dt.date) -> tuple[list[dt.date], Aggregate]:
    """Calendar-month means of daily values (月平均, GB 3095-2012 §3 and Table 4).

    A month is valid with ≥ 27 valid daily values (25 in February); a month only partly
    covered by the array may miss as many days as the full month may (see
    :func:`~shanshui.standards.validity.period_rule`).

    Parameters
    ----------
    daily : Aggregate, shape (..., n_days)
        Daily values and their validity (e.g. from :func:`daily_mean`).
    first_day : datetime.date
        Date of the first daily value.

    Returns
    -------
    months : list of datetime.date
        First day (within the array) of each month.
    Aggregate, shape (..., n_months)
        ``count`` = valid days, ``expected`` = days of the month in the array.
    """
    n_days = daily.value.shape[-1]
    rule = period_rule(first_day, first_day + dt.timedelta(days=n_days - 1))
    total, count = _month_sums(daily, rule)
    valid = count >= rule.month_minimum
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(valid, total / np.maximum(count, 1), np.nan)
    expected = np.broadcast_to(rule.month_days, count.shape).astype(np.int64)
    return rule.month_starts, Aggregate(value, count, expected, valid)


def cumulative_mean(daily: Aggregate, first_day: dt.date) -> tuple[list[dt.date], Aggregate]:
    """Cumulative means from the array's first month to each month N (累计, e.g. 1–N 月).

    GB 3095-2012 Table 4 via HJ 663-2013: valid when every month so far has its monthly
    minimum (27 days, 25 in February) and, once a whole calendar year is covered, the year
    has ≥ 324 valid days.

    Parameters
    ----------
    daily : Aggregate, shape (..., n_days)
    first_day : datetime.date
        Date of the first daily value (normally 1 January).

    Returns
    -------
    months : list of datetime.date
        First day of each month N.
    Aggregate, shape (..., n_months)
        Element N is the mean over the first day .. the end of month N.
    """
    n_days = daily.value.shape[-1]
    rule = period_rule(first_day, first_day + dt.timedelta(days=n_days - 1))
    total, count = _month_sums(daily, rule)
    month_ok = count >= rule.month_minimum
    run_total = np.cumsum(total, axis=-1)
    run_count = np.cumsum(count, axis=-1)
    valid = np.logical_and.accumulate(month_ok, axis=-1)
    ends = np.cumsum(rule.month_days)
    whole_year = (ends >= 365) & (first_day.month == 1) & (first_day.day == 1)
    first_year_end = int(np.argmax(whole_year)) if whole_year.any() else -1
    if first_year_end >= 0:
        # from the first complete year on, that year needs 324 valid days
        year_count = run_count[..., first_year_end]
        valid[..., first_year_end:] &= (year_count >= MIN_DAYS_PER_YEAR)[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(valid, run_total / np.maximum(run_count, 1), np.nan)
    expected = np.broadcast_to(ends, run_count.shape).astype(np.int64)
    return rule.month_starts, Aggregate(value, run_count, expected, valid)


def _month_sums(daily: Aggregate, rule: PeriodRule) -> tuple[FloatArray, NDArray[np.int64]]:
    """Sum and count of the valid daily values of each month part of ``rule``."""
    ok = daily.valid & ~np.isnan(daily.value)
    offsets = np.concatenate(([0], np.cumsum(rule.month_days)[:-1])).astype(np.intp)
    total = np.add.reduceat(np.where(ok, daily.value, 0.0), offsets, axis=-1)
    count = np.add.reduceat(ok.astype(np.int64), offsets, axis=-1)
    return total, count
