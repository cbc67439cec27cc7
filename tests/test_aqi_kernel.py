"""The compiled HJ 633-2012 formula (1) loop (``_aqi_kernel.c``) against its numpy twin.

``shanshui.standards.aqi_formula.raw_iaqi_numpy`` is the source of truth (it is what the
reference cases of ``tests/test_aqi.py`` and the CNEMC match of ``tests/test_aqi_cnemc.py``
established); the compiled loop must give the same float64 values, bit for bit, on every
Table 1 column: exact breakpoints and their neighbouring floats, missing, negative,
infinite, subnormal and huge concentrations, and ordinary data. Then the public functions
give the same tables with and without the compiled loop.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shanshui.standards import aqi, aqi_formula, daily_aqi, hourly_aqi
from shanshui.standards.aqi_formula import (
    COLUMNS,
    INT_KERNEL,
    KERNEL,
    int_iaqi,
    int_iaqi_numpy,
    raw_iaqi,
    raw_iaqi_numpy,
)
from shanshui.standards.aqi_tables import BREAKPOINTS

needs_kernel = pytest.mark.skipif(
    KERNEL is None or INT_KERNEL is None,
    reason="the compiled AQI loops are not built here: only numpy runs",
)


def _c_compiler() -> str | None:
    """The C compiler Python's build would use, if it is on this machine."""
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    return shutil.which(cc[0]) if cc else None


def _hard_values(key: str) -> np.ndarray:
    """Concentrations where rounding and segment choice are most fragile, plus data."""
    rng = np.random.default_rng(633)
    bps = np.asarray(BREAKPOINTS[key], dtype=np.float64)
    top = bps[-1]
    special = [np.nan, np.inf, -np.inf, -0.0, 0.0, 5e-324, -5e-324, 1e-300, -1e-300]
    special += [-1.0, -0.05, top * 10, 1e308, -1e308]
    near = np.concatenate(
        [
            bps,
            np.nextafter(bps, np.inf),
            np.nextafter(bps, -np.inf),
            bps + 0.05,
            bps - 0.05,
            bps + 1e-9,
        ]
    )
    data = np.concatenate(
        [
            rng.uniform(-0.1 * top, 1.2 * top, 20_000),
            rng.uniform(0.0, 1.2 * top, 20_000).round(1),
            rng.uniform(0.0, 1.2 * top, 20_000).round(0),
            rng.lognormal(np.log(bps[1]), 1.0, 20_001),
        ]
    )
    return np.concatenate([special, near, data])


def _same_bits(got: np.ndarray, expected: np.ndarray) -> None:
    np.testing.assert_array_equal(got, expected)  # NaN where NaN, values equal
    real = ~np.isnan(expected)
    np.testing.assert_array_equal(np.signbit(got[real]), np.signbit(expected[real]))


@needs_kernel
@pytest.mark.parametrize("key", sorted(COLUMNS))
def test_compiled_loop_equals_numpy_bit_for_bit(key: str) -> None:
    conc = _hard_values(key)
    expected = raw_iaqi_numpy(conc, key)
    _same_bits(raw_iaqi(conc, key), expected)
    # the running maximum of formula (2): np.fmax leaves a missing (NaN) side out
    start = np.random.default_rng(1).uniform(0.0, 500.0, len(conc)).round()
    start[::7] = np.nan
    got = raw_iaqi(conc, key, start.copy(), accumulate=True)
    _same_bits(got, np.fmax(start, expected))
    # rounded up to int64, -1 for none
    np.testing.assert_array_equal(int_iaqi(conc, key), int_iaqi_numpy(conc, key))


def test_int_iaqi_rounds_up_and_marks_no_iaqi() -> None:
    """Hand-worked HJ 633-2012 formula (1), rounded up; -1 where Table 1 gives no IAQI."""
    # PM2.5 (24-hour breakpoints): 35 -> 50 exactly; 35.1 -> 50 + 0.1 * 50 / 40 = 50.125 ->
    # 51; 0 -> 0; 600 (above the top, 500) -> 500; NaN, -1 and +inf -> none
    conc = np.array([35.0, 35.1, 0.0, 600.0, np.nan, -1.0, np.inf])
    expected = [50, 51, 0, 500, -1, -1, -1]
    assert int_iaqi_numpy(conc, "PM2.5_24h").tolist() == expected
    assert int_iaqi(conc, "PM2.5_24h").tolist() == expected
    # SO2 1-hour stops at 800 (IAQI 200): above it, no 1-hour IAQI (Table 1 note)
    assert int_iaqi(np.array([800.0, 800.5]), "SO2_1h").tolist() == [200, -1]


