"""shanshui.rules.compliance: hourly exceedance of permit limits, both engines.

Expected values are worked by hand from the rules the module states: HJ 76-2017 Annex B
(≥ 45 valid minutes an hour, only flag N valid), GB 13223-2011 §5.2 (C × (21 − O2_ref) /
(21 − O2), the hourly means converted), exceedance = converted hourly value > limit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from shanshui.rules.compliance import (
    RESULT_SCHEMA,
    ComplianceError,
    compliance_share,
    evaluate_hours,
    outlet_hours,
    sort_hours,
)
from shanshui.store.api import Parameter, Site
from shanshui.store.duck import DuckDBStore

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC) - timedelta(hours=8)  # 2026-03-01 00:00 +08:00
PM, SO2, O2 = "a34013", "a21026", "a19001"


def minutes(
    site: str, parameter: str, hour: int, values: list[float], flags: list[str]
) -> pd.DataFrame:
    start = T0 + timedelta(hours=hour)
    return pd.DataFrame(
        {
            "site": site,
            "parameter": parameter,
            "time": [start + timedelta(minutes=i) for i in range(len(values))],
            "value": values,
            "flag": flags,
        }
    )


def plant() -> pd.DataFrame:
    """One outlet, four hours (hand-made; every number below is worked from these)."""
    frames = [
        # hour 0: 60 × 9.0 mg/m³ at 9 % O2 → 9 × 15/12 = 11.25 > 10: exceeded
        minutes("DA001", PM, 0, [9.0] * 60, ["N"] * 60),
        minutes("DA001", O2, 0, [9.0] * 60, ["N"] * 60),
        # hour 1: 45 × 8.0 valid and 15 × 100 under maintenance (M, not counted) at 6 % O2
        # → 8.0, within; the O2 hour is valid too (45 valid minutes)
        minutes("DA001", PM, 1, [8.0] * 45 + [100.0] * 15, ["N"] * 45 + ["M"] * 15),
        minutes("DA001", O2, 1, [6.0] * 45 + [21.0] * 15, ["N"] * 45 + ["M"] * 15),
        # hour 2: 44 valid minutes of 50 → no valid hour (HJ 76-2017 Annex B), no exceedance
        minutes("DA001", PM, 2, [50.0] * 60, ["N"] * 44 + ["D"] * 16),
        minutes("DA001", O2, 2, [6.0] * 60, ["N"] * 60),
        # hour 3: O2 at 20.95 % (ambient air): no converted value, no exceedance
        minutes("DA001", PM, 3, [30.0] * 60, ["N"] * 60),
        minutes("DA001", O2, 3, [20.95] * 60, ["N"] * 60),
        # SO2 limited as measured (no conversion): 45 > 40 in hour 0, 35 in hour 1
        minutes("DA001", SO2, 0, [45.0] * 60, ["N"] * 60),
        minutes("DA001", SO2, 1, [35.0] * 60, [""] * 60),  # empty flag = N (HJ 212 §6.6)
    ]
    return pd.concat(frames, ignore_index=True)


LIMITS = [
    {"site": "DA001", "parameter": PM, "limit": 10.0, "reference_o2": 6.0},
    {"site": "DA001", "parameter": SO2, "limit": 40.0, "reference_o2": None, "basis": "measured"},
]


def check_plant(result: pa.Table) -> None:
    assert result.schema == RESULT_SCHEMA
    df = result.to_pandas()
    pm = df[df.parameter == PM].set_index(df[df.parameter == PM].hour.dt.hour)
    h = [(T0 + timedelta(hours=i)).hour for i in range(4)]
    assert pm.loc[h[0], "count"] == 60 and pm.loc[h[0], "value"] == pytest.approx(11.25)
    assert bool(pm.loc[h[0], "exceeded"]) and pm.loc[h[0], "ratio"] == pytest.approx(1.125)
    assert pm.loc[h[0], "excess_multiple"] == pytest.approx(0.125)
    assert pm.loc[h[1], "count"] == 45 and pm.loc[h[1], "mean"] == pytest.approx(8.0)
    assert pm.loc[h[1], "o2"] == pytest.approx(6.0) and not pm.loc[h[1], "exceeded"]
    assert pm.loc[h[2], "count"] == 44 and not pm.loc[h[2], "valid"]
    assert np.isnan(pm.loc[h[2], "value"]) and not pm.loc[h[2], "exceeded"]
    assert pm.loc[h[3], "valid"] and np.isnan(pm.loc[h[3], "value"])
    assert not pm.loc[h[3], "exceeded"]
    so2 = df[df.parameter == SO2].reset_index(drop=True)
    assert so2.value.tolist() == [45.0, 35.0] and so2.exceeded.tolist() == [True, False]
    assert so2.basis.tolist() == ["measured"] * 2 and so2.o2.isna().all()
    # outlet-hours: hour 0 two exceedances; hour 1 within; hours 2-3 nothing valid evaluated
    oh = outlet_hours(result).to_pandas()
    assert oh.evaluated.tolist() == [2, 2, 0, 0]
    assert oh.exceeded.tolist() == [2, 0, 0, 0]
    assert oh.compliant.tolist()[:2] == [False, True] and oh.compliant.isna().tolist()[2:] == [
        True,
        True,
    ]
    share = compliance_share(result)
    assert (share.compliant_hours, share.evaluated_hours, share.share) == (1, 2, 0.5)


@pytest.mark.parametrize("engine", ["arrow", "duckdb"])
def test_hand_worked_plant_in_memory(engine: str) -> None:
    check_plant(evaluate_hours(plant(), LIMITS, engine=engine, sort=True))  # type: ignore[arg-type]


def test_hand_worked_plant_on_the_store(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "s.duckdb") as store:
        store.migrate()
        store.upsert_parameters(
            [
                Parameter(PM, "颗粒物", "mg/m³", PM),
                Parameter(SO2, "SO2", "mg/m³", SO2),
                Parameter(O2, "O2", "%", O2),
            ]
        )
        store.upsert_sites([Site("DA001", "1 号排口", "outlet")])
        data = plant().assign(statistic="avg", period="minute")
        data["flag"] = data["flag"].replace("", None)
        store.write_observations(data)
        result = evaluate_hours(store, LIMITS, start=T0, end=T0 + timedelta(days=1), sort=True)
        check_plant(result)
        # the same store read out and evaluated in memory
        arrow = evaluate_hours(
            store, LIMITS, start=T0, end=T0 + timedelta(days=1), engine="arrow", sort=True
        )
        check_plant(arrow)
        # a window that leaves hour 0 out
        later = evaluate_hours(
            store, LIMITS, start=T0 + timedelta(hours=1), end=T0 + timedelta(days=1)
        )
        assert later.num_rows == result.num_rows - 2
        with pytest.raises(ComplianceError):
            evaluate_hours(store, LIMITS)


def test_engines_agree_on_random_data() -> None:
    rng = np.random.default_rng(7)
    n_sites, n_min = 30, 180
    times = [T0 + timedelta(minutes=i) for i in range(n_min)]
    rows = []
    for s in range(n_sites):
        for p, level in ((PM, 8.0), (SO2, 30.0), (O2, 7.0)):
            rows.append(
                pd.DataFrame(
                    {
                        "site": f"S{s:02d}",
                        "parameter": p,
                        "time": times,
                        "value": level * rng.lognormal(0, 0.3, n_min),
                        "flag": rng.choice(["N"] * 18 + ["M", "D"], n_min),
                    }
                )
            )
    data = pd.concat(rows, ignore_index=True)
    limits = [
        {"site": f"S{s:02d}", "parameter": p, "limit": lim, "reference_o2": 6.0}
        for s in range(n_sites)
        for p, lim in ((PM, 10.0), (SO2, 35.0))
    ]
    a = evaluate_hours(pa.Table.from_pandas(data), limits, engine="arrow", sort=True).to_pandas()
    d = evaluate_hours(data, limits, engine="duckdb", sort=True).to_pandas()
    assert len(a) == len(d) == n_sites * 2 * 3
    assert a.exceeded.tolist() == d.exceeded.tolist()
    assert a["count"].tolist() == d["count"].tolist()
    assert np.allclose(a.value, d.value, equal_nan=True)
    assert 0 < a.exceeded.sum() < len(a)  # the data exercise both outcomes
    # a DuckDB connection holding an observation table of the store's layout, both engines
    conn = duckdb.connect()
    conn.execute("set TimeZone = 'UTC'")
    conn.register("observation", data.assign(statistic="avg", period="minute"))
    for engine in ("duckdb", "arrow"):
        c = evaluate_hours(conn, limits, engine=engine, sort=True).to_pandas()  # type: ignore[arg-type]
        assert c.exceeded.tolist() == a.exceeded.tolist()
        assert np.allclose(c.value, a.value, equal_nan=True)
    conn.close()


def test_joins_by_codes_and_by_hash_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The judging joins the hours with the limits and the O2 hour through integer codes and
    dense grids, or through Arrow hash joins past DENSE_GRID_MAX cells: the same rows either
    way, including a limit on the measured basis, an unlimited parameter and a limit on an
    outlet without data (which yield no row)."""
    from shanshui.rules import compliance_judge

    rng = np.random.default_rng(11)
    times = [T0 + timedelta(minutes=i) for i in range(150)]
    data = pd.concat(
        [
            pd.DataFrame(
                {
                    "site": site,
                    "parameter": p,
                    "time": times,
                    "value": level * rng.lognormal(0, 0.4, len(times)),
                    "flag": rng.choice(["N"] * 9 + ["F"], len(times)),
                }
            )
            for site in ("A", "B", "C")
            for p, level in ((PM, 9.0), (SO2, 30.0), (O2, 8.0), ("a00000", 100.0))
            if not (site == "C" and p == O2)  # C has no O2: its converted values are null
        ],
        ignore_index=True,
    )
    limits = [
        {"site": s, "parameter": p, "limit": lim, "reference_o2": 6.0}
        for s in ("A", "B", "C", "NODATA")
        for p, lim in ((PM, 10.0), (SO2, 35.0))
    ] + [{"site": "B", "parameter": "a00000", "limit": 120.0, "basis": "measured"}]
    by_codes = evaluate_hours(data, limits, sort=True)
    monkeypatch.setattr(compliance_judge, "DENSE_GRID_MAX", 0)
    by_hash = evaluate_hours(data, limits, sort=True)
    assert by_codes.equals(by_hash)
    assert by_codes.num_rows == (3 * 2 + 1) * 3  # 3 hours; no rows for NODATA or unlimited
    c_values = by_codes.filter(pc.equal(by_codes["site"], "C"))["value"]
    assert c_values.null_count == len(c_values)


