"""Which record decides an outlet's hour (rule (a) of ``shanshui.rules``; issue 6, item 3):
minute data (CN 2051) when they make a valid hour (≥ 45 valid minute records, HJ 76-2017
Annex B), else the device's own hourly record (CN 2061). HJ 212-2017 lets a data logger send
its minute data every ``MinInterval`` minutes (CN 1063/1064): at 10 minutes an hour has six
minute records, never 45, and the logger's hourly record is the hour's value. On DuckDB and
PostgreSQL; expectations from the permit's limit and the values written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from shanshui.permits import Enterprise, Limit, Outlet, Permit
from shanshui.rules.binding import DELIVERY
from shanshui.rules.engine import RulesJob
from shanshui.store import Parameter, Store

pytest_plugins = ["pg"]

SO2 = "a21026"
T0 = datetime(2026, 3, 2, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
COLUMNS = ["site", "parameter", "statistic", "period", "time", "value", "flag"]


@pytest.fixture
def base(store: Store) -> Store:
    store.upsert_parameters([Parameter(SO2, "SO2", "mg/m³", SO2)])
    outlet = Outlet("DA1", "S1", "主要", "air", "S1", None, 600,
                    limits=(Limit(SO2, "mg/m³", hourly=50),))  # fmt: skip
    enterprise = Enterprise("EH", "分钟间隔示例厂 (synthetic)", "130100")
    permit = Permit("PH", enterprise, date(2026, 1, 1), date(2030, 12, 31), outlets=(outlet,),
                    synthetic=True)  # fmt: skip
    store.put_permit(permit, actor="test")
    return store


def exceedances(store: Store) -> list[tuple[datetime, datetime | None, int, float | None]]:
    return sorted(
        (a.opened_at, a.closed_at, a.hours, a.value) for a in store.alarms(rule="exceedance")
    )


def test_minute_data_every_ten_minutes_leave_the_hour_to_the_hourly_record(base: Store) -> None:
    """Six hours of SO2 at 80 mg/m³ (> 50): six 2051 records per hour (every 10 minutes)
    and the hourly 2061 record. The minute records make no valid hour (6 < 45); the hourly
    records decide: one alarm over the six hours, still open, worst value 80."""
    rows = []
    for h in range(6):
        start = T0 + h * HOUR
        rows += [("S1", SO2, "avg", "minute", start + timedelta(minutes=10 * k), 80.0, "N")
                 for k in range(6)]  # fmt: skip
        rows.append(("S1", SO2, "avg", "hour", start, 80.0, "N"))
    base.write_observations(pd.DataFrame(rows, columns=COLUMNS))
    RulesJob(base).run_once(T0 + 6 * HOUR + DELIVERY)
    assert exceedances(base) == [(T0, None, 6, 80.0)]


def test_valid_minute_data_still_take_precedence(base: Store) -> None:
    """An hour with 60 valid minute records at 40 (≤ 50) and an hourly record of 80: the
    minute data make a valid hour and decide it (HJ 76-2017 Annex B): no alarm."""
    rows = [("S1", SO2, "avg", "minute", T0 + timedelta(minutes=m), 40.0, "N") for m in range(60)]
    rows.append(("S1", SO2, "avg", "hour", T0, 80.0, "N"))
    base.write_observations(pd.DataFrame(rows, columns=COLUMNS))
    RulesJob(base).run_once(T0 + HOUR + DELIVERY)
    assert exceedances(base) == []
