"""``shanshui assess`` and ``shanshui rank`` end to end on the Beijing multi-site (PRSA) files.

The files are read through ``shanshui.formats.read_any`` once per module (the loader is
memoised for the test run only) and the commands run through Typer's runner.
"""

from __future__ import annotations

import functools
import itertools
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from shanshui.cli import app
from shanshui.cli import assess as assess_cli


@pytest.fixture(scope="module")
def prsa_files(shared: Path) -> list[str]:
    return [str(p) for p in sorted((shared / "data/beijing_multisite").glob("PRSA_Data_*.csv"))]


@pytest.fixture(autouse=True)
def _memoised_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assess_cli, "_load", _cached_load)


_REAL_LOAD = assess_cli._load


@functools.lru_cache(maxsize=2)
def _load_tuple(files: tuple[Path, ...]) -> pd.DataFrame:
    return _REAL_LOAD(list(files))


def _cached_load(files: list[Path]) -> pd.DataFrame:
    return _load_tuple(tuple(files))


def _run(args: list[str]) -> dict[str, Any]:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1  # exactly one JSON object
    out: dict[str, Any] = json.loads(lines[0])
    return out


def test_assess_json_for_beijing_2015(prsa_files: list[str]) -> None:
    args = ["assess", *prsa_files, "--city", "北京", "--from", "2015", "--to", "2015"]
    report = _run([*args, "--json"])
    assert report["scope"] == "北京"
    assert report["from"] == "2015-01-01" and report["to"] == "2015-12-31"
    assert report["reference_stations_excluded"] == ["1002A"]  # Dingling, 对照点
    assert len(report["stations"]) == 11
    pm = report["pollutants"]["PM2.5"]
    for key in ("mean", "valid_days", "p98", "exceedance_multiple", "p95", "valid"):
        assert key in pm
    # 80.6 µg/m³ — MEP briefing 2016-02-04 / 2015年北京市环境状况公报 (tolerance: see
    # test_assess.py — municipal network vs the 11 national stations).
    assert pm["mean"] == pytest.approx(80.6, rel=0.015)
    assert pm["exceedance_multiple"] == pytest.approx((pm["mean"] - 35) / 35, abs=1e-3)
    assert pm["valid"] and pm["valid_days"] >= 324
    assert set(report["pollutants"]) == {"SO2", "NO2", "PM10", "PM2.5", "CO", "O3"}
    assert 5 < report["composite_index"] < 10
    # Year on year: 2014 is in the files, so the change is reported; MEP: 2015 PM2.5 −6.2 %.
    assert report["previous"]["from"] == "2014-01-01"
    assert report["previous"]["pollutants"]["PM2.5"]["mean"] == pytest.approx(85.9, rel=0.015)
    change = report["year_on_year"]["pollutants"]["PM2.5"]["mean_change_pct"]
    assert change == pytest.approx(-6.2, abs=1.0)
    # Good days and heavily polluted days — MEP briefing 2016-02-04: 2015 had 186 good days
    # (51.0 %) and 46 days of heavy or severe pollution (tolerance ±2 points / ±8 days: the
    # city AQI here comes from 11 national stations, the official one from the municipal
    # network).
    print(
        "2015 good days",
        report["good_days"],
        "/",
        report["aqi_days"],
        "heavy",
        report["heavy_days"],
    )
    assert report["good_days_ratio"] == pytest.approx(0.510, abs=0.02)
    assert report["heavy_days"] == pytest.approx(46, abs=8)
    assert report["year_on_year"]["good_days_ratio_change_points"] is not None


def test_assess_cumulative_jan_nov_2016_with_previous_year(prsa_files: list[str]) -> None:
    args = ["assess", *prsa_files, "--city", "北京", "--from", "2016-01", "--to", "2016-11"]
    report = _run([*args, "--json"])
    pm = report["pollutants"]["PM2.5"]
    # MEP press release 2016-12-13: Beijing January–November 2016 PM2.5 67 µg/m³, −9.5 %
    # year on year (so January–November 2015 ≈ 74.0).
    print("Jan-Nov 2016", pm["mean"], "Jan-Nov 2015", report["previous"]["pollutants"]["PM2.5"])
    assert pm["mean"] == pytest.approx(67.0, rel=0.015)
    assert report["previous"]["pollutants"]["PM2.5"]["mean"] == pytest.approx(74.0, rel=0.015)
    assert report["year_on_year"]["pollutants"]["PM2.5"]["mean_change_pct"] == pytest.approx(
        -9.5, abs=1.0
    )
    assert pm["expected_days"] == 335 and pm["minimum_days"] == 27 * 10 + 25