def test_hourly_input() -> None:
    data = pd.DataFrame(
        {
            "site": "DA001",
            "parameter": [PM, O2, PM, O2],
            "time": [T0, T0, T0 + timedelta(hours=1), T0 + timedelta(hours=1)],
            "value": [9.0, 9.0, 9.0, 9.0],
            "flag": ["N", "N", "C", "N"],
        }
    )
    out = evaluate_hours(data, LIMITS[:1], period="hour", sort=True).to_pandas()
    assert out.valid.tolist() == [True, False]  # the calibrating hour (C) is invalid
    assert out.exceeded.tolist() == [True, False]


def test_sort_hours_orders_by_site_parameter_hour() -> None:
    table = pa.table(
        {
            "site": ["B", "A", "B", "A", "A"],
            "parameter": ["p", "q", "p", "p", "q"],
            "hour": pa.array(
                [T0 + timedelta(hours=h) for h in (1, 0, 0, 3, 2)], pa.timestamp("us", tz="UTC")
            ),
        }
    )
    out = sort_hours(table).to_pydict()
    assert out["site"] == ["A", "A", "A", "B", "B"]
    assert out["parameter"] == ["p", "q", "q", "p", "p"]
    assert [h.hour for h in out["hour"]] == [
        (T0 + timedelta(hours=h)).hour for h in (3, 0, 2, 0, 1)
    ]


def test_limits_are_checked() -> None:
    with pytest.raises(ComplianceError, match="reference_o2"):
        evaluate_hours(
            plant(), [{"site": "DA001", "parameter": PM, "limit": 10.0, "basis": "converted"}]
        )
    with pytest.raises(ComplianceError, match="twice"):
        evaluate_hours(plant(), LIMITS + LIMITS)
    with pytest.raises(ComplianceError, match="basis"):
        evaluate_hours(plant(), [{"site": "DA001", "parameter": PM, "limit": 1.0, "basis": "x"}])
    with pytest.raises(ComplianceError, match="columns"):
        evaluate_hours(plant(), [{"site": "DA001", "limit": 1.0}])
    with pytest.raises(ComplianceError, match="period"):
        evaluate_hours(plant(), LIMITS, period="day")  # type: ignore[arg-type]
    naive = plant().assign(time=lambda f: f["time"].dt.tz_localize(None))
    with pytest.raises(ComplianceError, match="time-zone"):
        evaluate_hours(naive, LIMITS)
