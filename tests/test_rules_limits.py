"""Daily-mean and emission-rate limits of a permit (issue 6 item 3; rules (e) and (f) of
``shanshui/rules/__init__.py``), on DuckDB and PostgreSQL.

The expected alarms are worked out by hand from the standards, not from the engine:

- reference-oxygen conversion, GB 13223-2011 §5.2: ``C × (21 − O2_ref)/(21 − O2)``; with
  O2 = 11 % and O2_ref = 6 % the factor is 15/10 = 1.5;
- a daily value needs ≥ 20 valid hourly values of the natural day (HJ 76-2017 Annex B);
  the natural day is 00:00–24:00 Beijing time (DESIGN §4), i.e. 16:00–16:00 UTC;
- emission rate G = C × Q × 10⁻⁶ [kg/h] from the MEASURED concentration [mg/m³] and the dry
  standard flow [m³/h] (HJ 75-2017; HJ 212 a00000 is in m³/s: × 3600).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from shanshui.permits import Enterprise, Limit, Outlet, Permit
from shanshui.rules.engine import RulesJob
from shanshui.store import Parameter, Store

pytest_plugins = ["pg"]

SO2, NOX, O2, FLOW = "a21026", "a21002", "a19001", "a00000"
COLUMNS = ["site", "parameter", "statistic", "period", "time", "value", "flag"]
#: 2026-03-01 00:00 Beijing = 2026-02-28 16:00 UTC: the first natural day of the data.
D1 = datetime(2026, 2, 28, 16, tzinfo=UTC)


def day(n: int) -> datetime:
    return D1 + timedelta(days=n - 1)


PERMIT = Permit(
    id="PL",
    enterprise=Enterprise("EL", "限值示例厂 (synthetic)", "130100"),
    valid_from=date(2026, 1, 1),
    valid_to=date(2030, 12, 31),
    outlets=(
        Outlet(
            "DA001",
            "1号烟囱",
            "主要",
            "air",
            "SD",
            None,
            3600,
            limits=(Limit(SO2, "mg/m³", daily=35, converted=True, reference_o2=6),),
        ),
        Outlet(
            "DA002",
            "2号烟囱",
            "主要",
            "air",
            "SR",
            None,
            3600,
            limits=(Limit(SO2, "mg/m³", converted=True, reference_o2=6, rate_kg_h=10),),
        ),
    ),
    synthetic=True,
)


def hourly(site: str, code: str, values: dict[datetime, tuple[float, str]]) -> list[tuple]:
    return [(site, code, "avg", "hour", t, v, f) for t, (v, f) in values.items()]


@pytest.fixture
def limits_store(store: Store) -> Store:
    store.upsert_parameters(
        [Parameter(SO2, "SO2", "mg/m³", SO2), Parameter(NOX, "NOx", "mg/m³", NOX),
         Parameter(O2, "O2", "%", O2), Parameter(FLOW, "flow", "m³/s", FLOW)]
    )  # fmt: skip
    store.put_permit(PERMIT, actor="test")
    return store


def by_key(store: Store) -> dict[tuple[str, str, str], list]:  # type: ignore[type-arg]
    out: dict[tuple[str, str, str], list] = {}  # type: ignore[type-arg]
    for a in sorted(store.alarms(), key=lambda a: a.opened_at):
        out.setdefault(a.key, []).append(a)
    return out


def test_daily_mean_over_the_natural_day_from_valid_hours(limits_store: Store) -> None:
    """SD, SO2 daily limit 35 mg/m³ at 6 % O2 (O2 11 %: converted = 1.5 × measured):

    ===  =============================================  ==========================  =========
    day  hourly SO2 records (measured)                  valid hours, daily mean     judgement
    ===  =============================================  ==========================  =========
    D1   24 × 20                                        24, 30                      within
    D2   12 × 30, 10 × 20, 2 flagged D                  22, (12·45+10·30)/22=38.18  EXCEEDS
    D3   19 × 30, 5 flagged M                           19 < 20                     not judged
    D4   24 × 20                                        24, 30                      within
    D5   12 × 40 (the day is not over at now)           —                           not judged
    ===  =============================================  ==========================  =========
    """
    so2: dict[datetime, tuple[float, str]] = {}
    for i in range(24):
        so2[day(1) + timedelta(hours=i)] = (20.0, "N")
        so2[day(2) + timedelta(hours=i)] = (30.0, "N") if i < 12 else (
            (20.0, "N") if i < 22 else (30.0, "D"))  # fmt: skip
        so2[day(3) + timedelta(hours=i)] = (30.0, "N") if i < 19 else (30.0, "M")
        so2[day(4) + timedelta(hours=i)] = (20.0, "N")
        if i < 12:
            so2[day(5) + timedelta(hours=i)] = (40.0, "N")
    o2 = {t: (11.0, "N") for t in so2}
    rows = hourly("SD", SO2, so2) + hourly("SD", O2, o2)
    limits_store.write_observations(pd.DataFrame(rows, columns=COLUMNS))
    now = day(5) + timedelta(hours=12)  # the last hourly record (11:00) is not overdue
    RulesJob(limits_store, lookback=timedelta(days=6)).run_once(now)
    alarms = by_key(limits_store)
    (daily,) = alarms[("SD", "daily_exceedance", SO2)]
    assert (daily.opened_at, daily.last_seen, daily.closed_at) == (day(2), day(2), day(4))
    assert daily.opened_at == datetime(2026, 3, 1, 16, tzinfo=UTC)  # 00:00 Beijing, 2 March
    assert (daily.state, daily.closed_by, daily.hours) == ("closed", "rules", 24)
    assert daily.value == pytest.approx((12 * 45 + 10 * 30) / 22)
    assert daily.threshold == 35 and daily.detail["days"] == 1
    assert daily.detail["basis"] == "converted"
    # no hourly limit at SD: no hourly exceedance alarm; its data are complete: not offline
    assert {k[1] for k in alarms} == {"daily_exceedance", "flag"}


def test_daily_mean_of_a_measured_limit_and_a_lasting_episode(limits_store: Store) -> None:
    """A measured-basis daily limit (NOx 100 mg/m³) exceeded on D1 and D2 (means 110 and
    101, strictly above) stays open over two days: 48 hours, worst 110."""
    permit = limits_store.set_permit_limit(
        "PL", "DA001", Limit(NOX, "mg/m³", daily=100), actor="test"
    )
    assert permit.outlet("DA001") is not None
    nox = {day(1) + timedelta(hours=i): (110.0, "N") for i in range(24)}
    nox |= {day(2) + timedelta(hours=i): (101.0, "N") for i in range(24)}
    limits_store.write_observations(pd.DataFrame(hourly("SD", NOX, nox), columns=COLUMNS))
    RulesJob(limits_store, lookback=timedelta(days=4)).run_once(day(3) + timedelta(hours=1))
    (daily,) = by_key(limits_store)[("SD", "daily_exceedance", NOX)]
    assert (daily.opened_at, daily.last_seen, daily.closed_at) == (day(1), day(2), None)
    assert (daily.state, daily.hours, daily.value) == ("open", 48, 110.0)
    assert daily.detail["basis"] == "measured"


def test_emission_rate_from_measured_concentration_and_dry_standard_flow(
    limits_store: Store,
) -> None:
    """SR, SO2 permitted rate 10 kg/h; O2 15 % (the converted value would be 2.5 × measured:
    every hour would exceed if the converted concentration were used):

    ====  =======  ============  ==============================  =========
    hour  SO2      flow a00000   rate = C × Q·3600 × 10⁻⁶         judgement
    ====  =======  ============  ==============================  =========
    0     100      25 m³/s       100 × 90 000 × 10⁻⁶ = 9.0       within
    1     100      30            100 × 108 000 × 10⁻⁶ = 10.8     EXCEEDS
    2     100      30, flag C    flow invalid                    not judged
    3     120      25            120 × 90 000 × 10⁻⁶ = 10.8      EXCEEDS
    4     100      25            9.0                             within → closes
    5     100      28            100 × 100 800 × 10⁻⁶ = 10.08    EXCEEDS → new, open
    ====  =======  ============  ==============================  =========
    """
    t0 = datetime(2026, 3, 2, 0, tzinfo=UTC)
    so2 = {0: 100.0, 1: 100.0, 2: 100.0, 3: 120.0, 4: 100.0, 5: 100.0}
    flow = {0: (25.0, "N"), 1: (30.0, "N"), 2: (30.0, "C"), 3: (25.0, "N"), 4: (25.0, "N"),
            5: (28.0, "N")}  # fmt: skip
    h = {i: t0 + timedelta(hours=i) for i in range(6)}
    rows = (
        hourly("SR", SO2, {h[i]: (v, "N") for i, v in so2.items()})
        + hourly("SR", O2, {h[i]: (15.0, "N") for i in so2})
        + hourly("SR", FLOW, {h[i]: f for i, f in flow.items()})
    )
    limits_store.write_observations(pd.DataFrame(rows, columns=COLUMNS))
    RulesJob(limits_store).run_once(t0 + timedelta(hours=6, minutes=10))
    first, second = by_key(limits_store)[("SR", "rate_exceedance", SO2)]
    assert (first.opened_at, first.last_seen, first.closed_at) == (h[1], h[3], h[4])
    assert (first.state, first.hours, first.threshold) == ("closed", 2, 10)
    assert first.value == pytest.approx(10.8)
    assert first.detail["unit"] == "kg/h" and first.detail["basis"] == "measured"
    assert (second.opened_at, second.closed_at, second.state) == (h[5], None, "open")
    assert second.value == pytest.approx(10.08)
    # no hourly concentration limit at SR: no exceedance alarm
    assert ("SR", "exceedance", SO2) not in by_key(limits_store)


def test_rate_from_minute_data_needs_45_valid_minutes(limits_store: Store) -> None:
    """Minute data: hour 0 with 50 valid minutes of SO2 110 and flow 30 m³/s → 110 × 108 000
    × 10⁻⁶ = 11.88 kg/h > 10 (judged: ≥ 45 valid minutes, HJ 76-2017 Annex B); hour 1 with
    40 valid flow minutes (20 flagged D) is not judged, so the alarm lasts."""
    t0 = datetime(2026, 3, 2, 0, tzinfo=UTC)
    rows = []
    for m in range(120):
        t = t0 + timedelta(minutes=m)
        if m < 50 or m >= 60:
            rows.append(("SR", SO2, "avg", "minute", t, 110.0, "N"))
        flag = "D" if m >= 100 else "N"
        if m < 50 or m >= 60:
            rows.append(("SR", FLOW, "avg", "minute", t, 30.0, flag))
    limits_store.write_observations(pd.DataFrame(rows, columns=COLUMNS))
    RulesJob(limits_store, rules=frozenset({"rate_exceedance"})).run_once(t0 + timedelta(hours=2))
    (alarm,) = limits_store.alarms()
    assert (alarm.rule, alarm.opened_at, alarm.closed_at, alarm.hours) == (
        "rate_exceedance", t0, None, 1,
    )  # fmt: skip
    assert alarm.value == pytest.approx(11.88)
