"""The rules engine (shanshui.rules) on hand-made data, on DuckDB and PostgreSQL.

The expected alarms are worked out by hand below from the rules as written in
``shanshui/rules/__init__.py``, not from the engine:

- conversion to the reference oxygen, GB 13223-2011 §5.2: ``C × (21 − O2_ref)/(21 − O2)``;
  with O2 = 11 % and O2_ref = 6 % the factor is 15/10 = 1.5;
- an hourly mean needs ≥ 45 valid (flag N) minutes, HJ 76-2017 Annex B;
- flags of HJ 212-2017 §6.6 (C = calibration).

Data (UTC hours of 2026-03-01, i.e. Beijing 08:00–13:59), outlet S1, SO2 limit 50 mg/m³ at
6 % O2 (converted), NOx limit 100 mg/m³ measured:

====  ===================================  ==========================  =====================
hour  SO2 minute values                    converted hourly value      judgement
====  ===================================  ==========================  =====================
00    30                                   45                          within
01    40                                   60                          EXCEEDS
02    40, minutes 40–59 flagged C          40 valid minutes < 45       not judged; flag C
03    36                                   54                          EXCEEDS
04    30, minutes 20–29 missing (all pars) 50 valid minutes, 45        within → closes
05    34                                   51                          EXCEEDS → new alarm
====  ===================================  ==========================  =====================
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from shanshui.permits import AnnualTotal, Enterprise, Limit, Outlet, Permit
from shanshui.rules.binding import DELIVERY
from shanshui.rules.engine import RulesJob, run_periodically
from shanshui.rules.episodes import hourly_episodes
from shanshui.rules.regional import enterprise_totals, regional_compliance
from shanshui.store import Parameter, Store

pytest_plugins = ["pg"]

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=6, minutes=30)
SO2, NOX, O2 = "a21026", "a21002", "a19001"


def h(n: float) -> datetime:
    return T0 + timedelta(hours=n)


PERMIT = Permit(
    id="P1",
    enterprise=Enterprise("E1", "示例电厂 (synthetic)", "130100"),
    valid_from=date(2026, 1, 1),
    valid_to=date(2030, 12, 31),
    outlets=(
        Outlet(
            "DA001",
            "1号烟囱",
            "主要",
            "air",
            "S1",
            "MN1",
            60,
            limits=(
                Limit(SO2, "mg/m³", hourly=50, converted=True, reference_o2=6),
                Limit(NOX, "mg/m³", hourly=100),
            ),
        ),
    ),
    totals=(AnnualTotal(SO2, 2026, 280.0),),
    synthetic=True,
)

SO2_BY_HOUR = {0: 30.0, 1: 40.0, 2: 40.0, 3: 36.0, 4: 30.0, 5: 34.0}


def minutes(
    hours: dict[int, float], *, so2_flag_c: range = range(0), gap: range = range(0)
) -> pd.DataFrame:
    rows = []
    for hour, so2 in hours.items():
        for m in range(60):
            t = h(hour) + timedelta(minutes=m)
            if hour == 4 and m in gap:
                continue
            flag = "C" if hour == 2 and m in so2_flag_c else "N"
            rows += [
                ("S1", SO2, "avg", "minute", t, so2, flag),
                ("S1", NOX, "avg", "minute", t, 90.0, "N"),
                ("S1", O2, "avg", "minute", t, 11.0, "N"),
            ]
    return pd.DataFrame(
        rows, columns=["site", "parameter", "statistic", "period", "time", "value", "flag"]
    )


@pytest.fixture
def plant(store: Store) -> Store:
    store.upsert_parameters(
        [Parameter(SO2, "SO2", "mg/m³", SO2), Parameter(NOX, "NOx", "mg/m³", NOX),
         Parameter(O2, "O2", "%", O2)]
    )  # fmt: skip
    store.put_permit(PERMIT, actor="test")
    store.write_observations(minutes(SO2_BY_HOUR, so2_flag_c=range(40, 60), gap=range(20, 30)))
    # hourly emission totals (cou, kg): 10 t per hour over hours 0-5 → 60 t so far
    cou = pd.DataFrame(
        [("S1", SO2, "cou", "hour", h(i), 10_000.0, "N") for i in range(6)],
        columns=["site", "parameter", "statistic", "period", "time", "value", "flag"],
    )
    store.write_observations(cou)
    return store


def by_key(store: Store) -> dict[tuple[str, str, str], list]:  # type: ignore[type-arg]
    out: dict[tuple[str, str, str], list] = {}  # type: ignore[type-arg]
    for a in sorted(store.alarms(), key=lambda a: a.opened_at):
        out.setdefault(a.key, []).append(a)
    return out


def test_hourly_episodes_skip_unjudged_hours() -> None:
    steps = [(h(0), False, 1.0), (h(1), True, 5.0), (h(2), None, None), (h(3), True, 7.0),
             (h(4), False, 1.0), (h(5), True, 2.0)]  # fmt: skip
    assert hourly_episodes(steps) == [(h(1), h(3), h(4), 2, 7.0), (h(5), h(5), None, 1, 2.0)]


def test_expected_alarms(plant: Store) -> None:
    result = RulesJob(plant).run_once(NOW)
    alarms = by_key(plant)
    assert set(alarms) == {
        ("S1", "exceedance", SO2), ("S1", "flag", "C"), ("S1", "offline", ""),
        ("E1", "annual_total", SO2),
    }  # fmt: skip
    first, second = alarms[("S1", "exceedance", SO2)]
    assert (first.opened_at, first.last_seen, first.closed_at) == (h(1), h(3), h(4))
    assert (first.state, first.hours, first.closed_by) == ("closed", 2, "rules")
    assert first.value == pytest.approx(60.0) and first.threshold == 50
    assert (second.opened_at, second.last_seen, second.closed_at) == (h(5), h(5), None)
    assert (second.state, second.hours) == ("open", 1)
    assert second.value == pytest.approx(51.0)
    (flag,) = alarms[("S1", "flag", "C")]
    assert (flag.opened_at, flag.closed_at, flag.hours, flag.state) == (h(2), h(3), 1, "closed")
    # offline: silence 04:19 → 04:30 (11 min > 60 s): overdue from 04:20; and since 05:59
    gap, tail = alarms[("S1", "offline", "")]
    assert (gap.opened_at, gap.closed_at, gap.state) == (
        h(4) + timedelta(minutes=20),
        h(4.5),
        "closed",
    )
    assert gap.value == 660.0 and gap.threshold == 60.0
    assert (tail.opened_at, tail.closed_at, tail.state) == (h(6), None, "open")
    # annual: 60 t in the hours judged at 06:30 UTC, those before 06:00 (an hour is judged
    # 10 min after its end); the Beijing year began 2025-12-31 16:00 UTC: 59 days + 14 h =
    # 1430 h of 8760 h → projection 60 / (1430/8760) t > 280 t
    (annual,) = alarms[("E1", "annual_total", SO2)]
    assert annual.value == pytest.approx(60 / (1430 / 8760))
    assert (annual.threshold, annual.opened_at, annual.state) == (280.0, h(6), "open")
    assert result.opened == 6 and result.updated == 0


def test_running_twice_changes_nothing(plant: Store) -> None:
    job = RulesJob(plant)
    job.run_once(NOW)
    before = sorted(plant.alarms(), key=lambda a: a.id or 0)
    again = job.run_once(NOW)
    after = sorted(plant.alarms(), key=lambda a: a.id or 0)
    assert again.changed == 0
    assert [replace(a, updated=None) for a in before] == [replace(a, updated=None) for a in after]


def test_late_data_join_two_runs(plant: Store) -> None:
    job = RulesJob(plant)
    job.run_once(NOW)
    # hour 4 corrected to 36 mg/m³ (converted 54 > 50): hours 1, 3, 4, 5 exceed, 2 unjudged
    plant.write_observations(minutes({4: 36.0}, gap=range(20, 30)))
    job.run_once(NOW)
    first, second = by_key(plant)[("S1", "exceedance", SO2)]
    assert (first.opened_at, first.last_seen, first.closed_at, first.state) == (
        h(1),
        h(5),
        None,
        "open",
    )
    assert first.hours == 4
    assert second.state == "closed" and "joined" in (second.close_note or "")
    assert job.run_once(NOW).changed == 0


def test_acknowledged_alarm_closes_when_the_condition_clears(plant: Store) -> None:
    job = RulesJob(plant)
    job.run_once(NOW)
    open_one = by_key(plant)[("S1", "exceedance", SO2)][1]
    assert open_one.id is not None
    acked = plant.acknowledge_alarm(open_one.id, actor="operator-wang", note="called the plant")
    assert (acked.state, acked.acknowledged_by, acked.ack_note) == (
        "acknowledged", "operator-wang", "called the plant",
    )  # fmt: skip
    assert any(e.entity == "alarm" and e.actor == "operator-wang" for e in plant.audit_log())
    plant.write_observations(minutes({6: 30.0}))  # hour 6 within the limit
    job.run_once(NOW + timedelta(hours=1))
    closed = plant.alarm(open_one.id)
    assert closed is not None
    assert (closed.state, closed.closed_at, closed.closed_by) == ("closed", h(6), "rules")
    assert closed.acknowledged_by == "operator-wang"


def test_closed_by_hand_stays_closed_while_the_condition_lasts(plant: Store) -> None:
    job = RulesJob(plant)
    job.run_once(NOW)
    open_one = by_key(plant)[("S1", "exceedance", SO2)][1]
    assert open_one.id is not None
    plant.close_alarm(open_one.id, actor="operator-li", note="plant is shutting down", at=NOW)
    plant.write_observations(minutes({6: 40.0}))  # still exceeding (60)
    job.run_once(NOW + timedelta(hours=1))
    runs = by_key(plant)[("S1", "exceedance", SO2)]
    assert len(runs) == 2  # no new alarm while the condition lasts
    hand = plant.alarm(open_one.id)
    assert hand is not None
    assert (hand.state, hand.closed_by, hand.last_seen, hand.hours) == (
        "closed",
        "operator-li",
        h(6),
        2,
    )


def test_regional_compliance_counts_outlet_hours_and_sources(plant: Store) -> None:
    other = Permit(
        "P2", Enterprise("E2", "另一厂 (synthetic)", "110105"),
        date(2026, 1, 1), date(2026, 12, 31),
        outlets=(Outlet("DA001", "烟囱", "一般", "air", "S2", None, 60,
                        limits=(Limit(NOX, "mg/m³", hourly=100),)),),
    )  # fmt: skip
    plant.put_permit(other, actor="test")
    rows = [
        ("S2", NOX, "avg", "minute", h(0) + timedelta(minutes=m), 80.0, "N") for m in range(120)
    ]
    plant.write_observations(
        pd.DataFrame(
            rows, columns=["site", "parameter", "statistic", "period", "time", "value", "flag"]
        )
    )
    # S1: hours 0-5 judged (hour 2 on NOx alone: its SO2 hour is not judged); 1, 3, 5 exceed.
    # S2: hours 0-1 judged, within.
    everywhere = regional_compliance(plant, T0, h(6))
    assert everywhere["source_hours"] == {"judged": 8, "compliant": 5, "share": 5 / 8}
    assert everywhere["sources"] == {"under_permit": 2, "judged": 2, "compliant": 1, "share": 0.5}
    hebei = regional_compliance(plant, T0, h(6), region="130000")
    assert hebei["source_hours"] == {"judged": 6, "compliant": 3, "share": 0.5}
    assert hebei["sources"]["compliant"] == 0 and hebei["sources"]["judged"] == 1


def test_enterprise_totals_against_the_permit(plant: Store) -> None:
    out = enterprise_totals(plant, "E1", 2026, NOW)
    (row,) = out["totals"]
    assert row["parameter"] == SO2 and row["emitted_t"] == pytest.approx(60.0)
    assert row["elapsed_fraction"] == pytest.approx(1430.5 / 8760)
    assert row["projection_t"] == pytest.approx(60 / (1430.5 / 8760))
    assert row["permitted_t"] == 280.0 and row["on_course_to_exceed"] is True
    assert enterprise_totals(plant, "E1", 2025, NOW)["totals"] == []


def test_own_reader_gives_the_same_alarms(plant: Store) -> None:
    job = RulesJob(plant, own_reader=True)
    try:
        first = job.run_once(NOW)
        assert first.opened == 6
        assert job.run_once(NOW).changed == 0
    finally:
        job.close()
    assert len(plant.alarms()) == 6


def test_the_engine_never_undoes_an_operator(plant: Store) -> None:
    RulesJob(plant).run_once(NOW)
    stale = by_key(plant)[("S1", "exceedance", SO2)][1]  # as the engine read it: open
    assert stale.id is not None and stale.state == "open"
    plant.acknowledge_alarm(stale.id, actor="op", note="seen")
    (saved,) = plant.save_alarms([replace(stale, hours=5)])
    assert (saved.state, saved.acknowledged_by, saved.hours) == ("acknowledged", "op", 5)
    plant.close_alarm(stale.id, actor="op", note="done", at=NOW)
    (saved,) = plant.save_alarms([replace(stale, hours=6)])
    assert (saved.state, saved.closed_by, saved.close_note, saved.hours) == (
        "closed", "op", "done", 6,
    )  # fmt: skip


def test_run_periodically_runs_at_once_on_wake_and_stops() -> None:
    calls: list[float] = []

    class Job:
        def run_once(self, now: datetime) -> None:
            assert now == NOW
            calls.append(time.monotonic())

    async def until(n: int) -> None:
        deadline = time.monotonic() + 10
        while len(calls) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert len(calls) >= n

    async def scenario() -> None:
        stop, wake = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(
            run_periodically(Job(), stop, every=3600, wake=wake, min_interval=0.2,  # type: ignore[arg-type]
                             clock=lambda: NOW)
        )  # fmt: skip
        await until(1)  # a run at start
        wake.set()  # a writer batch: the next run comes after min_interval, not after `every`
        await until(2)
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
    # an event loop's timer may fire a little before time.monotonic() says it is due: libuv
    # (uvloop, which `serve` installs) keeps a millisecond clock cached at each loop turn, and
    # CI once measured 0.19998 s here; 5 ms of slack still tells min_interval from no wait
    assert len(calls) == 2 and calls[1] - calls[0] >= 0.2 - 0.005


def test_after_a_hand_close_the_next_occurrence_opens_a_new_alarm(plant: Store) -> None:
    job = RulesJob(plant)
    job.run_once(NOW)
    hand = by_key(plant)[("S1", "exceedance", SO2)][1]  # opened 05:00, lasting
    assert hand.id is not None
    # closed by hand at a wall-clock time long after the data hours in question
    plant.close_alarm(hand.id, actor="op", note="known", at=NOW + timedelta(days=10))
    # 06: 40 → 60 exceeds (same condition); 07: 30 → 45 clears; 08: 40 → 60 exceeds again
    plant.write_observations(minutes({6: 40.0, 7: 30.0, 8: 40.0}))
    job.run_once(h(9) + DELIVERY)  # hour 08 is judged once its records are due
    _first, closed, new = by_key(plant)[("S1", "exceedance", SO2)]
    assert (closed.id, closed.state, closed.closed_by, closed.hours) == (hand.id, "closed", "op", 2)
    assert (new.opened_at, new.closed_at, new.state, new.hours) == (h(8), None, "open", 1)
    assert job.run_once(h(9) + DELIVERY).changed == 0