def test_assess_2014_has_no_valid_previous_year(prsa_files: list[str]) -> None:
    # The files start 2013-03-01: 2013 is incomplete, so no PM2.5 change is computed from it.
    report = _run(
        ["assess", *prsa_files, "--city", "北京", "--from", "2014", "--to", "2014", "--json"]
    )
    assert report["previous"]["pollutants"]["PM2.5"]["valid"] is False
    assert report["previous"]["pollutants"]["PM2.5"]["mean"] is None
    assert report["year_on_year"]["pollutants"]["PM2.5"]["mean_change_pct"] is None


def test_assess_station_and_table_output(prsa_files: list[str]) -> None:
    report = _run(
        [
            "assess",
            *prsa_files,
            "--station",
            "1002A",
            "--from",
            "2016-01-01",
            "--to",
            "2016-01-31",
            "--json",
        ]
    )
    assert report["scope"] == "1002A" and report["scope_kind"] == "station"
    assert report["pollutants"]["PM2.5"]["expected_days"] == 31
    table = CliRunner().invoke(
        app, ["assess", *prsa_files, "--city", "北京", "--from", "2016-01", "--to", "2016-01"]
    )
    assert table.exit_code == 0 and "PM2.5" in table.output and "1002A" in table.output


def test_assess_refuses_bad_arguments(prsa_files: list[str]) -> None:
    runner = CliRunner()
    both = runner.invoke(
        app,
        [
            "assess",
            prsa_files[0],
            "--city",
            "北京",
            "--station",
            "1001A",
            "--from",
            "2015",
            "--to",
            "2015",
        ],
    )
    assert both.exit_code != 0
    bad_date = runner.invoke(
        app, ["assess", prsa_files[0], "--city", "北京", "--from", "2015-13", "--to", "2015"]
    )
    assert bad_date.exit_code != 0 and "date" in bad_date.output
    unknown = runner.invoke(
        app, ["assess", prsa_files[0], "--city", "不存在", "--from", "2015", "--to", "2015"]
    )
    assert unknown.exit_code != 0


def test_rank_lists_every_city(prsa_files: list[str]) -> None:
    result = CliRunner().invoke(
        app, ["rank", *prsa_files, "--from", "2016", "--to", "2016", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [c["city"] for c in data["cities"]] == ["北京"]
    assert data["cities"][0]["rank"] == 1
    table = CliRunner().invoke(app, ["rank", *prsa_files, "--from", "2016", "--to", "2016"])
    assert table.exit_code == 0 and "北京" in table.output


def test_rank_cnemc_cities(shared: Path) -> None:
    # Five days of CNEMC station files (2025-01-01 .. 05): every city with data is ranked by
    # composite index (MEP ranking rule: smaller is better, equal indices share a rank).
    files = sorted((shared / "data/cnemc/china_sites").glob("china_sites_2025010[1-5].csv.gz"))
    args = ["rank", *map(str, files), "--from", "2025-01-01", "--to", "2025-01-04", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    cities = json.loads(result.output)["cities"]
    ranked = [c for c in cities if c["rank"] is not None]
    print(f"{len(cities)} cities, {len(ranked)} ranked; first {ranked[0]}, last {ranked[-1]}")
    assert len(ranked) > 300
    indices = [c["composite_index"] for c in ranked]
    assert indices == sorted(indices)
    assert ranked[0]["rank"] == 1
    for a, b in itertools.pairwise(ranked):
        assert (a["rank"] == b["rank"]) == (a["composite_index"] == b["composite_index"])
    beijing = next(c for c in cities if c["city"] == "北京")
    assert beijing["stations"] >= 12  # assessment stations only; reference sites left out