@needs_kernel
def test_compiled_loop_refuses_bad_buffers() -> None:
    col = COLUMNS["PM2.5_24h"]
    conc = np.zeros(4)
    assert KERNEL is not None and INT_KERNEL is not None
    with pytest.raises(ValueError, match="differ in length"):
        INT_KERNEL(conc, col.slope, col.intercept, col.upper, np.zeros(4, dtype=np.int32))
    with pytest.raises(ValueError, match="differ in length"):
        KERNEL(conc, col.slope, col.intercept, col.upper, np.zeros(3), False)
    with pytest.raises(ValueError, match="upper breakpoints"):
        KERNEL(conc, col.slope[:-1], col.intercept, col.upper, np.zeros(4), False)
    with pytest.raises(ValueError, match="float64"):
        KERNEL(b"abc", col.slope, col.intercept, col.upper, np.zeros(4), False)
    with pytest.raises(TypeError):  # a read-only output
        KERNEL(conc, col.slope, col.intercept, col.upper, b"\0" * 32, False)


def _station_hours(n: int = 20_011) -> pd.DataFrame:
    rng = np.random.default_rng(212)
    columns = {name: rng.lognormal(3.5, 1.5, n).round(1) for name in aqi.HOURLY_POLLUTANTS}
    columns["CO"] = (columns["CO"] / 20.0).round(1)
    frame = pd.DataFrame(columns)
    frame.loc[rng.random(n) < 0.02, "NO2"] = -1.0
    frame.loc[rng.random(n) < 0.1, "PM10"] = np.nan
    frame.loc[rng.random(n) < 0.1, "PM2.5"] = np.nan
    frame["SO2"] = rng.uniform(0.0, 1000.0, n).round()
    frame["SO2_24h"] = rng.uniform(0.0, 3000.0, n).round()
    return frame


@needs_kernel
@pytest.mark.parametrize("rule", ["hj633", "cnemc"])
def test_public_functions_give_the_same_tables_without_the_compiled_loop(
    rule: aqi.Rule, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = _station_hours()
    daily = frame.rename(columns={"O3": "O3_1h"}).assign(O3_8h=frame["O3"] * 0.8)
    compiled = (
        hourly_aqi(frame, rule=rule),
        aqi.aqi_value(frame, rule=rule),
        daily_aqi(daily),
    )
    monkeypatch.setattr(aqi_formula, "KERNEL", None)
    monkeypatch.setattr(aqi_formula, "INT_KERNEL", None)
    _same_table(hourly_aqi(frame, rule=rule), compiled[0])
    np.testing.assert_array_equal(aqi.aqi_value(frame, rule=rule), compiled[1])
    _same_table(daily_aqi(daily), compiled[2])


def _same_table(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same columns, dtypes and values (DataFrame.equals: NA equals NA; fast on categoricals)."""
    assert list(got.columns) == list(expected.columns)
    assert list(got.dtypes) == list(expected.dtypes)
    assert got.equals(expected)


def test_compiled_loop_is_built_from_current_source() -> None:
    if _c_compiler() is None:  # setup.py then leaves the loop out: numpy alone
        pytest.skip("no C compiler on this machine: the AQI runs on numpy alone")
    source = Path(aqi_formula.__file__).with_name("_aqi_kernel.c")
    assert KERNEL is not None, "the compiled AQI loop is missing: pip install -e '.[dev]'"
    module = __import__("shanshui.standards._aqi_kernel", fromlist=["raw_iaqi"])
    built = Path(module.__file__)
    assert source.stat().st_mtime <= built.stat().st_mtime, (
        f"{built.name} is older than {source.name}: rebuild with pip install -e '.[dev]'"
    )
