"""Validity and statistics of GB 3095-2012 (Table 4) and HJ 663-2013.

Reference values are worked by hand from the standards' rules (stated beside each case), or
taken from the thresholds in ``shared/reference/air/validity_rules.csv``.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from shanshui.standards import validity
from shanshui.standards.statistics import (
    daily_max_1h,
    daily_max_8h,
    daily_mean,
    moving_mean_8h,
    percentile_hj663,
    running_daily_max_8h,
    trailing_mean,
)


def test_thresholds_match_the_reference_transcription(shared: Path) -> None:
    # shared/reference/air/validity_rules.csv transcribes GB 3095-2012 Table 4 and HJ 663.
    with (shared / "reference/air/validity_rules.csv").open(encoding="utf-8") as fh:
        rules = {
            row["statistic"]: row["minimum_data"]
            for row in csv.DictReader(fh)
            if "TSP" not in row["pollutants"]
        }
    assert "324" in rules["annual mean"] and "27" in rules["annual mean"]
    assert "25 in February" in rules["monthly mean"]
    assert "20 hourly" in rules["24-hour mean"]
    assert "6 hourly" in rules["8-hour mean"]
    assert "14 valid" in rules["daily maximum 8-hour mean"]
    assert validity.MIN_DAYS_PER_YEAR == 324
    assert validity.MIN_DAYS_PER_MONTH == 27
    assert validity.MIN_DAYS_PER_FEBRUARY == 25
    assert validity.MIN_HOURS_PER_DAY == 20
    assert validity.MIN_HOURS_PER_8H == 6
    assert validity.MIN_8H_WINDOWS_PER_DAY == 14


def test_daily_mean_needs_20_hours() -> None:
    # GB 3095-2012 Table 4: ≥ 20 hourly values in the natural day.
    x = np.full((2, 48), 10.0)
    x[0, :5] = np.nan  # day 1 of site 0: 19 hours → invalid
    x[0, 24:28] = np.nan  # day 2 of site 0: 20 hours → valid
    x[1, 30] = 40.0  # site 1 day 2: mean (23·10 + 40)/24 = 11.25
    agg = daily_mean(x)
    assert agg.count.tolist() == [[19, 20], [24, 24]]
    assert agg.valid.tolist() == [[False, True], [True, True]]
    assert np.isnan(agg.value[0, 0])  # never computed from too little
    assert agg.value[0, 1] == 10.0
    assert agg.value[1, 1] == pytest.approx(11.25)
    assert agg.expected.tolist() == [[24, 24], [24, 24]]


def test_daily_mean_rejects_partial_days() -> None:
    from shanshui.standards.validity import AssessmentError

    with pytest.raises(AssessmentError):
        daily_mean(np.zeros(30))


def test_moving_8h_needs_6_of_8_hours() -> None:
    # GB 3095-2012 Table 4: O3 8-hour mean needs ≥ 6 hourly values in the window.
    x = np.arange(24, dtype=float)
    x[8:10] = np.nan
    agg = moving_mean_8h(x)
    # window ending with hour 10 (hours 3..10): 8 and 9 missing → 6 values: 3,4,5,6,7,10
    assert agg.count[10] == 6 and agg.valid[10]
    assert agg.value[10] == pytest.approx((3 + 4 + 5 + 6 + 7 + 10) / 6)
    x[7] = np.nan  # now hours 3..10 hold 5 values
    agg = moving_mean_8h(x)
    assert agg.count[10] == 5 and not agg.valid[10] and np.isnan(agg.value[10])
    # the first window (hour 0) sees one hour; hours before the data count as missing
    assert agg.count[0] == 1 and not agg.valid[0]


def test_daily_max_8h_uses_windows_ending_08_to_24_and_needs_14() -> None:
    # HJ 663-2013: max of the 8-hour means whose windows end 08:00..24:00 (17), ≥ 14 valid.
    day = np.full(48, 50.0)
    day[24 + 3] = 400.0  # day 2, hour 03-04: only windows ending 08:00 .. 11:00 see it
    agg = daily_max_8h(day)
    assert agg.count.tolist() == [17, 17]
    assert agg.value[0] == 50.0
    assert agg.value[1] == pytest.approx((7 * 50 + 400) / 8)
    # a spike in the LAST hours of day 1 only enters windows ending that day
    day2 = np.full(48, 50.0)
    day2[23] = 450.0
    agg2 = daily_max_8h(day2)
    assert agg2.value[0] == pytest.approx((7 * 50 + 450) / 8)
    assert agg2.value[1] == 50.0  # day 2's windows start at its own 00:00
    # 4 missing hours at 10..13 invalidate the windows ending 14:00..18:00 (only 4..7 left):
    gap = np.full(24, 60.0)
    gap[10:14] = np.nan
    agg3 = daily_max_8h(gap)
    # windows ending h (h=8..24) cover hours h-8..h-1; valid when ≥ 6 of them present
    expected_valid = sum(
        1 for h in range(8, 25) if sum(1 for i in range(h - 8, h) if not 10 <= i < 14) >= 6
    )
    assert agg3.count[0] == expected_valid
    assert agg3.valid[0] == (expected_valid >= 14)


def test_daily_max_8h_invalid_with_13_windows() -> None:
    x = np.full(24, 70.0)
    x[0:6] = np.nan  # windows ending 08..11 have < 6 values (2, 3, 4, 5 present): 13 valid
    agg = daily_max_8h(x)
    assert agg.count[0] == 13 and not agg.valid[0] and np.isnan(agg.value[0])


def test_daily_max_1h() -> None:
    x = np.full(24, 10.0)
    x[15] = 99.0
    assert daily_max_1h(x).value[0] == 99.0
    x[:5] = np.nan
    assert not daily_max_1h(x).valid[0]


def test_percentile_formula_of_hj663() -> None:
    # HJ 663-2013: k = 1 + (n-1)·p%, s = int(k), m = X(s) + (X(s+1) - X(s))·(k - s).
    x = np.array([7.0, 1.0, 10.0, 3.0, 2.0, 9.0, 4.0, 5.0, 8.0, 6.0, np.nan])
    # n = 10; p = 95: k = 9.55, s = 9 → 9 + (10-9)·0.55 = 9.55
    assert percentile_hj663(x, 95) == pytest.approx(9.55)
    # p = 98: k = 9.82 → 9.82 ; p = 90: k = 9.1 → 9.1 ; p = 0 → X(1) ; p = 100 → X(n)
    assert percentile_hj663(x, 98) == pytest.approx(9.82)
    assert percentile_hj663(x, 90) == pytest.approx(9.1)
    assert percentile_hj663(x, 0) == 1.0
    assert percentile_hj663(x, 100) == 10.0
    # 365 daily values: p95 k = 1 + 364·0.95 = 346.8 → X(346) + 0.8·(X(347) - X(346))
    y = np.arange(1.0, 366.0) * 2.0  # X(i) = 2i
    assert percentile_hj663(y, 95) == pytest.approx(2 * 346 + 0.8 * 2)
    # vectorized rows with different counts; empty row → NaN
    rows = np.array([[1.0, 2.0, np.nan], [5.0, np.nan, np.nan], [np.nan] * 3])
    got = percentile_hj663(rows, 50)
    assert got[0] == pytest.approx(1.5) and got[1] == 5.0 and np.isnan(got[2])


def test_period_rules() -> None:
    # GB 3095-2012 Table 4: month ≥ 27 (February 25), year ≥ 324 and every month.
    year = validity.period_rule(dt.date(2015, 1, 1), dt.date(2015, 12, 31))
    assert year.expected_days == 365 and year.full_years == [2015]
    assert year.month_minimum.tolist() == [27, 25] + [27] * 10
    assert year.minimum_days == 324
    jan_nov = validity.period_rule(dt.date(2015, 1, 1), dt.date(2015, 11, 30))
    assert jan_nov.expected_days == 334 and jan_nov.full_years == []
    assert jan_nov.minimum_days == 27 * 10 + 25
    # a partial month may miss as many days as the full month: Jan 1..10 → 10 - 4 = 6
    part = validity.period_rule(dt.date(2015, 1, 1), dt.date(2015, 1, 10))
    assert part.month_minimum.tolist() == [6]
    ok = np.ones(365, dtype=bool)
    assert validity.period_valid(ok, year, dt.date(2015, 1, 1))
    feb = ok.copy()
    feb[31:34] = False  # February 2015 keeps 25 days: valid
    assert validity.period_valid(feb, year, dt.date(2015, 1, 1))
    feb[34] = False  # 24 days: the year is invalid
    assert not validity.period_valid(feb, year, dt.date(2015, 1, 1))
    spread = ok.copy()
    for m in range(1, 13):  # every month at its minimum + (31-day months keep 27 too)
        first = dt.date(2015, m, 1)
        start = (first - dt.date(2015, 1, 1)).days
        length = ((dt.date(2015 + m // 12, m % 12 + 1, 1)) - first).days
        spread[start : start + length - validity.min_days_in_month(m)] = False
    assert spread.sum() == 27 * 11 + 25 == 322  # every month valid
    assert not validity.period_valid(spread, year, dt.date(2015, 1, 1))  # < 324
    with pytest.raises(validity.AssessmentError):
        validity.period_rule(dt.date(2015, 2, 1), dt.date(2015, 1, 1))


def test_trailing_24h() -> None:
    x = np.arange(48, dtype=float)
    agg = trailing_mean(x, 24, 20)
    assert agg.value[47] == pytest.approx(np.mean(np.arange(24, 48)))
    assert not agg.valid[18] and agg.valid[19]  # 19 hours vs 20 hours seen


# --- CNEMC's published rolling columns, reproduced from its hourly values -----------------

_ROLLING = ("PM2.5", "PM10", "SO2", "NO2", "CO")


def _cnemc_arrays(shared: Path) -> dict[str, np.ndarray]:
    """Hourly arrays (station, hour-start index from 2025-01-01 00:00) of every type."""
    import pandas as pd

    files = sorted((shared / "data/cnemc/china_sites").glob("china_sites_*.csv.gz"))
    raw = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    sites = [c for c in raw.columns if c not in ("date", "hour", "type")]
    dates = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    first = dates.min()
    # CNEMC's hour label h is the mean over (h-1, h]: the hour STARTING at h-1.
    index = ((dates - first).dt.days * 24 + raw["hour"] - 1).to_numpy()
    n_hours = 24 * len(files)
    out: dict[str, np.ndarray] = {}
    for kind in (*_ROLLING, "O3", *(p + "_24h" for p in _ROLLING), "O3_8h", "O3_8h_24h"):
        rows = (raw["type"] == kind).to_numpy() & (index >= 0) & (index < n_hours)
        a = np.full((len(sites), n_hours), np.nan)
        a[:, index[rows]] = raw.loc[rows, sites].to_numpy(dtype=float).T
        out[kind] = a
    return out


@pytest.fixture(scope="module")
def cnemc(shared: Path) -> dict[str, np.ndarray]:
    return _cnemc_arrays(shared)


def _rates(ours: np.ndarray, published: np.ndarray, complete: np.ndarray, tol: float) -> tuple:
    both = ~np.isnan(ours) & ~np.isnan(published)
    close = np.abs(ours - published) <= tol + 1e-9
    return (
        int(both.sum()),
        float(close[both].mean()),
        int((both & complete).sum()),
        float(close[both & complete].mean()),
    )


def test_cnemc_rolling_24h_columns_reproduced(cnemc: dict[str, np.ndarray]) -> None:
    # shared/data/cnemc/README.md: PM2.5_24h at hour h = trailing 24-hour mean of PM2.5.
    # Rate = share of station-hours (both published and computed) within 1 µg/m³
    # (CO 0.1 mg/m³, the published resolution). "complete" = all 24 hours published.
    for p in _ROLLING:
        ours = trailing_mean(cnemc[p], 24, 1).value
        complete = trailing_mean(cnemc[p], 24, 24).valid
        ours[:, :23] = np.nan  # windows reaching before the first file are not compared
        tol = 0.1 if p == "CO" else 1.0
        n, rate, n_full, rate_full = _rates(ours, cnemc[p + "_24h"], complete, tol)
        print(
            f"{p}_24h: {rate:.2%} of {n} station-hours; "
            f"{rate_full:.2%} of {n_full} with all 24 hours published"
        )
        assert n_full > 500_000
        assert rate_full >= 0.995
        assert rate >= 0.75  # gaps: CNEMC averages hours it did not publish


def test_cnemc_o3_8h_columns_reproduced(cnemc: dict[str, np.ndarray]) -> None:
    o3 = cnemc["O3"]
    days = o3.reshape(o3.shape[0], -1, 24)
    complete_day = (np.cumsum(np.isnan(days), axis=-1) == 0).reshape(o3.shape)
    # O3_8h: the running daily maximum of the 8-hour averages (README, checked here).
    ours = running_daily_max_8h(o3, 6)
    n, rate, n_full, rate_full = _rates(ours, cnemc["O3_8h"], complete_day, 1.0)
    print(f"O3_8h: {rate:.2%} of {n}; {rate_full:.2%} of {n_full} with every hour published")
    assert rate_full >= 0.999 and rate >= 0.95
    # O3_8h_24h: the plain 8-hour moving average, published for hours ending 08..24 (found
    # here from the data: 64,62,54,47,45,40,34,39 → 48 at 1001A 2025-01-02 08:00).
    ours = moving_mean_8h(o3, 6).value
    complete8 = moving_mean_8h(o3, 8).valid
    n, rate, n_full, rate_full = _rates(ours, cnemc["O3_8h_24h"], complete8, 1.0)
    print(f"O3_8h_24h: {rate:.2%} of {n}; {rate_full:.2%} of {n_full} with all 8 hours")
    assert rate_full >= 0.999 and rate >= 0.95


def test_monthly_and_cumulative_means() -> None:
    from shanshui.standards.statistics import Aggregate, cumulative_mean, monthly_mean

    # 2015: daily value = month number; January keeps 27 valid days (valid), February 24
    # (< 25: invalid, GB 3095-2012 Table 4), the other months complete.
    days = np.array([(dt.date(2015, 1, 1) + dt.timedelta(d)).month for d in range(365)], float)
    valid = np.ones(365, dtype=bool)
    valid[0:4] = False
    valid[31:35] = False
    daily = Aggregate(days, np.ones(365, np.int64), np.ones(365, np.int64), valid)
    months, agg = monthly_mean(daily, dt.date(2015, 1, 1))
    assert months[0] == dt.date(2015, 1, 1) and months[11] == dt.date(2015, 12, 1)
    assert agg.count[:3].tolist() == [27, 24, 31]
    assert agg.valid[:3].tolist() == [True, False, True]
    assert agg.value[0] == 1.0 and np.isnan(agg.value[1]) and agg.value[11] == 12.0
    assert agg.expected[:2].tolist() == [31, 28]
    # cumulative 1–N: invalid from February on (one month below its minimum)
    _, cum = cumulative_mean(daily, dt.date(2015, 1, 1))
    assert cum.valid.tolist() == [True] + [False] * 11
    valid[31:35] = True  # February complete again: Jan–Mar mean = (27·1 + 28·2 + 31·3) / 86
    _, cum = cumulative_mean(
        Aggregate(days, daily.count, daily.expected, valid), dt.date(2015, 1, 1)
    )
    assert cum.valid.all()
    assert cum.value[2] == pytest.approx((27 * 1 + 28 * 2 + 31 * 3) / 86)
    assert cum.count[10] == 334 - 4 and cum.expected[10] == 334
