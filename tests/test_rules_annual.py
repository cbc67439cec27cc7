"""The annual-total rule (rule (d) of ``shanshui.rules``) across a year's end: an alarm
projects one Beijing natural year; when that year is over it is closed, whether or not the
new year has a permitted total to project against (issue 6, item 3: annual total on course to
exceed the permitted total). On DuckDB and PostgreSQL; expectations from the permit's totals
and the emissions written (Cou in kg, HJ 212-2017 Annex B)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from shanshui.permits import AnnualTotal, Enterprise, Limit, Outlet, Permit
from shanshui.rules.engine import RulesJob
from shanshui.store import Parameter, Store

pytest_plugins = ["pg"]

SO2 = "a21026"
BEIJING = ZoneInfo("Asia/Shanghai")
COLUMNS = ["site", "parameter", "statistic", "period", "time", "value", "flag"]


def put(store: Store, *totals: AnnualTotal) -> None:
    store.upsert_parameters([Parameter(SO2, "SO2", "mg/m³", SO2)])
    outlet = Outlet("DA1", "S1", "主要", "air", "S1", None, 3600,
                    limits=(Limit(SO2, "mg/m³", hourly=50),))  # fmt: skip
    enterprise = Enterprise("EA", "年度总量示例厂 (synthetic)", "130100")
    permit = Permit("PA", enterprise, date(2026, 1, 1), date(2030, 12, 31), outlets=(outlet,),
                    totals=totals, synthetic=True)  # fmt: skip
    store.put_permit(permit, actor="test")


def cou(store: Store, when: datetime, kg: float) -> None:
    rows = [("S1", SO2, "cou", "hour", when, kg, "N")]
    store.write_observations(pd.DataFrame(rows, columns=COLUMNS))


def annual(store: Store) -> list[tuple[int, str, str | None, str | None]]:
    alarms = sorted(store.alarms(rule="annual_total"), key=lambda a: a.opened_at)
    return [(a.detail["year"], a.state, a.closed_by, a.close_note) for a in alarms]


@pytest.mark.parametrize("next_year", [None, 1.0], ids=["no-2027-total", "2027-total"])
def test_an_annual_alarm_ends_with_its_year(store: Store, next_year: float | None) -> None:
    """5 t of SO2 emitted by late October 2026 against 1 t permitted: projected over, the
    alarm opens. On 2027-03-01 the 2026 alarm is closed by the rules; where the permit has a
    2027 total and 2027's emissions (5 t again) project over it, a new alarm opens for
    2027 rather than the old one going on."""
    totals = [AnnualTotal(SO2, 2026, 1.0)]
    if next_year is not None:
        totals.append(AnnualTotal(SO2, 2027, next_year))
    put(store, *totals)
    job = RulesJob(store)
    autumn = datetime(2026, 10, 27, 10, tzinfo=BEIJING).astimezone(UTC)
    cou(store, autumn, 5000.0)
    job.run_once(autumn + timedelta(hours=2))
    assert annual(store) == [(2026, "open", None, None)]
    spring = datetime(2027, 2, 27, 10, tzinfo=BEIJING).astimezone(UTC)
    cou(store, spring, 5000.0)
    job.run_once(spring + timedelta(days=2))
    if next_year is None:
        expected = [(2026, "closed", "rules", "no permitted total to project against")]
    else:
        expected = [(2026, "closed", "rules", "the year it projected is over"),
                    (2027, "open", None, None)]  # fmt: skip
    assert annual(store) == expected
