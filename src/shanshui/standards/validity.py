"""Minimum-data (validity) rules for ambient-air statistics: GB 3095-2012 Table 4 and HJ 663-2013.

Every statistic shanshui computes carries the number of values it was computed from, the
number the period would hold and a validity flag; a statistic from too few data is reported
as invalid (value NaN), never silently computed (GB 3095-2012, Table 4, 数据统计的有效性规定).

The thresholds below are transcribed from GB 3095-2012 Table 4 and HJ 663-2013 (see
``../shared/reference/air/validity_rules.csv`` in the project for the transcription).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from shanshui.standards.errors import StandardsError


class AssessmentError(StandardsError):
    """Arguments the assessment rules (GB 3095-2012, HJ 663-2013) do not define."""


# GB 3095-2012 Table 4: 24-hour mean of SO2, NO2, CO, PM10, PM2.5, NOx — at least 20 hourly
# means in the natural day (自然日, 00:00–24:00 local time).
MIN_HOURS_PER_DAY = 20
# GB 3095-2012 Table 4: 8-hour mean of O3 — at least 6 hourly means in the 8-hour window.
MIN_HOURS_PER_8H = 6
# HJ 663-2013: O3 daily maximum 8-hour mean — at least 14 valid 8-hour means among the 17
# windows ending 08:00 .. 24:00 of the natural day.
MIN_8H_WINDOWS_PER_DAY = 14
WINDOWS_8H_PER_DAY = 17
# GB 3095-2012 Table 4: monthly mean — at least 27 daily means (25 in February).
MIN_DAYS_PER_MONTH = 27
MIN_DAYS_PER_FEBRUARY = 25
# GB 3095-2012 Table 4: annual mean — at least 324 daily means in the year, and the monthly
# minimum in every month.
MIN_DAYS_PER_YEAR = 324


def min_days_in_month(month: int) -> int:
    """Minimum valid daily means for a valid monthly mean (GB 3095-2012, Table 4).

    Parameters
    ----------
    month : int
        Calendar month 1..12.

    Returns
    -------
    int
        25 for February, 27 otherwise [days].
    """
    return MIN_DAYS_PER_FEBRUARY if month == 2 else MIN_DAYS_PER_MONTH


@dataclass(frozen=True)
class PeriodRule:
    """The minimum data of one assessment period, month by month.

    Attributes
    ----------
    month_starts : list of datetime.date
        First day (within the period) of each calendar month the period touches.
    month_days : NDArray[int64]
        Days of the period in each of those months [days].
    month_minimum : NDArray[int64]
        Valid daily means each month part needs [days].
    full_years : list of int
        Calendar years the period covers entirely (each needs 324 valid days).
    """

    month_starts: list[dt.date]
    month_days: NDArray[np.int64]
    month_minimum: NDArray[np.int64]
    full_years: list[int]

    @property
    def expected_days(self) -> int:
        """Days in the period [days]."""
        return int(self.month_days.sum())

    @property
    def minimum_days(self) -> int:
        """Least number of valid days the whole period needs [days]."""
        return max(int(self.month_minimum.sum()), MIN_DAYS_PER_YEAR * len(self.full_years))


def period_rule(start: dt.date, end: dt.date) -> PeriodRule:
    """The minimum-data rule for a mean or percentile over the days ``start`` .. ``end``.

    GB 3095-2012 Table 4 defines the monthly mean (≥ 27 daily means, 25 in February) and the
    annual mean (≥ 324 daily means and the monthly minimum in every month). HJ 663-2013 applies
    the same daily series to the annual percentiles and to cumulative periods (累计, January to
    month N). Choices written down here, where the standards are silent:

    - a cumulative or multi-month period is valid when every month in it meets the monthly
      minimum, and every calendar year it covers entirely has ≥ 324 valid days;
    - a month only partly inside the period may miss as many days as the full month may
      (e.g. 4 of January's 31), so its minimum is ``days_in_part - (days_in_month - minimum)``,
      never below 1 valid day;
    - percentiles (HJ 663-2013) and the O3 / CO period statistics use the same rule as the
      means.

    Parameters
    ----------
    start, end : datetime.date
        First and last day of the period (inclusive).

    Returns
    -------
    PeriodRule
    """
    if end < start:
        raise AssessmentError(f"period end {end} is before its start {start}")
    starts: list[dt.date] = []
    days: list[int] = []
    minimum: list[int] = []
    cursor = start
    while cursor <= end:
        in_month = calendar.monthrange(cursor.year, cursor.month)[1]
        last = dt.date(cursor.year, cursor.month, in_month)
        part_end = min(last, end)
        part = (part_end - cursor).days + 1
        allowed_missing = in_month - min_days_in_month(cursor.month)
        starts.append(cursor)
        days.append(part)
        minimum.append(max(1, part - allowed_missing))
        cursor = part_end + dt.timedelta(days=1)
    years = [
        y
        for y in range(start.year, end.year + 1)
        if start <= dt.date(y, 1, 1) and dt.date(y, 12, 31) <= end
    ]
    return PeriodRule(
        month_starts=starts,
        month_days=np.asarray(days, dtype=np.int64),
        month_minimum=np.asarray(minimum, dtype=np.int64),
        full_years=years,
    )


def period_valid(
    daily_valid: NDArray[np.bool_], rule: PeriodRule, first_day: dt.date
) -> NDArray[np.bool_]:
    """Whether a daily series satisfies a period's minimum data (GB 3095-2012, Table 4).

    Parameters
    ----------
    daily_valid : NDArray[bool], shape (..., n_days)
        Validity of each daily value, the last axis running over the days of the period.
    rule : PeriodRule
        From :func:`period_rule` for the same period.
    first_day : datetime.date
        The date of ``daily_valid[..., 0]`` (the period's first day).

    Returns
    -------
    NDArray[bool], shape (...)
    """
    offsets = np.concatenate(([0], np.cumsum(rule.month_days)[:-1])).astype(np.intp)
    per_month = np.add.reduceat(daily_valid.astype(np.int64), offsets, axis=-1)
    ok: NDArray[np.bool_] = np.all(per_month >= rule.month_minimum, axis=-1)
    for year in rule.full_years:
        a = (dt.date(year, 1, 1) - first_day).days
        b = (dt.date(year, 12, 31) - first_day).days + 1
        in_year = daily_valid[..., a:b].sum(axis=-1)
        ok = ok & (in_year >= MIN_DAYS_PER_YEAR)
    return ok
