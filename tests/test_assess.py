"""Station and city assessment (GB 3095-2012, HJ 663-2013), composite index and ranking.

Reference figures and their sources are named beside each test. The Beijing multi-site
(PRSA) files are read here with a minimal test-local loader (CO µg/m³ → mg/m³; hour ``h``
read as the hour ENDING at ``h``, CNEMC's convention, shanshui.formats' default), so that
these tests check the assessment engine alone; ``test_assess_cli.py`` runs the whole path
through ``shanshui.formats``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shanshui.standards.assessment import (
    assess_network,
    city_daily,
    daily_statistics,
    hourly_cube,
    period_table,
)
from shanshui.standards.composite import (
    change_percent,
    composite_index,
    exceedance_multiple,
    rank,
)

TZ = "Asia/Shanghai"
POLLUTANTS = ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3")


def _prsa(shared: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = shared / "data/beijing_multisite"
    meta = pd.read_csv(folder / "stations.csv")
    code = dict(zip(meta["station"], meta["code"], strict=True))
    frames = []
    for path in sorted(folder.glob("PRSA_Data_*.csv")):
        d = pd.read_csv(path)
        stamp = pd.to_datetime(d[["year", "month", "day", "hour"]]).dt.tz_localize(TZ)
        start = stamp - pd.Timedelta(hours=1)  # hour label = end of the hour
        d["CO"] = d["CO"] / 1000.0  # README: CO in µg/m³ in these files
        for p in POLLUTANTS:
            ok = d[p].notna()
            frames.append(
                pd.DataFrame(
                    {
                        "site": code[d["station"].iloc[0]],
                        "time": start[ok],
                        "parameter": p,
                        "value": d.loc[ok, p].astype(float),
                        "flag": "N",
                    }
                )
            )
    stations = pd.DataFrame(
        {"code": meta["code"], "city": "北京", "reference": meta["reference_site"].eq("Y")}
    )
    return pd.concat(frames, ignore_index=True), stations


@pytest.fixture(scope="module")
def beijing(shared: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return _prsa(shared)


def _pm25(frame: pd.DataFrame, stations: pd.DataFrame, a: dt.date, b: dt.date) -> pd.Series:
    result = assess_network(frame, stations, a, b, with_aqi=False)
    return result.cities.loc[("北京", "PM2.5")]


# Officially published Beijing PM2.5 means [µg/m³]:
# - 2014: 85.9 — Beijing Municipal Environmental Protection Bureau, 2014 air-quality report of
#   2015-01-04 (北京市环境保护局通报, 2014年北京市环境状况公报);
# - 2015: 80.6, "同比下降6.2%" — Ministry of Environmental Protection briefing of 2016-02-04
#   and 2015年北京市环境状况公报;
# - 2016: 73 — 2016年北京市环境状况公报 (Beijing EPB, 2017-06; "exceeds the standard 1.09
#   times", i.e. (73-35)/35);
# - January–November 2016: 67, "同比下降9.5%" — MEP press release of 2016-12-13 on the
#   1–11月 air quality of the 74 cities; hence January–November 2015 ≈ 67 / (1 − 0.095) = 74.0.
# Tolerance 1.5 %: the official figures average Beijing's municipal network (35 stations,
# urban, suburban, traffic) and are rounded; shanshui averages the 11 national assessment
# stations in the PRSA files (Dingling, the reference site, is left out). The agreement is
# within 0.8 % in every period; wrongly including Dingling moves 2015 by −1.7 %.
OFFICIAL = {
    "2014": ((2014, 1, 1), (2014, 12, 31), 85.9),
    "2015": ((2015, 1, 1), (2015, 12, 31), 80.6),
    "2016": ((2016, 1, 1), (2016, 12, 31), 73.0),
    "2015-01..11": ((2015, 1, 1), (2015, 11, 30), 67.0 / (1 - 0.095)),
    "2016-01..11": ((2016, 1, 1), (2016, 11, 30), 67.0),
}


def test_beijing_pm25_against_official_figures(beijing: tuple) -> None:
    frame, stations = beijing
    got = {}
    for name, (a, b, official) in OFFICIAL.items():
        row = _pm25(frame, stations, dt.date(*a), dt.date(*b))
        got[name] = row["mean"]
        print(
            f"Beijing PM2.5 {name}: shanshui {row['mean']:.2f} (valid days {row['valid_days']}"
            f"/{row['expected_days']}), official {official:.1f}, "
            f"diff {(row['mean'] - official) / official:+.2%}"
        )
        assert row["valid"]
        assert row["mean"] == pytest.approx(official, rel=0.015)
    # Year-on-year change (同比) against the officially published changes, ±1 point:
    # 2015 vs 2014 −6.2 % (MEP 2016-02-04); 2016 vs 2015 from the bulletins (73 / 80.6 − 1 =
    # −9.4 %); Jan–Nov 2016 vs Jan–Nov 2015 −9.5 % (MEP 2016-12-13).
    changes = {
        "2015/2014": (change_percent(got["2015"], got["2014"]), -6.2),
        "2016/2015": (change_percent(got["2016"], got["2015"]), (73.0 / 80.6 - 1) * 100),
        "Jan-Nov 2016/2015": (change_percent(got["2016-01..11"], got["2015-01..11"]), -9.5),
    }
    for name, (ours, official) in changes.items():
        print(f"year on year {name}: shanshui {float(ours):+.2f} %, official {official:+.1f} %")
        assert float(ours) == pytest.approx(official, abs=1.0)


def test_2013_is_incomplete_so_invalid(beijing: tuple) -> None:
    # The PRSA data start 2013-03-01: January and February 2013 have no daily means, so the
    # 2013 annual mean is invalid (GB 3095-2012 Table 4: ≥ 27 days in each month).
    frame, stations = beijing
    row = _pm25(frame, stations, dt.date(2013, 1, 1), dt.date(2013, 12, 31))
    assert not row["valid"] and np.isnan(row["mean"]) and np.isnan(row["percentile"])
    assert 280 < row["valid_days"] <= 306 and row["expected_days"] == 365


def test_city_value_leaves_out_the_reference_station(beijing: tuple) -> None:
    # HJ 663-2013: a city's value is the mean of its assessment stations; Dingling (1002A)
    # is Beijing's reference site (shared/data/beijing_multisite/stations.csv).
    frame, stations = beijing
    a, b = dt.date(2016, 1, 1), dt.date(2016, 1, 31)
    result = assess_network(frame, stations, a, b, with_aqi=False)
    assert result.reference["北京"] == ["1002A"]
    assert "1002A" not in result.members["北京"] and len(result.members["北京"]) == 11
    # Independent pandas computation of the January 2016 city PM2.5 mean.
    pm = frame[(frame["parameter"] == "PM2.5") & (frame["site"] != "1002A")]
    pm = pm[(pm["time"] >= pd.Timestamp(a).tz_localize(TZ))]
    pm = pm[pm["time"] < pd.Timestamp(b + dt.timedelta(days=1)).tz_localize(TZ)]
    day = pm["time"].dt.date
    g = pm.groupby(["site", day])["value"].agg(["mean", "count"])
    station_days = g.loc[g["count"] >= 20, "mean"]
    city_days = station_days.groupby(level=1).mean()
    assert result.cities.loc[("北京", "PM2.5"), "mean"] == pytest.approx(city_days.mean())
    assert result.cities.loc[("北京", "PM2.5"), "valid_days"] == len(city_days)
    # The reference station is still assessed as a station.
    assert ("1002A", "PM2.5") in result.stations.index


def _frame(values: dict[tuple[str, str], np.ndarray], start: str) -> pd.DataFrame:
    t0 = pd.Timestamp(start).tz_localize(TZ)
    rows = []
    for (site, parameter), v in values.items():
        times = t0 + pd.to_timedelta(np.arange(v.size), unit="h")
        rows.append(
            pd.DataFrame(
                {"site": site, "time": times, "parameter": parameter, "value": v, "flag": "N"}
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_flags_other_than_n_do_not_enter() -> None:
    # DESIGN §4 / HJ 212: only valid data (flag N) enter statistics.
    v = np.full(24, 10.0)
    frame = _frame({("A", "PM2.5"): v}, "2020-01-01")
    frame.loc[:4, "flag"] = "D"  # five hours from a faulty instrument
    frame.loc[:4, "value"] = 1000.0
    cube = hourly_cube(frame, dt.date(2020, 1, 1), dt.date(2020, 1, 1))
    daily = daily_statistics(cube)
    assert daily["PM2.5"].count[0, 0] == 19 and not daily["PM2.5"].valid[0, 0]
    frame.loc[4, "flag"] = "N"
    frame.loc[4, "value"] = 10.0
    daily = daily_statistics(hourly_cube(frame, dt.date(2020, 1, 1), dt.date(2020, 1, 1)))
    assert daily["PM2.5"].value[0, 0] == 10.0


def test_naive_times_are_refused() -> None:
    from shanshui.standards.validity import AssessmentError

    frame = pd.DataFrame(
        {"site": ["A"], "time": [pd.Timestamp("2020-01-01")], "parameter": ["SO2"], "value": [1.0]}
    )
    with pytest.raises(AssessmentError):
        hourly_cube(frame, dt.date(2020, 1, 1), dt.date(2020, 1, 1))


def test_period_statistics_of_a_synthetic_month() -> None:
    # February 2021, 28 days; station A has PM2.5 = day number (1..28), station B 24 valid
    # days only (< 25: GB 3095-2012 Table 4 February minimum) → invalid.
    days = 28
    a = np.repeat(np.arange(1.0, days + 1), 24)
    b = a.copy()
    b[: 4 * 24] = np.nan
    frame = _frame({("A", "PM2.5"): a, ("B", "PM2.5"): b}, "2021-02-01")
    cube = hourly_cube(frame, dt.date(2021, 2, 1), dt.date(2021, 2, 28))
    daily = daily_statistics(cube)
    table = period_table(daily, cube.sites, dt.date(2021, 2, 1), dt.date(2021, 2, 28))
    ra, rb = table.loc[("A", "PM2.5")], table.loc[("B", "PM2.5")]
    assert ra["valid"] and ra["mean"] == pytest.approx(14.5) and ra["valid_days"] == 28
    # HJ 663: p95 of 1..28 → k = 1 + 27·0.95 = 26.65 → 26 + 0.65 = 26.65
    assert ra["percentile"] == pytest.approx(26.65) and ra["percentile_rank"] == 95
    assert ra["exceedance_multiple"] == pytest.approx((14.5 - 35) / 35)
    assert ra["compliant_II"] and ra["compliant_I"]  # 14.5 ≤ 15 and p95 26.65 ≤ 35
    assert not rb["valid"] and rb["valid_days"] == 24 and np.isnan(rb["mean"])
    assert not rb["compliant_II"]  # compliance is never shown from too little data
    # A city of A and B: day values are the mean of the valid stations.
    groups = np.array([0, 0])
    cdaily = city_daily(daily, groups, 1)
    assert cdaily["PM2.5"].count[0].tolist() == [1] * 4 + [2] * 24
    assert cdaily["PM2.5"].value[0, 10] == pytest.approx(11.0)


def test_composite_index_and_ranking() -> None:
    # MEP 城市环境空气质量排名技术规定: I = Σ C_i/S_i; at exactly the grade II limits each
    # single index is 1, so the sum is 6.
    at_limit = {"SO2": 60.0, "NO2": 40.0, "PM10": 70.0, "PM2.5": 35.0, "CO": 4.0, "O3": 160.0}
    other = {"SO2": 6.0, "NO2": 20.0, "PM10": 35.0, "PM2.5": 70.0, "CO": 2.0, "O3": 80.0}
    frame = pd.DataFrame([at_limit, other, at_limit], index=["X", "Y", "Z"])
    ci = composite_index(frame)
    assert ci.loc["X", "composite_index"] == pytest.approx(6.0)
    # Y: 0.1 + 0.5 + 0.5 + 2 + 0.5 + 0.5 = 4.1, largest single index PM2.5
    assert ci.loc["Y", "composite_index"] == pytest.approx(4.1)
    assert ci.loc["Y", "max_index_pollutant"] == "PM2.5"
    ranks = rank(ci["composite_index"])
    assert ranks.tolist() == [2.0, 1.0, 2.0]  # equal indices share a rank (并列)
    incomplete = frame.assign(O3=[np.nan, 80.0, 160.0])
    assert np.isnan(composite_index(incomplete).loc["X", "composite_index"])
    # 超标倍数 (HJ 663-2013): (73 − 35)/35 = 1.09 — the figure in Beijing's 2016 bulletin.
    assert float(exceedance_multiple(np.array(73.0), 35.0)) == pytest.approx(1.0857, abs=1e-4)


def test_good_and_heavy_days_count_from_the_daily_aqi() -> None:
    pytest.importorskip(
        "shanshui.standards.aqi", reason="shanshui.standards.aqi (HJ 633) not installed yet"
    )
    # Three days at one station: clean; PM2.5 200 µg/m³ (HJ 633: IAQI 250, 重度污染); clean
    # except one missing PM10 day (not a valid AQI day).
    hours = 72
    clean = {"SO2": 5.0, "NO2": 20.0, "CO": 0.5, "PM10": 30.0, "PM2.5": 20.0, "O3": 50.0}
    values = {("A", p): np.full(hours, v) for p, v in clean.items()}
    values[("A", "PM2.5")][24:48] = 200.0
    values[("A", "PM10")][48:60] = np.nan
    frame = _frame(values, "2021-06-01")
    result = assess_network(
        frame,
        pd.DataFrame(columns=["code", "city", "reference"]),
        dt.date(2021, 6, 1),
        dt.date(2021, 6, 3),
        with_aqi=True,
    )
    s = result.station_summary.loc["A"]
    assert s["aqi_days"] == 2 and s["good_days"] == 1 and s["heavy_days"] == 1
    assert s["good_days_ratio"] == pytest.approx(0.5)


def test_year_on_year_of_every_statistic(beijing: tuple) -> None:
    from shanshui.standards.assessment import year_on_year

    frame, stations = beijing
    now = assess_network(frame, stations, dt.date(2016, 1, 1), dt.date(2016, 12, 31))
    before = assess_network(frame, stations, dt.date(2015, 1, 1), dt.date(2015, 12, 31))
    change = year_on_year(now.cities, before.cities)
    pm = change.loc[("北京", "PM2.5")]
    # 2016 bulletin 73 vs 2015 80.6 µg/m³ (sources in OFFICIAL above): −9.4 %, ±1 point
    assert pm["mean_change_pct"] == pytest.approx((73.0 / 80.6 - 1) * 100, abs=1.0)
    for column in ("percentile_change_pct", "p98_change_pct", "days_over_limit_change_pct"):
        assert np.isfinite(pm[column])
    assert "percentile_rank_change_pct" not in change.columns
    summary = year_on_year(now.city_summary, before.city_summary)
    assert np.isfinite(summary.loc["北京", "composite_index_change_pct"])
    assert "good_days_ratio_change_points" in summary.columns
    # a period without valid data one year earlier gives no change (2013 is incomplete)
    old = assess_network(frame, stations, dt.date(2013, 1, 1), dt.date(2013, 12, 31))
    first = assess_network(frame, stations, dt.date(2014, 1, 1), dt.date(2014, 12, 31))
    assert np.isnan(
        year_on_year(first.cities, old.cities).loc[("北京", "PM2.5"), "mean_change_pct"]
    )
