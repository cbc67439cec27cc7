"""A permit renewed: each hour is judged under the permit valid in it (review 22, finding 2).

Before, the rules bound an outlet to one permit for the whole window judged, the one that
starts last: importing a renewal moved an open alarm's start and permit to the new permit
and dropped the hours judged under the old one, and regional compliance counted only the
new permit's hours. The expected alarms below are worked out by hand from the rules as
written in ``shanshui/rules/__init__.py``:

- permits' dates are Beijing natural days (DESIGN §4): a permit valid to 2026-03-01 holds
  the outlet until 2026-03-02 00:00 Beijing = 2026-03-01 16:00 UTC;
- conversion to the reference oxygen, GB 13223-2011 §5.2: ``C × (21 − 6)/(21 − O2)``; with
  O2 = 11 % the factor is 15/10 = 1.5;
- an hourly mean needs ≥ 45 valid minutes (HJ 76-2017 Annex B), a daily mean ≥ 20 valid
  hours; an hour is judged 10 minutes after its end.

Data: UTC hours 14–19 of 2026-03-01 (Beijing 22:00 on 1 March to 03:59 on 2 March).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from shanshui.permits import Enterprise, Limit, Outlet, Permit
from shanshui.rules.engine import RulesJob
from shanshui.rules.regional import regional_compliance
from shanshui.store import Parameter, Site, Store

pytest_plugins = ["pg"]

SO2, NOX, O2 = "a21026", "a21002", "a19001"
T0 = datetime(2026, 3, 1, 14, tzinfo=UTC)
NOW = T0 + timedelta(hours=6, minutes=30)  # hours 14–19 judged
RENEWAL_START = datetime(2026, 3, 1, 16, tzinfo=UTC)  # 2026-03-02 00:00 Beijing
E1 = Enterprise("E1", "示例电厂 (synthetic)", "130100")
E2 = Enterprise("E2", "接手企业 (synthetic)", "130100")
COLUMNS = ["site", "parameter", "statistic", "period", "time", "value", "flag"]


def h(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def permit(
    pid: str, start: date, end: date, so2_hourly: float, *, interval: int = 60,
    enterprise: Enterprise = E1, nox_daily: float | None = None,
) -> Permit:  # fmt: skip
    limits = [Limit(SO2, "mg/m³", hourly=so2_hourly, converted=True, reference_o2=6)]
    if nox_daily is not None:
        limits.append(Limit(NOX, "mg/m³", daily=nox_daily))
    outlet = Outlet("DA001", "1号烟囱", "主要", "air", "S1", "MN1", interval, limits=tuple(limits))
    return Permit(pid, enterprise, start, end, (outlet,), synthetic=True)


def so2_minutes(so2: float, hours: range = range(6)) -> pd.DataFrame:
    rows = []
    for hour in hours:
        for m in range(60):
            t = h(hour) + timedelta(minutes=m)
            rows += [("S1", SO2, "avg", "minute", t, so2, "N"),
                     ("S1", O2, "avg", "minute", t, 11.0, "N")]  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


@pytest.fixture
def plant(store: Store) -> Store:
    store.upsert_parameters(
        [Parameter(SO2, "SO2", "mg/m³", SO2), Parameter(NOX, "NOx", "mg/m³", NOX),
         Parameter(O2, "O2", "%", O2)]
    )  # fmt: skip
    return store


def alarms(store: Store, rule: str) -> list:  # type: ignore[type-arg]
    return sorted((a for a in store.alarms() if a.rule == rule), key=lambda a: a.opened_at)


def test_each_hour_is_judged_under_the_permit_valid_in_it(plant: Store) -> None:
    # converted SO2 (×1.5): hours 14, 15: 40 → 60, above P1's 50; hours 16, 17: 20 → 30,
    # within the renewal's 35; hours 18, 19: 30 → 45, above 35 (within P1's 50)
    plant.put_permit(permit("P1", date(2026, 1, 1), date(2026, 3, 1), 50), actor="test")
    plant.put_permit(permit("P2", date(2026, 3, 2), date(2030, 12, 31), 35), actor="test")
    for so2, hours in ((40.0, range(2)), (20.0, range(2, 4)), (30.0, range(4, 6))):
        plant.write_observations(so2_minutes(so2, hours))
    RulesJob(plant).run_once(NOW)
    first, second = alarms(plant, "exceedance")
    # before: P2 bound the whole window and the hours under P1 were not judged at all
    assert (first.opened_at, first.last_seen, first.closed_at, first.hours) == (
        h(0), h(1), RENEWAL_START, 2,
    )  # fmt: skip
    assert (first.permit, first.threshold, first.state) == ("P1", 50, "closed")
    assert first.value == pytest.approx(60.0)
    assert (second.opened_at, second.last_seen, second.hours, second.state) == (
        h(4), h(5), 2, "open",
    )  # fmt: skip
    assert (second.permit, second.threshold) == ("P2", 35)
    assert second.value == pytest.approx(45.0)


def test_an_alarm_keeps_its_start_and_permit_when_a_renewal_is_imported(plant: Store) -> None:
    # SO2 40 → 60 at 6 % O2: above 50 and above 35 in every hour
    plant.put_permit(permit("P1", date(2026, 1, 1), date(2026, 12, 31), 50), actor="test")
    plant.write_observations(so2_minutes(40.0))
    job = RulesJob(plant)
    job.run_once(NOW)
    (before,) = alarms(plant, "exceedance")
    assert (before.opened_at, before.hours, before.permit, before.threshold) == (h(0), 6, "P1", 50)
    # the renewal is issued before P1 expires: it holds the outlet from its own first day
    plant.put_permit(permit("P2", date(2026, 3, 2), date(2030, 12, 31), 35), actor="test")
    job.run_once(NOW)
    (after,) = alarms(plant, "exceedance")
    # before: moved to 16:00 under P2 with 4 hours, the two hours under P1 dropped
    assert after.id == before.id
    assert (after.opened_at, after.last_seen, after.hours) == (h(0), h(5), 6)
    assert (after.permit, after.threshold, after.state) == ("P1", 50, "open")
    assert job.run_once(NOW).changed == 0
    # a full evaluation by a fresh job agrees with the incremental one
    assert RulesJob(plant).run_once(NOW).changed == 0


def test_regional_compliance_counts_the_hours_of_both_permits_and_owners(plant: Store) -> None:
    # the outlet changes hands with the new permit period (E1 → E2): SO2 45 converted is
    # within E1's 50 (2 hours) and above E2's 35 (4 hours)
    plant.put_permit(permit("P1", date(2026, 1, 1), date(2026, 3, 1), 50), actor="test")
    plant.put_permit(
        permit("P2", date(2026, 3, 2), date(2030, 12, 31), 35, enterprise=E2), actor="test"
    )
    plant.write_observations(so2_minutes(30.0))
    got = regional_compliance(plant, h(0), h(6))
    # before: 4 judged hours, all of them E2's, none compliant
    assert got["source_hours"] == {"judged": 6, "compliant": 2, "share": pytest.approx(2 / 6)}
    by_id = {e["id"]: e for e in got["enterprises"]}
    assert (by_id["E1"]["judged_hours"], by_id["E1"]["compliant_hours"]) == (2, 2)
    assert (by_id["E2"]["judged_hours"], by_id["E2"]["compliant_hours"]) == (4, 0)
    assert got["sources"]["judged"] == 2 and got["sources"]["compliant"] == 1


def test_a_silence_is_judged_with_the_interval_of_the_permit_that_held_it(plant: Store) -> None:
    # P1: the outlet reports hourly (3600 s); the renewal asks for minute data (60 s). Hourly
    # records at 14:00 and 15:00, minute data from 16:00: no gap exceeds its own interval
    plant.put_permit(
        permit("P1", date(2026, 1, 1), date(2026, 3, 1), 50, interval=3600), actor="test"
    )
    plant.put_permit(permit("P2", date(2026, 3, 2), date(2030, 12, 31), 50), actor="test")
    hourly = pd.DataFrame(
        [("S1", SO2, "avg", "hour", h(i), 20.0, "N") for i in (0, 1)], columns=COLUMNS
    )
    plant.write_observations(hourly)
    plant.write_observations(so2_minutes(20.0, range(2, 6)))
    # the last minute is 19:59; the next is not overdue before 20:02 (2 × 60 s + 60 s)
    RulesJob(plant).run_once(h(6) + timedelta(minutes=1))
    # before: the renewal's 60 s for every hour made 14:00 → 15:00 a silence of an hour
    assert alarms(plant, "offline") == []


def test_each_natural_day_is_judged_under_its_permits_daily_limit(plant: Store) -> None:
    # NOx hourly records (measured basis) over two Beijing days: 1 March at 45 mg/m³ under
    # P1's daily limit 40, 2 March at 35 under the renewal's 30: both days exceed, one alarm
    # that opened under P1
    day1 = datetime(2026, 2, 28, 16, tzinfo=UTC)  # 2026-03-01 00:00 Beijing
    plant.put_permit(
        permit("P1", date(2026, 1, 1), date(2026, 3, 1), 50, interval=3600, nox_daily=40),
        actor="test",
    )
    plant.put_permit(
        permit("P2", date(2026, 3, 2), date(2030, 12, 31), 50, interval=3600, nox_daily=30),
        actor="test",
    )
    rows = [("S1", NOX, "avg", "hour", day1 + timedelta(hours=i), 45.0 if i < 24 else 35.0, "N")
            for i in range(48)]  # fmt: skip
    plant.write_observations(pd.DataFrame(rows, columns=COLUMNS))
    # 2 March ends 2026-03-02 16:00 UTC; its last hour is judged from 16:10
    RulesJob(plant).run_once(datetime(2026, 3, 2, 16, 30, tzinfo=UTC))
    (alarm,) = alarms(plant, "daily_exceedance")
    # before: P2's 30 for both days, and 1 March (before P2) not judged: opened on 2 March
    assert (alarm.opened_at, alarm.last_seen, alarm.hours, alarm.state) == (
        day1, RENEWAL_START, 48, "open",
    )  # fmt: skip
    assert (alarm.permit, alarm.threshold) == ("P1", 40)
    assert alarm.value == pytest.approx(45.0)


def test_an_alarm_closes_where_its_permit_expires_with_nothing_after(plant: Store) -> None:
    # P1 expired on 1 March (Beijing) and nothing renewed it: hours 14, 15 exceed its 50,
    # hours 16–19 are held by no permit: no limit is left to exceed, so the alarm closes at
    # P1's end once that hour is judged (it stayed open for ever, and its outlet's window
    # reached back to its start at every run: review 24, finding 2)
    plant.put_permit(permit("P1", date(2026, 1, 1), date(2026, 3, 1), 50), actor="test")
    plant.write_observations(so2_minutes(40.0))
    RulesJob(plant).run_once(NOW)
    (alarm,) = alarms(plant, "exceedance")
    assert (alarm.opened_at, alarm.last_seen, alarm.hours) == (h(0), h(1), 2)
    assert (alarm.closed_at, alarm.state, alarm.permit) == (RENEWAL_START, "closed", "P1")


def test_an_alarm_closes_where_the_renewal_no_longer_limits_its_pollutant(plant: Store) -> None:
    # the renewal limits NOx only: the SO2 alarm opened under P1 closes at the renewal's start
    # (review 24, finding 2: it stayed open with no later hour judged)
    plant.put_permit(permit("P1", date(2026, 1, 1), date(2026, 3, 1), 50), actor="test")
    nox_only = permit("P2", date(2026, 3, 2), date(2030, 12, 31), 50)
    (outlet,) = nox_only.outlets
    nox = (Limit(NOX, "mg/m³", hourly=100),)
    plant.put_permit(replace(nox_only, outlets=(replace(outlet, limits=nox),)), actor="test")
    plant.write_observations(so2_minutes(40.0))
    job = RulesJob(plant)
    job.run_once(NOW)
    (alarm,) = alarms(plant, "exceedance")
    assert (alarm.opened_at, alarm.closed_at, alarm.hours, alarm.state) == (
        h(0), RENEWAL_START, 2, "closed",
    )  # fmt: skip
    # a day later it stands as it was: the hours after the renewal are not judged for SO2
    job.run_once(NOW + timedelta(days=1))
    (later,) = alarms(plant, "exceedance")
    assert (later.id, later.closed_at, later.state) == (alarm.id, RENEWAL_START, "closed")


@pytest.mark.parametrize(
    ("permits", "holder"),
    [
        # P1 runs all year with 50; P2 holds the outlet on 2 March (Beijing) only, with 35:
        # hours 14, 15 (2 March Beijing) are P2's, 16–19 P1's again
        pytest.param(
            [("P1", date(2026, 1, 1), date(2026, 12, 31), 50),
             ("P2", date(2026, 3, 2), date(2026, 3, 2), 35)],
            ("P2", 35), id="a short permit inside a long one",
        ),
        # PA and PB both start on 2 March; PA (listed first) ends that day, PB runs on
        pytest.param(
            [("PA", date(2026, 3, 2), date(2026, 3, 2), 50),
             ("PB", date(2026, 3, 2), date(2030, 12, 31), 50)],
            ("PA", 50), id="two permits starting the same day",
        ),
    ],
)  # fmt: skip
def test_a_permit_that_ends_first_hands_the_outlet_back(
    plant: Store, permits: list[tuple[str, date, date, float]], holder: tuple[str, float]
) -> None:
    # on 2 March 14:00–19:00 UTC, SO2 40 → 60 exceeds every limit: one alarm of 6 hours,
    # opened under the permit that holds 14:00 (review 24, finding 1: once the shorter permit
    # ended nothing held the outlet, and hours 16–19 were not judged)
    day = timedelta(days=1)
    for pid, start, end, limit in permits:
        plant.put_permit(permit(pid, start, end, limit), actor="test")
    rows = so2_minutes(40.0)
    rows["time"] = rows["time"] + day
    plant.write_observations(rows)
    RulesJob(plant).run_once(NOW + day)
    (alarm,) = alarms(plant, "exceedance")
    assert (alarm.opened_at, alarm.last_seen, alarm.hours, alarm.state) == (
        h(0) + day, h(5) + day, 6, "open",
    )  # fmt: skip
    assert (alarm.permit, alarm.threshold) == holder


def test_a_day_of_another_zone_goes_with_the_permit_that_holds_most_of_it(plant: Store) -> None:
    # a site in Tokyo time (UTC+9): its 2 March is 1 March 15:00 – 2 March 15:00 UTC, of which
    # one hour is P1's (daily 40) and 23 the renewal's (daily 30); NOx 35 exceeds 30
    # (review 24, finding 3: the day went with its first hour, P1's, and did not exceed)
    plant.upsert_sites([Site("S1", "1号烟囱", "outlet", region="130100", tz="Asia/Tokyo")])
    plant.put_permit(
        permit("P1", date(2026, 1, 1), date(2026, 3, 1), 50, interval=3600, nox_daily=40),
        actor="test",
    )
    plant.put_permit(
        permit("P2", date(2026, 3, 2), date(2030, 12, 31), 50, interval=3600, nox_daily=30),
        actor="test",
    )
    tokyo_day = datetime(2026, 3, 1, 15, tzinfo=UTC)
    rows = [("S1", NOX, "avg", "hour", tokyo_day + timedelta(hours=i), 35.0, "N")
            for i in range(24)]  # fmt: skip
    plant.write_observations(pd.DataFrame(rows, columns=COLUMNS))
    RulesJob(plant).run_once(datetime(2026, 3, 2, 16, 30, tzinfo=UTC))
    (alarm,) = alarms(plant, "daily_exceedance")
    assert (alarm.opened_at, alarm.permit, alarm.threshold) == (tokyo_day, "P2", 30)


def test_flags_in_a_gap_between_permits_are_not_judged(plant: Store) -> None:
    # P1 ends on 1 March, P2 begins on 3 March (Beijing): no permit holds the outlet from
    # 1 March 16:00 to 2 March 16:00 UTC. Flag F (stopped) every hour from 1 March 14:00 to
    # 2 March 19:00 UTC: an alarm under P1 closes at its end, another opens under P2 (review
    # 24, finding 5: the first was later withdrawn as if the data had been corrected)
    plant.put_permit(permit("P1", date(2026, 1, 1), date(2026, 3, 1), 50), actor="test")
    plant.put_permit(permit("P2", date(2026, 3, 3), date(2030, 12, 31), 50), actor="test")
    rows = [("S1", SO2, "avg", "hour", h(i), 1.0, "F") for i in range(30)]
    plant.write_observations(pd.DataFrame(rows, columns=COLUMNS))
    job = RulesJob(plant)
    now = NOW + timedelta(days=1)
    job.run_once(now)
    first, second = alarms(plant, "flag")
    p2_start = RENEWAL_START + timedelta(days=1)
    assert (first.opened_at, first.closed_at, first.hours, first.permit) == (
        h(0), RENEWAL_START, 2, "P1",
    )  # fmt: skip
    assert (second.opened_at, second.last_seen, second.hours, second.permit) == (
        p2_start, h(29), 4, "P2",
    )  # fmt: skip
    assert second.state == "open"
    # a day later (P1 out of the window) the first alarm stands as it was
    job.run_once(now + timedelta(days=2))
    again = alarms(plant, "flag")[0]
    assert (again.closed_at, again.closed_by, again.close_note) == (
        RENEWAL_START, "rules", None,
    )  # fmt: skip


def test_a_renewal_that_changes_the_basis_reads_each_hour_on_its_own(plant: Store) -> None:
    # P1 limits SO2 converted at 6 % O2, the renewal the measured value (both 50 mg/m³).
    # SO2 40 measured at 11 % O2: 60 converted, above 50 under P1 (hours 14, 15); 40
    # measured, within 50 under P2 (hours 16–19): the alarm closes at the renewal's start.
    # One read with P1's conversion for every hour would judge 60 > 50 under P2 too.
    plant.put_permit(permit("P1", date(2026, 1, 1), date(2026, 3, 1), 50), actor="test")
    measured = permit("P2", date(2026, 3, 2), date(2030, 12, 31), 50)
    (outlet,) = measured.outlets
    plain = (Limit(SO2, "mg/m³", hourly=50),)
    plant.put_permit(replace(measured, outlets=(replace(outlet, limits=plain),)), actor="test")
    plant.write_observations(so2_minutes(40.0))
    RulesJob(plant).run_once(NOW)
    (alarm,) = alarms(plant, "exceedance")
    assert (alarm.opened_at, alarm.last_seen, alarm.closed_at) == (h(0), h(1), RENEWAL_START)
    assert (alarm.permit, alarm.threshold, alarm.hours) == ("P1", 50, 2)
    assert alarm.value == pytest.approx(60.0)
    assert alarm.detail["basis"] == "converted"


def test_a_silence_closes_where_the_permit_expires_and_counts_again_under_the_next(
    plant: Store,
) -> None:
    # P1 ends on 1 March (16:00 UTC), P2 begins on 3 March (2 March 16:00 UTC); minute data
    # 14:00–14:59 on 1 March, then nothing. Rule (b): the silence opens at 14:59 + 60 s; no
    # one has to report while no permit holds the outlet, so it closes at P1's end, and a
    # second opens one interval after P2's start (as from an anchor); before, one alarm stayed
    # open from 15:00 for ever, under P1 (review 24, follow-up of finding 2)
    plant.put_permit(permit("P1", date(2026, 1, 1), date(2026, 3, 1), 50), actor="test")
    plant.put_permit(permit("P2", date(2026, 3, 3), date(2030, 12, 31), 50), actor="test")
    plant.write_observations(so2_minutes(20.0, range(1)))
    RulesJob(plant).run_once(NOW + timedelta(days=1))
    first, second = alarms(plant, "offline")
    assert (first.opened_at, first.closed_at, first.state, first.permit) == (
        h(1), RENEWAL_START, "closed", "P1",
    )  # fmt: skip
    assert (first.value, first.hours) == (3660.0, 1)  # 14:59 → 16:00; one whole hour
    p2_start = RENEWAL_START + timedelta(days=1)
    assert (second.opened_at, second.closed_at, second.state, second.permit) == (
        p2_start + timedelta(seconds=60), None, "open", "P2",
    )  # fmt: skip
    assert second.value == (NOW + timedelta(days=1) - p2_start).total_seconds()


def test_a_silence_after_the_last_permit_closes_at_its_end(plant: Store) -> None:
    plant.put_permit(permit("P1", date(2026, 1, 1), date(2026, 3, 1), 50), actor="test")
    plant.write_observations(so2_minutes(20.0, range(1)))
    job = RulesJob(plant)
    job.run_once(NOW)
    (alarm,) = alarms(plant, "offline")
    assert (alarm.opened_at, alarm.closed_at, alarm.state) == (h(1), RENEWAL_START, "closed")
    # days later nothing opens again: no permit holds the outlet
    job.run_once(NOW + timedelta(days=3))
    assert [(a.id, a.closed_at) for a in alarms(plant, "offline")] == [(alarm.id, RENEWAL_START)]


def test_a_renewal_starting_at_the_evaluation_instant_keeps_a_silence_open(plant: Store) -> None:
    # P1 ends and the renewal P2 begins at 16:00 UTC; the device is silent from 14:59. A run
    # at 16:00:00 does not see P2 yet (a window binds the permits begun before ``now``): the
    # silence must not close at P1's end, to reopen at the next run (review 25, finding 1)
    plant.put_permit(permit("P1", date(2026, 1, 1), date(2026, 3, 1), 50), actor="test")
    plant.put_permit(permit("P2", date(2026, 3, 2), date(2030, 12, 31), 50), actor="test")
    plant.write_observations(so2_minutes(20.0, range(1)))
    job = RulesJob(plant)
    for now in (RENEWAL_START, RENEWAL_START + timedelta(minutes=1)):
        job.run_once(now)
        (alarm,) = alarms(plant, "offline")
        assert (alarm.opened_at, alarm.closed_at, alarm.state) == (h(1), None, "open"), now


def test_a_silence_after_a_datum_in_a_gap_counts_from_the_next_permit(plant: Store) -> None:
    # an hourly outlet goes on reporting in the gap between P1 (ends 1 March 16:00 UTC) and
    # P2 (starts 2 March 16:00 UTC); P2's first hour is missing, the next record is 17:00.
    # Counted from P2's start (as from an anchor), the 17:00 record is on time: no alarm
    # (review 25, finding 2: an alarm under the expired P1, which an outlet silent through
    # the whole gap did not get)
    plant.put_permit(
        permit("P1", date(2026, 1, 1), date(2026, 3, 1), 50, interval=3600), actor="test"
    )
    plant.put_permit(
        permit("P2", date(2026, 3, 3), date(2030, 12, 31), 50, interval=3600), actor="test"
    )
    hours = [i for i in range(30) if i != 26]  # h(26) = 2 March 16:00 UTC
    rows = [("S1", SO2, "avg", "hour", h(i), 20.0, "N") for i in hours]
    plant.write_observations(pd.DataFrame(rows, columns=COLUMNS))
    # the last record is 19:00; the next is due by 21:10 (2 × 3600 s + 600 s)
    RulesJob(plant).run_once(NOW + timedelta(days=1))
    assert alarms(plant, "offline") == []


def test_a_day_whose_middle_is_the_permits_start_is_judged_under_it(plant: Store) -> None:
    # a site in Caracas time (UTC−4): 00:00 Beijing is 12:00 there, so each permit starts at
    # the middle of a local day. P1 (all 2026, NOx daily 40) is interrupted by P2 on 2 March
    # Beijing (NOx hourly 1000, no daily limit), which holds the middle of Caracas's 1 March.
    # NOx 50 on Caracas's 28 Feb, 1 and 2 March: 28 Feb exceeds under P1, 1 March is not
    # judged, 2 March exceeds under P1 again: two alarms (review 25, finding 3: the run's
    # close fell on 2 March, which joined the first alarm and closed it)
    plant.upsert_sites([Site("S1", "1号烟囱", "outlet", region="130100", tz="America/Caracas")])
    plant.put_permit(
        permit("P1", date(2026, 1, 1), date(2026, 12, 31), 50, interval=3600, nox_daily=40),
        actor="test",
    )
    short = permit("P2", date(2026, 3, 2), date(2026, 3, 2), 50, interval=3600)
    (outlet,) = short.outlets
    hourly_nox = (*outlet.limits, Limit(NOX, "mg/m³", hourly=1000))
    plant.put_permit(replace(short, outlets=(replace(outlet, limits=hourly_nox),)), actor="test")
    feb28 = datetime(2026, 2, 28, 4, tzinfo=UTC)  # 00:00 in Caracas
    day = timedelta(days=1)
    rows = [("S1", NOX, "avg", "hour", feb28 + timedelta(hours=i), 50.0, "N") for i in range(72)]
    plant.write_observations(pd.DataFrame(rows, columns=COLUMNS))
    RulesJob(plant, lookback=timedelta(days=4)).run_once(feb28 + 3 * day + timedelta(minutes=30))
    first, second = alarms(plant, "daily_exceedance")
    assert (first.opened_at, first.closed_at, first.hours) == (feb28, feb28 + day, 24)
    assert (second.opened_at, second.closed_at, second.hours) == (feb28 + 2 * day, None, 24)
    assert first.permit == second.permit == "P1"
