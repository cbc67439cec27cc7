"""The offline rule for outlets that never sent anything (issue 6 item 3, gap 1): an active
device linked to a permitted outlet that has sent nothing for longer than the outlet's
reporting interval since the permit's validity start (or the device's registration, when
later) raises the offline alarm; on DuckDB and PostgreSQL.

Expectations from the permit (validity from 00:00 Beijing time of ``valid_from``, DESIGN §4;
``reporting_interval_s``) and from the registration instant the test observes around the
registering call — not from the engine.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from shanshui.permits import Enterprise, Limit, Outlet, Permit
from shanshui.rules.engine import RulesJob
from shanshui.store import Device, Parameter, Store

pytest_plugins = ["pg"]

NOX = "a21002"
BEIJING = ZoneInfo("Asia/Shanghai")
HOUR = timedelta(hours=1)


def permit(valid_from: date, *outlets: Outlet) -> Permit:
    return Permit(
        "PO", Enterprise("EO", "离线示例厂 (synthetic)", "130100"), valid_from,
        date(2030, 12, 31), outlets=outlets, synthetic=True,
    )  # fmt: skip


def outlet(site: str, mn: str | None, interval: int = 3600) -> Outlet:
    return Outlet(f"DA{site[-1]}", site, "主要", "air", site, mn, interval,
                  limits=(Limit(NOX, "mg/m³", hourly=100),))  # fmt: skip


@pytest.fixture
def base(store: Store) -> Store:
    store.upsert_parameters([Parameter(NOX, "NOx", "mg/m³", NOX)])
    return store


def offline(store: Store) -> dict[str, list]:  # type: ignore[type-arg]
    out: dict[str, list] = {}  # type: ignore[type-arg]
    for a in sorted(store.alarms(rule="offline"), key=lambda a: a.opened_at):
        out.setdefault(a.site, []).append(a)
    return out


def test_silent_since_the_permit_starts_after_the_registration(base: Store) -> None:
    """Devices registered now; the permit starts tomorrow (Beijing): the outlet is expected to
    report from tomorrow 00:00 Beijing. At +5 h 30 min it is offline since +1 h (the 3600 s
    interval after the start), 4 whole hours, silent 19 800 s; its first record at +6 h
    closes the alarm there. An outlet whose device is disabled, and one without any device,
    are not expected to report: no alarm."""
    tomorrow = datetime.now(BEIJING).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(), BEIJING).astimezone(UTC)
    base.put_permit(
        permit(tomorrow, outlet("S1", "MN1"), outlet("S2", "MN2"), outlet("S3", None)),
        actor="test",
    )
    base.upsert_devices(
        [Device("MN1", "active", site="S1"), Device("MN2", "disabled", site="S2")], actor="test"
    )
    job = RulesJob(base)
    job.run_once(start + timedelta(hours=5, minutes=30))
    (alarm,) = offline(base)["S1"]
    assert set(offline(base)) == {"S1"}
    assert (alarm.opened_at, alarm.closed_at, alarm.state) == (start + HOUR, None, "open")
    assert (alarm.hours, alarm.value, alarm.threshold) == (4, 19_800.0, 3600.0)
    assert alarm.detail["last_data"] is None
    assert alarm.detail["expected_since"] == start.isoformat()
    # the first record arrives (hour label +6 h): the silence ends there
    first = [("S1", NOX, "avg", "hour", start + 6 * HOUR, 50.0, "N")]
    base.write_observations(
        pd.DataFrame(
            first, columns=["site", "parameter", "statistic", "period", "time", "value", "flag"]
        )
    )
    job.run_once(start + timedelta(hours=6, minutes=30))
    (alarm,) = offline(base)["S1"]
    assert (alarm.opened_at, alarm.closed_at, alarm.state) == (start + HOUR, start + 6 * HOUR,
                                                              "closed")  # fmt: skip
    assert (alarm.hours, alarm.value) == (5, 6 * 3600.0)
    assert job.run_once(start + timedelta(hours=6, minutes=30)).changed == 0


def test_silent_since_the_registration_after_the_permit_starts(base: Store) -> None:
    """The permit started long ago; the device (linked by the permit's MN, its site unset)
    is registered now: the silence counts from the registration. Registered between
    ``before`` and ``after``: the alarm opens 60 s (the interval) after it."""
    base.put_permit(permit(date(2026, 1, 1), outlet("S1", "MN1", 60)), actor="test")
    before = datetime.now(UTC)
    base.upsert_devices([Device("MN1", "active")], actor="test")
    after = datetime.now(UTC)
    now = after + timedelta(hours=3)
    RulesJob(base).run_once(now)
    (alarm,) = offline(base)["S1"]
    interval = timedelta(seconds=60)
    assert before + interval <= alarm.opened_at <= after + interval
    assert alarm.state == "open" and alarm.closed_at is None
    assert alarm.hours == 2  # whole hours from the opening: just under 3 h
    registered = datetime.fromisoformat(alarm.detail["expected_since"])
    assert before <= registered <= after
    assert alarm.value == pytest.approx((now - registered).total_seconds())


def test_a_pending_device_counts_from_its_approval(base: Store) -> None:
    """A device first seen unregistered (pending) is expected to report only once an
    operator approves it: nothing while pending, offline from approval + interval after."""
    base.put_permit(permit(date(2026, 1, 1), outlet("S1", "MN1", 600)), actor="test")
    seen = datetime.now(UTC)
    base.note_unknown_device("MN1", peer="10.0.0.1", seen=seen)
    job = RulesJob(base)
    job.run_once(seen + timedelta(hours=2))
    assert offline(base) == {}
    before = datetime.now(UTC)
    base.set_device_status("MN1", "active", actor="op", reason="checked on site")
    after = datetime.now(UTC)
    job.run_once(after + timedelta(hours=1))
    (alarm,) = offline(base)["S1"]
    interval = timedelta(seconds=600)
    assert before + interval <= alarm.opened_at <= after + interval


def hourly(site: str, *hours: datetime) -> pd.DataFrame:
    rows = [(site, NOX, "avg", "hour", t, 50.0, "N") for t in hours]
    return pd.DataFrame(
        rows, columns=["site", "parameter", "statistic", "period", "time", "value", "flag"]
    )


def test_a_live_hourly_outlet_is_offline_only_once_its_next_record_is_overdue(
    base: Store,
) -> None:
    """HJ 212-2017: an hourly record (CN 2061) carries the START of its hour as DataTime and
    is sent once the hour has ended. An outlet reporting every hour whose record of hour L
    arrived just after L + 1 h is not silent at L + 1 h 05 min (its record of L + 1 h is sent
    at L + 2 h), nor at L + 2 h 05 min (that record may still be on its way: resends), but
    is offline at L + 2 h 15 min with nothing new (the record is more than the rules' 10
    minutes of delivery late), dated in data time from L + 1 h (the 3600 s interval after
    its last data time, as a gap between stored hours is dated). When the overdue record
    then arrives, no silence longer than the interval is left in the data: the rules close
    the alarm."""
    start = datetime(2026, 3, 2, 0, 0, tzinfo=BEIJING).astimezone(UTC)
    base.put_permit(permit(date(2026, 3, 2), outlet("S1", "MN1")), actor="test")
    base.upsert_devices([Device("MN1", "active", site="S1")], actor="test")
    last = start + 2 * HOUR
    base.write_observations(hourly("S1", start, start + HOUR, last))
    job = RulesJob(base)
    job.run_once(last + HOUR + timedelta(minutes=5))
    assert offline(base) == {}  # the record of hour `last` just came; the next is not due
    job.run_once(last + 2 * HOUR + timedelta(minutes=5))
    assert offline(base) == {}
    job.run_once(last + 2 * HOUR + timedelta(minutes=15))
    (alarm,) = offline(base)["S1"]
    assert (alarm.opened_at, alarm.closed_at, alarm.state) == (last + HOUR, None, "open")
    assert alarm.detail["last_data"] == last.isoformat()
    assert alarm.value == (2 * HOUR + timedelta(minutes=15)).total_seconds()
    # the overdue record arrives late: no silence longer than the interval is left
    base.write_observations(hourly("S1", last + HOUR))
    job.run_once(last + 2 * HOUR + timedelta(minutes=20))
    (alarm,) = offline(base)["S1"]
    assert (alarm.state, alarm.closed_by) == ("closed", "rules")
    assert alarm.close_note is not None and "back-filled" in alarm.close_note  # not "corrected"


def test_a_hand_close_stands_for_as_long_as_the_silence_lasts(base: Store) -> None:
    """shanshui.rules (De-duplication): an alarm closed by hand while its condition still
    holds stays closed, and no new one opens until the condition has cleared once — also
    when the silence outlasts the rules' 2-day look-back window. An hourly outlet falls
    silent after its record of 03-02 00:00 Beijing (plant shut down); the operator closes
    the offline alarm at 06:00; the job runs each morning for five days: still that one
    alarm, closed by the operator, its condition followed (last_seen = the run). The
    outlet's first record after the overhaul clears the condition; a silence after that is
    a new occurrence: a new alarm."""
    t0 = datetime(2026, 3, 2, 0, 0, tzinfo=BEIJING).astimezone(UTC)
    base.put_permit(permit(date(2026, 3, 1), outlet("S1", "MN1")), actor="test")
    base.upsert_devices([Device("MN1", "active", site="S1")], actor="test")
    base.write_observations(hourly("S1", t0))
    job = RulesJob(base)
    job.run_once(t0 + 6 * HOUR)
    (alarm,) = offline(base)["S1"]
    assert alarm.id is not None and alarm.opened_at == t0 + HOUR
    base.close_alarm(alarm.id, actor="op", note="plant shut down for overhaul", at=t0 + 6 * HOUR)
    for day in range(1, 6):
        now = t0 + timedelta(days=day, hours=8)
        job.run_once(now)
        (alarm,) = offline(base)["S1"]
        assert (alarm.state, alarm.closed_by, alarm.opened_at) == ("closed", "op", t0 + HOUR)
        assert alarm.last_seen == now and alarm.detail["episode_end"] is None
    # back from the overhaul (hour 6 days later), then silent again
    back = t0 + timedelta(days=6)
    base.write_observations(hourly("S1", back))
    job.run_once(back + 5 * HOUR)
    old, new = offline(base)["S1"]
    assert old.id == alarm.id and old.detail["episode_end"] == back.isoformat()
    assert (new.opened_at, new.state) == (back + HOUR, "open")
