"""A value equal to its limit meets it, whatever the arithmetic noise of its conversion
(review 22, finding 6).

GB 13223-2011 §5.2 converts a measured concentration to the reference oxygen:
C = C' × (21 − O2_ref) / (21 − O2'). SO2 29.0 mg/m³ measured at 12.3 % O2, reference 6 %:
29 × 15 / 8.7 = 50 exactly (reference value: the formula in exact fractions), which double
arithmetic gives as 50.00000000000001 and opened an exceedance alarm against a permitted
50 mg/m³. The permits' limits are maxima ("不得超过"): only a value above the limit exceeds
(rule (a) of :mod:`shanshui.rules`, "strictly greater").
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from shanshui.permits import Enterprise, Limit, Outlet, Permit
from shanshui.rules.engine import RulesJob
from shanshui.rules.exceedance import exceeds, exceeds_array
from shanshui.standards.emissions import reference_oxygen_conversion
from shanshui.store import Parameter, open_store

SO2, O2 = "a21026", "a19001"
COLS = ["site", "parameter", "statistic", "period", "time", "value", "flag"]


def test_the_exact_case_is_at_the_limit_and_noise_does_not_exceed() -> None:
    assert Fraction(29) * (21 - 6) / (21 - Fraction(123, 10)) == 50
    converted = float(reference_oxygen_conversion(np.array([29.0]), np.array([12.3]), 6.0)[0])
    assert not exceeds(converted, 50.0)
    assert not exceeds(50.0, 50.0) and exceeds(50.01, 50.0) and exceeds(0.001, 0.0)
    noisy = np.array([50.00000000000001, 50.1, np.nan])
    assert exceeds_array(noisy, np.full(3, 50.0)).tolist() == [False, True, False]


def test_engine_opens_no_alarm_for_an_hour_converted_exactly_to_its_limit(tmp_path: Path) -> None:
    with open_store(tmp_path / "b.duckdb") as store:
        store.upsert_parameters([Parameter(SO2, "SO2", "mg/m³", SO2), Parameter(O2, "O2", "%", O2)])
        limit = Limit(SO2, "mg/m³", hourly=50, converted=True, reference_o2=6)
        store.put_permit(
            Permit(
                id="P1", enterprise=Enterprise("E1", "synthetic", "130100"),
                valid_from=date(2026, 1, 1), valid_to=date(2030, 12, 31),
                outlets=(Outlet("DA001", "stack", "主要", "air", "S1", "MN1", 60, (limit,)),),
                synthetic=True,
            ),
            actor="test",
        )  # fmt: skip
        t0 = datetime(2026, 3, 1, tzinfo=UTC)
        rows = [
            ("S1", SO2, "avg", "hour", t0, 29.0, "N"),  # converts to 50: at the limit
            ("S1", O2, "avg", "hour", t0, 12.3, "N"),
            ("S1", SO2, "avg", "hour", t0 + timedelta(hours=1), 29.1, "N"),  # 50.17: above
            ("S1", O2, "avg", "hour", t0 + timedelta(hours=1), 12.3, "N"),
        ]
        store.write_observations(pd.DataFrame(rows, columns=COLS))
        RulesJob(store, rules=frozenset({"exceedance"})).run_once(
            t0 + timedelta(hours=2, minutes=10)
        )
        alarms = [a for a in store.alarms() if a.rule == "exceedance"]
    assert [a.opened_at for a in alarms] == [t0 + timedelta(hours=1)]
