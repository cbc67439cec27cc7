"""shanshui.standards.emissions: the reference cases of ``reference/sources`` and the laws of
the conversions (GB 13223-2011 §5.2, HJ 75-2017, HJ 76-2017 Annex B)."""

from __future__ import annotations

import csv
import json
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shanshui.standards import emissions as em
from shanshui.standards import emissions_periods as ep
from shanshui.standards.emissions_tables import (
    GB13223_LIMITS,
    REFERENCE_OXYGEN,
    reference_oxygen,
)
from shanshui.standards.errors import StandardsError


def _cases(shared: Path) -> list[dict[str, object]]:
    lines = (shared / "reference/sources/cases.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _tolerance(expected: float) -> float:
    """Half a unit of the last decimal the reference value is given to."""
    exponent = Decimal(repr(expected)).as_tuple().exponent
    assert isinstance(exponent, int)
    return 0.5 * 10.0**exponent + 1e-12


# -- reference cases (reference/sources/cases.jsonl) -------------------------------------------
def test_every_conversion_and_rate_case(shared: Path) -> None:
    cases = [c for c in _cases(shared) if not str(c["id"]).startswith("src-total")]
    assert len(cases) == 8
    for case in cases:
        i = case["inputs"]
        x = case["expected"]
        assert isinstance(i, dict) and isinstance(x, dict)
        converted = float(
            em.reference_oxygen_conversion(
                i["concentration_mg_m3"], i["O2_percent"], i["reference_O2_percent"]
            )
        )
        rate = float(em.emission_rate(i["concentration_mg_m3"], i["dry_standard_flow_m3_h"]))
        want_c, want_r = x["converted_mg_m3"], x["emission_rate_kg_h"]
        assert abs(converted - want_c) <= _tolerance(want_c), (case["id"], converted)
        assert abs(rate - want_r) <= _tolerance(want_r), (case["id"], rate)


def test_total_case_valid_hours_only(shared: Path) -> None:
    (case,) = [c for c in _cases(shared) if c["id"] == "src-total-00"]
    inputs, expected = case["inputs"], case["expected"]
    assert isinstance(inputs, dict) and isinstance(expected, dict)
    hourly = inputs["hourly"]
    c = [np.nan if h["concentration_mg_m3"] is None else h["concentration_mg_m3"] for h in hourly]
    q = [h["dry_standard_flow_m3_h"] for h in hourly]
    total = ep.period_total(ep.hourly_mass(c, q))
    assert total.valid_hours == expected["valid_hours"] == 4
    assert total.missing_hours == expected["missing_hours"] == 1
    assert abs(total.valid_mass - expected["total_kg_valid_hours_only"]) <= _tolerance(117.635)
    # HJ 75-2017 §12 as the module states it: α = 4 valid / 5 running hours = 80 % → the
    # 2160-hour look-back; the maximum of the 3 valid hours before the gap is
    # 26.5 mg/m³ × 1 250 000 m³/h × 1e-6 = 33.125 kg (worked by hand from the case's inputs)
    assert total.substituted_hours == 1
    assert total.mass == pytest.approx(117.635 + 33.125, abs=1e-9)


# -- shipped tables match the shared reference csv ---------------------------------------------
def test_reference_oxygen_table_matches_reference(shared: Path) -> None:
    path = shared / "reference/sources/oxygen_reference.csv"
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(REFERENCE_OXYGEN)
    for row, shipped in zip(rows, REFERENCE_OXYGEN, strict=True):
        assert shipped.source_type == row["source_type"]
        assert shipped.standard == row["standard"]
        assert shipped.reference_o2 == float(row["reference_O2_percent"])
        assert shipped.confidence == row["confidence"]
    # GB 13223-2011 §5.2 / Table 3: coal 6 %, gas turbine 15 %
    assert reference_oxygen("coal-fired boiler (thermal power plant)") == 6.0
    assert reference_oxygen("gas turbine (thermal power plant)") == 15.0
    with pytest.raises(StandardsError):
        reference_oxygen("steam locomotive")


def test_gb13223_limits_match_reference(shared: Path) -> None:
    path = shared / "reference/sources/gb13223_limits.csv"
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(GB13223_LIMITS)
    for row, shipped in zip(rows, GB13223_LIMITS, strict=True):
        assert (shipped.unit_type, shipped.pollutant) == (row["unit_type"], row["pollutant"])
        assert shipped.limit == float(row["limit_mg_m3"])
        assert shipped.condition == row["condition"]
        ref = row["reference_O2_percent"]
        assert shipped.reference_o2 == (float(ref) if ref else None)
        assert shipped.source == row["source"]
        assert shipped.confidence == row["confidence"]
    # ultra-low emission (2015 work plan): 10 / 35 / 50 mg/m³ at 6 % O2
    ultra = {r.pollutant: r.limit for r in GB13223_LIMITS if "ultra-low" in r.condition}
    assert ultra == {"particulate": 10.0, "SO2": 35.0, "NOx (as NO2)": 50.0}


# -- conversions -------------------------------------------------------------------------------
def test_conversion_guards() -> None:
    # O2 ≥ 20.9 % is ambient air; O2_ref ≥ 21 is no reference (module docstring)
    out = em.reference_oxygen_conversion([10, 10, 10, 10], [20.9, 21.5, -1, 5], [6, 6, 6, 21])
    assert np.isnan(out).all()
    assert float(em.reference_oxygen_conversion(10, 20.8, 6)) == pytest.approx(10 * 15 / 0.2)


def test_conversion_vectorises_over_series() -> None:
    c = pd.Series([24.0, 18.2])
    out = em.reference_oxygen_conversion(c, pd.Series([8.1, 10.4]), 6)
    assert out.shape == (2,)
    assert out == pytest.approx([24 * 15 / 12.9, 18.2 * 15 / 10.6])


@given(
    c=st.floats(0, 1e4),
    ref=st.floats(0, 20),
)
def test_conversion_at_reference_is_identity(c: float, ref: float) -> None:
    assert float(em.reference_oxygen_conversion(c, ref, ref)) == pytest.approx(c, rel=1e-12)


@given(
    c=st.floats(0.01, 1e4),
    ref=st.floats(0, 20),
    o2=st.lists(st.floats(0, 20.89), min_size=2, max_size=20),
)
def test_conversion_grows_with_measured_oxygen(c: float, ref: float, o2: list[float]) -> None:
    o = np.sort(np.asarray(o2))
    out = em.reference_oxygen_conversion(c, o, ref)
    assert np.all(np.diff(out) >= -1e-9 * out[1:])


def test_conditions_and_units() -> None:
    # at 0 °C and 101.325 kPa the standard concentration is the actual one
    assert float(em.standard_conditions(50, 0, 101.325)) == pytest.approx(50)
    # gas at 273.15 °C has twice the volume: the standard concentration is twice the actual
    assert float(em.standard_conditions(50, 273.15, 101.325)) == pytest.approx(100)
    # half the pressure: half the density
    assert float(em.standard_conditions(50, 0, 202.65)) == pytest.approx(25)
    assert np.isnan(em.standard_conditions(50, 0, 0))
    # 10 % water vapour: a dry cubic metre is 0.9 of the wet one
    assert float(em.dry_basis(90, 10)) == pytest.approx(100)
    assert np.isnan(em.dry_basis(90, 100))
    # SO2: 1 ppm = 64/22.4 mg/m³ (HJ 75-2017 Annex A)
    assert float(em.ppm_to_mg_m3(1, "SO2")) == pytest.approx(64 / 22.4)
    assert float(em.ppm_to_mg_m3(22.4, 30)) == pytest.approx(30)
    with pytest.raises(StandardsError):
        em.ppm_to_mg_m3(1, "H2O")
    # NOx as NO2: 30 mg/m³ NO is 46 mg/m³ as NO2
    assert float(em.nox_as_no2(30, 5)) == pytest.approx(51)


def test_dry_standard_flow() -> None:
    # 10 m/s through 1 m² is 36 000 m³/h at 0 °C, 101.325 kPa, dry
    assert float(em.dry_standard_flow(10, 1, 0, 101.325, 0)) == pytest.approx(36_000)
    # at 273.15 °C half of it is a standard cubic metre; 10 % water: 0.9 of that is dry
    assert float(em.dry_standard_flow(10, 1, 273.15, 101.325, 10)) == pytest.approx(16_200)
    assert np.isnan(em.dry_standard_flow(10, 1, 0, 101.325, 100))
    assert float(em.flow_m3s_to_m3h(333.3)) == pytest.approx(1_199_880)


def test_wastewater_load() -> None:
    # 50 mg/L COD in 1 000 m³ is 50 kg
    assert float(em.wastewater_load(50, 1000)) == pytest.approx(50)


def test_flag_cases() -> None:
    got = em.flag_case(["N", None, "", "F", "M", "C", "D", "T", "B", "S", "X"]).tolist()
    assert got == ["valid"] * 3 + ["stopped"] + ["invalid"] * 7


# -- validity (HJ 76-2017 Annex B) -------------------------------------------------------------
def test_hour_needs_45_valid_minutes() -> None:
    minutes = np.ones((2, 60))
    minutes[0, 45:] = np.nan  # 45 valid
    minutes[1, 44:] = np.nan  # 44 valid
    agg = ep.hour_means(minutes)
    assert agg.count.ravel().tolist() == [45, 44]
    assert agg.valid.ravel().tolist() == [True, False]
    assert agg.value[0, 0] == 1.0 and np.isnan(agg.value[1, 0])
    flags = np.array(["N"] * 45 + ["M"] * 15)
    masked = ep.hour_means(np.arange(60.0), flags)
    assert masked.count.tolist() == [45]
    assert masked.value.tolist() == [pytest.approx(22.0)]  # mean of 0..44


def test_day_and_month_thresholds() -> None:
    hourly = np.ones(48)
    hourly[20:24] = np.nan  # day 1: 20 valid
    hourly[24 + 19 :] = np.nan  # day 2: 19 valid
    agg = ep.day_means(hourly)
    assert agg.valid.tolist() == [True, False]
    feb = np.r_[np.ones(23), np.full(5, np.nan)]
    assert bool(ep.month_mean(feb, 2).valid) is True
    jan = np.r_[np.ones(24), np.full(7, np.nan)]
    assert bool(ep.month_mean(jan, 1).valid) is False
    with pytest.raises(StandardsError):
        ep.hour_means(np.ones(59))


# -- substitution and totals (HJ 75-2017 §12) --------------------------------------------------
def test_stop_counts_no_emission_and_is_not_substituted() -> None:
    out = ep.hourly_mass([10, 10, 10], [1e5, 1e5, 1e5], ["N", "F", "N"])
    assert out.mass.tolist() == [1.0, 0.0, 1.0]
    assert out.status.tolist() == ["valid", "stopped", "valid"]
    assert not out.substituted.any()


def test_lookback_window_by_capture_and_gap_length() -> None:
    # 200 valid hours: a 9 kg hour 200 valid hours back, then 1 kg hours
    c = np.r_[9.0, np.ones(199), np.full(30, np.nan)]
    q = np.full(c.size, 1e6)
    short = ep.hourly_mass(c[:202], q[:202], capture=0.95)  # 2-hour gap, α ≥ 90 %
    assert short.window[-1] == 180
    assert short.mass[-2:].tolist() == [1.0, 1.0]  # the 9 kg hour is 200 valid hours back
    long = ep.hourly_mass(c, q, capture=0.95)  # 30-hour gap: 720 valid hours
    assert long.window[-1] == 720
    assert long.mass[-30:].tolist() == [9.0] * 30
    low = ep.hourly_mass(c[:202], q[:202], capture=0.8)  # 75 % ≤ α < 90 %: 2160
    assert low.window[-1] == 2160 and low.mass[-1] == 9.0
    assert ep.lookback_window(0.5, 1) == 2160  # below 75 %: the stated choice


def test_fault_flag_is_substituted_and_nothing_before_is_missing() -> None:
    out = ep.hourly_mass([np.nan, 5.0, 7.0, 6.0], [1e6] * 4, ["N", "N", "D", "N"])
    assert out.status.tolist() == ["missing", "valid", "substituted", "valid"]
    assert np.isnan(out.mass[0])
    assert out.mass[2] == 5.0  # fault hour: the look-back maximum, not its own 7 mg/m³


@given(
    data=st.lists(
        st.tuples(
            st.one_of(st.none(), st.floats(0, 500)),
            st.floats(0, 3e6),
            st.sampled_from(["N", "N", "N", "F", "M", "D", "C"]),
        ),
        min_size=1,
        max_size=80,
    )
)
def test_total_is_the_sum_of_hourly_masses(data: list[tuple[float | None, float, str]]) -> None:
    c = np.array([np.nan if x is None else x for x, _, _ in data])
    q = np.array([y for _, y, _ in data])
    flags = [f for _, _, f in data]
    hours = ep.hourly_mass(c, q, flags)
    total = ep.period_total(hours)
    assert total.mass == pytest.approx(float(np.nansum(hours.mass)), rel=1e-12, abs=1e-9)
    valid = hours.status == "valid"
    assert total.valid_mass == pytest.approx(float((c * q * 1e-6)[valid].sum()), abs=1e-9)
    assert total.valid_hours + total.stopped_hours + total.missing_hours == len(data)
    assert total.substituted_hours <= total.missing_hours


def test_totals_per_day_month_year() -> None:
    index = pd.date_range(
        "2026-02-01", "2026-03-01", freq="h", tz="Asia/Shanghai", inclusive="left"
    )
    status = np.full(len(index), "valid", dtype=object)
    status[:5] = "stopped"  # 1 Feb: 19 valid + 5 stopped = complete
    status[24 : 24 + 5] = "substituted"  # 2 Feb: 19 valid → incomplete
    # 5 more incomplete days: 22 complete days of 28 < 23
    for d in range(3, 8):
        status[d * 24 : d * 24 + 5] = "missing"
    mass = np.where(status == "stopped", 0.0, 2.0)
    mass[status == "missing"] = np.nan
    frame = pd.DataFrame({"mass": mass, "status": status}, index=index)
    days = ep.emission_totals(frame, "day")
    assert len(days) == 28
    first, second = days.iloc[0], days.iloc[1]
    assert (first.valid_hours, first.stopped_hours, first.missing_hours) == (19, 5, 0)
    assert bool(first.valid) is True
    assert (second.substituted_hours, second.missing_hours, bool(second.valid)) == (5, 5, False)
    assert second.mass == 48.0 and second.valid_mass == 38.0
    month = ep.emission_totals(frame, "month").iloc[0]
    assert month.period == "2026-02" and month.expected_hours == 28 * 24
    assert month.valid_days == 22 and bool(month.valid) is False  # February needs 23
    assert month.mass == pytest.approx(float(np.nansum(mass)))
    year = ep.emission_totals(frame, "year").iloc[0]
    assert year.expected_hours == 365 * 24 and bool(year.valid) is False
    assert math.isclose(year.mass, month.mass)
