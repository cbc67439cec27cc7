"""HJ 633-2012 AQI: the worked cases, the shipped tables, the edge rules and the CLI.

Reference values come from ``../shared/reference/air/`` (``aqi_cases.jsonl``: 40 cases
computed from HJ 633-2012; ``aqi_breakpoints.csv``: Table 1; ``aqi_categories.csv``: Table 2
and Appendix A), or are worked by hand from HJ 633-2012 formula (1) in the test itself.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shanshui.cli import app
from shanshui.standards import StandardsError, daily_aqi, hourly_aqi, iaqi, summarise_iaqi
from shanshui.standards.aqi import aqi_value
from shanshui.standards.aqi_tables import BREAKPOINTS, CATEGORIES

HOURLY = ["SO2", "NO2", "CO", "O3", "PM2.5", "PM10"]
DAILY = ["SO2", "NO2", "CO", "PM10", "PM2.5", "O3_1h", "O3_8h"]


def _cases(shared: Path) -> list[dict[str, Any]]:
    path = shared / "reference" / "air" / "aqi_cases.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def cases(shared: Path) -> list[dict[str, Any]]:
    found = _cases(shared)
    assert len(found) == 40
    return found


def _check_row(row: pd.Series, case: dict[str, Any], category_column: str) -> None:
    """Compare one result row with the expected values of a reference case, exactly."""
    expected = case["expected"]
    where = f"case {case['id']} ({case['note']})"
    assert row["AQI"] == expected["AQI"], where
    assert row["primary_pollutant"] == ",".join(expected["primary_pollutant"]), where
    assert row["non_attainment"] == ",".join(expected["non_attainment"]), where
    assert row["level"] == expected["level"], where
    assert row[category_column] == expected["category_zh"], where
    assert row["category_en"] == expected["category_en"], where
    names = HOURLY if case["period"] == "hour" else DAILY
    for name in names:
        got = row[f"IAQI_{name}"]
        if name in expected["IAQI"]:
            assert got == expected["IAQI"][name], f"{where}: IAQI {name}"
        else:  # a pollutant missing from the inputs has no IAQI (never zero)
            assert pd.isna(got), f"{where}: IAQI {name}"


def test_every_reference_case_passes(cases: list[dict[str, Any]]) -> None:
    for case in cases:
        frame = pd.DataFrame([case["inputs"]])
        result = (hourly_aqi if case["period"] == "hour" else daily_aqi)(frame)
        _check_row(result.iloc[0], case, "category_zh")


def test_aqi_value_gives_the_reference_aqi_of_every_hourly_case(
    cases: list[dict[str, Any]],
) -> None:
    """aqi_value: the AQI of each hourly reference case (../shared/reference/air/aqi_cases)."""
    hourly = [c for c in cases if c["period"] == "hour"]
    assert hourly
    frame = pd.DataFrame([c["inputs"] for c in hourly])
    got = aqi_value(frame)
    for case, value in zip(hourly, got.tolist(), strict=True):
        expected = case["expected"]["AQI"]
        if expected is None:
            assert math.isnan(value), case["id"]
        else:
            assert value == expected, f"case {case['id']} ({case['note']})"


def test_every_reference_case_passes_through_the_cli(cases: list[dict[str, Any]]) -> None:
    for period, command, columns in (("hour", "hourly", HOURLY), ("day", "daily", DAILY)):
        chosen = [c for c in cases if c["period"] == period]
        rows = [{"id": c["id"], **c["inputs"]} for c in chosen]
        frame = pd.DataFrame(rows, columns=["id", *columns, *(["SO2_24h"] * (period == "hour"))])
        result = CliRunner().invoke(app, ["aqi", command, "-"], input=frame.to_csv(index=False))
        assert result.exit_code == 0, result.output
        out = pd.read_csv(io.StringIO(result.stdout), keep_default_na=False, na_values=[""])
        out["primary_pollutant"] = out["primary_pollutant"].fillna("")
        out["non_attainment"] = out["non_attainment"].fillna("")
        assert list(out["id"]) == [c["id"] for c in chosen]
        for (_, row), case in zip(out.iterrows(), chosen, strict=True):
            _check_row(row, case, "category")


def test_breakpoint_table_matches_the_reference_transcription(shared: Path) -> None:
    reference = pd.read_csv(shared / "reference" / "air" / "aqi_breakpoints.csv")
    assert set(BREAKPOINTS) == set(reference.columns) - {"IAQI"}
    for key, values in BREAKPOINTS.items():
        column = reference[key].dropna()
        assert tuple(column) == values, key
        assert (
            tuple(reference.loc[column.index, "IAQI"])
            == (0, 50, 100, 150, 200, 300, 400, 500)[: len(values)]
        )


def test_category_table_matches_the_reference_transcription(shared: Path) -> None:
    reference = pd.read_csv(shared / "reference" / "air" / "aqi_categories.csv")
    assert len(reference) == len(CATEGORIES)
    for (_, ref), cat in zip(reference.iterrows(), CATEGORIES, strict=True):
        assert cat.level == ref["level"]
        assert cat.category_zh == ref["category_zh"]
        assert cat.category_en == ref["category_en"]
        assert cat.aqi_min == ref["aqi_min"]
        assert (cat.aqi_max is None) == pd.isna(ref["aqi_max"])
        assert cat.rgb == (ref["r"], ref["g"], ref["b"])
        assert cat.colour == "#{:02X}{:02X}{:02X}".format(ref["r"], ref["g"], ref["b"])


def test_each_breakpoint_gives_its_iaqi_and_just_above_rounds_up(shared: Path) -> None:
    """HJ 633-2012 formula (1) at every Table 1 breakpoint, read from the reference CSV."""
    reference = pd.read_csv(shared / "reference" / "air" / "aqi_breakpoints.csv")
    for key in reference.columns.drop("IAQI"):
        pollutant, period = key.rsplit("_", 1)
        column = reference[key].dropna()
        step = 0.001 if pollutant == "CO" else 0.1
        for idx, conc in column.items():
            level = reference.loc[idx, "IAQI"]
            assert iaqi(float(conc), pollutant, period) == level, (key, conc)
            if idx < column.index[-1]:
                # a hair above a breakpoint lies in the next segment and is rounded up
                assert iaqi(float(conc) + step, pollutant, period) == level + 1, (key, conc)


def test_iaqi_above_the_top_breakpoint_and_the_table_notes() -> None:
    # above the top breakpoint: 500 (reference README; CNEMC publishes 500)
    assert iaqi(501.0, "PM2.5", "24h") == 500
    assert iaqi(1300.0, "O3", "1h") == 500
    assert iaqi(151.0, "CO", "1h") == 500
    # Table 1 notes: no 1-hour SO2 IAQI above 800, no 8-hour O3 IAQI above 800
    assert math.isnan(iaqi(800.1, "SO2", "1h"))
    assert math.isnan(iaqi(801.0, "O3", "8h"))
    assert iaqi(800.0, "SO2", "1h") == 200
    assert iaqi(800.0, "O3", "8h") == 300


def test_iaqi_keeps_the_shape_and_index_of_its_input() -> None:
    series = pd.Series([0.0, 35.0, np.nan, -1.0, 75.5], index=list("abcde"), name="PM2.5")
    out = iaqi(series, "PM2.5", "24h")
    assert isinstance(out, pd.Series)
    assert list(out.index) == list("abcde")
    # 75.5: 100 + (75.5 - 75) * 50 / 40 = 100.625 -> 101 (formula (1), rounded up)
    assert out.tolist()[:2] == [0.0, 50.0]
    assert out.tolist()[4] == 101.0
    assert np.isnan(out.iloc[2]) and np.isnan(out.iloc[3])  # missing and negative: no IAQI
    array = iaqi(np.array([5.0, 20.0]), "NO2", "1h")
    assert isinstance(array, np.ndarray)
    assert array.tolist() == [3.0, 10.0]  # 5*50/100 = 2.5 -> 3; 20*50/100 = 10
    assert iaqi(0.3, "CO", "1h") == 3.0  # 0.3*50/5 = 3 exactly despite binary rounding
    assert str(iaqi(0.0, "SO2", "1h")) == "0.0"  # not -0.0


def test_iaqi_refuses_a_pollutant_or_period_table_1_does_not_list() -> None:
    with pytest.raises(StandardsError, match="no breakpoints"):
        iaqi(10.0, "PM2.5", "1h")
    with pytest.raises(StandardsError):
        iaqi(10.0, "O3", "24h")
    with pytest.raises(StandardsError):
        iaqi(10.0, "Pb", "24h")


def test_hourly_so2_above_800_rules() -> None:
    frame = pd.DataFrame(
        {"SO2": [900.0, 900.0, 400.0], "SO2_24h": [300.0, np.nan, 999.0], "PM2.5": [20.0] * 3}
    )
    standard = hourly_aqi(frame)
    # 300 µg/m³ 24-hour: 100 + (300 - 150) * 50 / 325 = 123.08 -> 124 (Table 1 note)
    assert standard["IAQI_SO2"].tolist()[:1] == [124]
    assert pd.isna(standard["IAQI_SO2"].iloc[1])  # no 24-hour mean: no SO2 IAQI
    # 400 µg/m³ 1-hour is below 800: the 1-hour IAQI, 50 + 250 * 50 / 350 = 85.7 -> 86
    assert standard["IAQI_SO2"].iloc[2] == 86
    platform = hourly_aqi(frame, rule="cnemc")
    assert platform["IAQI_SO2"].tolist() == [200, 200, 86]
    assert platform["AQI"].tolist() == [200, 200, 86]
    with pytest.raises(StandardsError):
        hourly_aqi(frame, rule="other")  # type: ignore[arg-type]


def test_cnemc_rule_withholds_the_aqi_without_particulate_matter() -> None:
    frame = pd.DataFrame({"NO2": [130.0, 130.0], "PM10": [np.nan, 20.0], "PM2.5": [np.nan] * 2})
    platform = hourly_aqi(frame, rule="cnemc")
    assert pd.isna(platform["AQI"].iloc[0])
    assert platform["primary_pollutant"].iloc[0] == ""
    assert platform["IAQI_NO2"].iloc[0] == 65  # the IAQI is still reported
    assert platform["AQI"].iloc[1] == 65
    assert hourly_aqi(frame)["AQI"].tolist() == [65, 65]  # HJ 633: from what there is


def test_aqi_value_follows_the_so2_note_and_the_cnemc_rule() -> None:
    # the frame of test_hourly_so2_above_800_rules: SO2 24-hour 300 -> IAQI 124 (Table 1
    # note); no 24-hour mean -> no SO2 IAQI, PM2.5 20 -> 50 * 20 / 35 = 28.6 -> 29
    frame = pd.DataFrame(
        {"SO2": [900.0, 900.0, 400.0], "SO2_24h": [300.0, np.nan, 999.0], "PM2.5": [20.0] * 3}
    )
    assert aqi_value(frame).tolist() == [124, 29, 86]
    assert aqi_value(frame, rule="cnemc").tolist() == [200, 200, 86]
    assert aqi_value(frame.drop(columns="SO2_24h")).tolist() == [29, 29, 86]
    # NO2 130 -> 65; the platform publishes no AQI without PM2.5 and PM10
    no_pm = pd.DataFrame({"NO2": [130.0, 130.0], "PM10": [np.nan, 20.0], "PM2.5": [np.nan] * 2})
    assert aqi_value(no_pm).tolist() == [65, 65]
    platform = aqi_value(no_pm, rule="cnemc")
    assert math.isnan(platform[0]) and platform[1] == 65
    with pytest.raises(StandardsError):
        aqi_value(frame, rule="other")  # type: ignore[arg-type]
    with pytest.raises(StandardsError, match="at least one"):
        aqi_value(pd.DataFrame({"x": [1.0]}))


def test_aqi_value_at_the_edges_of_table_1() -> None:
    """Formula (1) at breakpoints, just above, below 0, missing and above the top."""
    tiny = 5e-324  # the smallest float: still negative, so no IAQI (not 0)
    pm25 = [0.0, -0.0, -tiny, -1.0, np.nan, 35.0, 35.1, 80.0, 500.0, 501.0, 1e300, tiny]
    # HJ 633-2012 Table 1 PM2.5 24-hour: 35 -> 50; 35.1 -> 50 + 0.1 * 50 / 40 -> 51;
    # 80 -> 100 + 5 * 50 / 40 = 106.25 -> 107; 500 -> 500; above the top: 500
    expected = [0, 0, np.nan, np.nan, np.nan, 50, 51, 107, 500, 500, 500, 1]
    frame = pd.DataFrame({"PM2.5": pm25})
    np.testing.assert_array_equal(aqi_value(frame), expected)
    np.testing.assert_array_equal(aqi_value(frame), iaqi(np.array(pm25), "PM2.5", "24h"))
    # the SO2 1-hour column stops at 800 (IAQI 200): 800 itself is on the table
    assert aqi_value(pd.DataFrame({"SO2": [800.0, 650.0, 150.0]})).tolist() == [200, 150, 50]


def test_aqi_value_equals_hourly_aqi_on_many_rows() -> None:
    rng = np.random.default_rng(633)
    n = 20_003  # not a multiple of 8
    # concentrations from 0 to beyond the top breakpoints, on 0.1 steps (so that many lie
    # exactly on a breakpoint), 1 % negative
    columns = {name: rng.lognormal(3.5, 1.5, n).round(1) for name in HOURLY}
    columns["CO"] = (columns["CO"] / 20.0).round(1)
    frame = pd.DataFrame(columns)
    frame.loc[rng.random(n) < 0.01, "NO2"] = -1.0
    frame.loc[rng.random(n) < 0.1, "PM10"] = np.nan
    frame.loc[rng.random(n) < 0.1, "PM2.5"] = np.nan
    frame["SO2"] = rng.uniform(0.0, 1000.0, n).round()
    frame["SO2_24h"] = rng.uniform(0.0, 3000.0, n).round()
    for rule in ("hj633", "cnemc"):
        full = hourly_aqi(frame, rule=rule)["AQI"].to_numpy(dtype=float, na_value=np.nan)
        np.testing.assert_array_equal(aqi_value(frame, rule=rule), full)


def test_daily_o3_8h_above_800_takes_the_1h_iaqi() -> None:
    frame = pd.DataFrame({"O3_1h": [1100.0, np.nan], "O3_8h": [850.0, 850.0]})
    out = daily_aqi(frame)
    # O3_1h 1100: 400 + (1100 - 1000) * 100 / 200 = 450
    assert out["IAQI_O3_8h"].iloc[0] == 450
    assert pd.isna(out["IAQI_O3_8h"].iloc[1])
    assert pd.isna(out["AQI"].iloc[1])


def test_missing_pollutants_are_left_out_and_all_missing_gives_no_aqi() -> None:
    frame = pd.DataFrame(
        {"NO2": [130.0, np.nan], "PM2.5": [np.nan, np.nan], "other": ["x", "y"]},
        index=pd.Index([10, 20], name="row"),
    )
    out = hourly_aqi(frame)
    assert list(out.index) == [10, 20]
    # NO2 130: 50 + 30 * 50 / 100 = 65 -> AQI 65, NO2 primary (AQI > 50)
    assert out["AQI"].iloc[0] == 65
    assert out["primary_pollutant"].iloc[0] == "NO2"
    assert out["level"].iloc[0] == 2
    assert out["colour"].iloc[0] == "#FFFF00"
    assert pd.isna(out["AQI"].iloc[1])
    assert pd.isna(out["level"].iloc[1])
    assert pd.isna(out["category_zh"].iloc[1])
    assert out["primary_pollutant"].iloc[1] == ""
    assert out["non_attainment"].iloc[1] == ""


def test_frames_the_aqi_cannot_use_are_refused() -> None:
    with pytest.raises(StandardsError, match="at least one"):
        hourly_aqi(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(StandardsError, match="not numeric"):
        daily_aqi(pd.DataFrame({"SO2": ["a"]}))


def test_nullable_input_columns_are_accepted() -> None:
    frame = pd.DataFrame({"PM10": pd.array([150, None], dtype="Int64")})
    out = hourly_aqi(frame)
    assert out["AQI"].iloc[0] == 100
    assert pd.isna(out["AQI"].iloc[1])


def _invoke(args: list[str], stdin: str) -> Any:
    return CliRunner().invoke(app, ["aqi", *args], input=stdin)


def test_cli_passes_other_columns_through_unchanged() -> None:
    stdin = "site,SO2,NO2,CO,O3,PM2.5,PM10,note\n001,5,20,0.4,60,35.1,40,a b\n"
    result = _invoke(["hourly", "-"], stdin)
    assert result.exit_code == 0
    header, row = result.stdout.splitlines()
    assert header.split(",")[:8] == ["site", "SO2", "NO2", "CO", "O3", "PM2.5", "PM10", "note"]
    assert row.startswith("001,5,20,0.4,60,35.1,40,a b,51,PM2.5,2,良,Good,#FFFF00,")


def test_cli_json_lines() -> None:
    stdin = "SO2,NO2,CO,PM10,PM2.5,O3_1h,O3_8h\n10,40,1.0,80,70,90,70\n,,,,,,\n"
    result = _invoke(["daily", "-", "--json"], stdin)
    assert result.exit_code == 0
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    # reference case 11-08
    assert first["AQI"] == 94 and first["primary_pollutant"] == "PM2.5"
    assert first["category"] == "良" and first["IAQI_O3_8h"] == 35
    assert second["AQI"] is None and second["primary_pollutant"] == ""


def test_cli_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("SO2,NO2,CO,O3,PM2.5,PM10\n,,,,620,700\n", encoding="utf-8-sig")  # BOM
    result = CliRunner().invoke(app, ["aqi", "hourly", str(path)])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1].startswith(",,,,620,700,500,")


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("SO2,NO2,CO,O3,PM2.5\n1,2,3,4,5\n", "missing column(s) PM10"),
        ("SO2,NO2,CO,O3,PM2.5,PM10\n1,2,3,4,5,6\n1,x,3,4,5,6\n", "'NO2', data row 2: 'x'"),
        ("SO2,NO2,CO,O3,PM2.5,PM10\n1,2,3,4,-5,6\n", "'PM2.5', data row 1: '-5'"),
        ("SO2,NO2,CO,O3,PM2.5,PM10,AQI\n1,2,3,4,5,6,7\n", "AQI would be overwritten"),
        ("", "cannot read"),
    ],
)
def test_cli_refuses_bad_input_with_a_message(stdin: str, message: str) -> None:
    result = _invoke(["hourly", "-"], stdin)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_cli_missing_file() -> None:
    result = CliRunner().invoke(app, ["aqi", "daily", "/nonexistent/in.csv"])
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_summarise_iaqi_rounds_up_and_leaves_missing_ones_out() -> None:
    """HJ 633-2012 §4.2 rounds an IAQI up (进位取整); §4 formula (2) takes the maximum of the
    IAQI there are; Table 2: AQI 51 is level 2 (良); a primary pollutant only above 50."""
    out = summarise_iaqi(
        {
            "PM2.5": np.array([50.2, np.nan, -3.0, 40.0]),
            "O3": np.array([51.0, np.nan, 20.0, 40.0]),
        }
    )
    assert out["AQI"].tolist() == [51, pd.NA, 20, 40]
    assert out["IAQI_PM2.5"].tolist() == [51, pd.NA, pd.NA, 40]
    assert out["primary_pollutant"].tolist() == ["O3,PM2.5", "", "", ""]
    assert out["level"].tolist() == [2, pd.NA, 1, 1]
    assert out["category_zh"].tolist()[0] == "良"
    assert pd.isna(out["category_zh"].iloc[1])
