"""Incremental rules runs (issue 6 item 3, gap 3): after its first run the job reads only the
outlets whose readings changed (marked by the write path, migration 0005; readings labelled
ahead of the job's clock are read again once due), plus what the offline rule needs, and
must leave exactly the alarms a full re-evaluation leaves — late data and late replays
included. On DuckDB and PostgreSQL.

The proof: one store evaluated incrementally, a second store fed the same writes and
evaluated in full at every step; after each step both hold the same alarms, and a fresh job
(whose first run is full) finds nothing to change in the incremental store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from shanshui.permits import Enterprise, Limit, Outlet, Permit
from shanshui.rules.binding import DELIVERY
from shanshui.rules.engine import RulesJob
from shanshui.store import Parameter, Store, open_store

pytest_plugins = ["pg"]

SO2, NOX, O2, FLOW = "a21026", "a21002", "a19001", "a00000"
COLUMNS = ["site", "parameter", "statistic", "period", "time", "value", "flag"]
T0 = datetime(2026, 3, 1, 0, tzinfo=UTC)


def h(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def _outlet(site: str, interval: int, *limits: Limit) -> Outlet:
    return Outlet(f"DA{site[-1]}", site, "主要", "air", site, None, interval, limits=limits)


PERMIT = Permit(
    "PI", Enterprise("EI", "增量示例厂 (synthetic)", "130100"), date(2026, 1, 1),
    date(2030, 12, 31),
    outlets=(
        _outlet("S1", 60, Limit(SO2, "mg/m³", hourly=50, converted=True, reference_o2=6)),
        _outlet("S2", 3600, Limit(NOX, "mg/m³", hourly=100, daily=90, rate_kg_h=5)),
        _outlet("S3", 3600, Limit(NOX, "mg/m³", hourly=100)),
    ),
    synthetic=True,
)  # fmt: skip


def s1_minutes(so2: dict[int, float]) -> list[tuple]:
    rows = []
    for hour, value in so2.items():
        for m in range(60):
            t = h(hour) + timedelta(minutes=m)
            rows += [("S1", SO2, "avg", "minute", t, value, "N"),
                     ("S1", O2, "avg", "minute", t, 11.0, "N")]  # fmt: skip
    return rows


def records(site: str, code: str, values: dict[int, float], flag: str = "N") -> list[tuple]:
    return [(site, code, "avg", "hour", h(i), v, flag) for i, v in values.items()]


class Twins:
    """The same writes to two stores: ``inc`` evaluated incrementally, ``ref`` in full."""

    def __init__(self, inc: Store, ref: Store) -> None:
        self.inc, self.ref = inc, ref
        for s in (inc, ref):
            s.upsert_parameters(
                [Parameter(SO2, "SO2", "mg/m³", SO2), Parameter(NOX, "NOx", "mg/m³", NOX),
                 Parameter(O2, "O2", "%", O2), Parameter(FLOW, "flow", "m³/s", FLOW)]
            )  # fmt: skip
            s.put_permit(PERMIT, actor="test")
        lookback = timedelta(days=2)
        self.job = RulesJob(inc, lookback=lookback, full_every=None)
        self.full = RulesJob(ref, lookback=lookback, incremental=False)

    def write(self, rows: list[tuple], received: datetime | None = None) -> None:
        """Write ``rows`` to both stores; ``received``: the rows' received time (default the
        write's clock), an old one for a journal replayed after an outage."""
        frame = pd.DataFrame(rows, columns=COLUMNS)
        if received is not None:
            frame["received"] = received
        for s in (self.inc, self.ref):
            s.write_observations(frame)

    def run(self, now: datetime) -> tuple[int, bool]:
        """Both evaluations at ``now``; the same alarms, and nothing left for a full one."""
        result = self.job.run_once(now)
        self.full.run_once(now)
        assert alarms(self.inc) == alarms(self.ref)
        assert RulesJob(self.inc, lookback=timedelta(days=2)).run_once(now).changed == 0
        return result.evaluated, result.full


def alarms(store: Store) -> list[tuple]:
    return sorted(
        (a.site, a.rule, a.parameter, a.state, a.opened_at, a.last_seen, a.closed_at, a.hours,
         None if a.value is None else round(a.value, 9), a.threshold, a.closed_by,
         a.close_note)
        for a in store.alarms()
    )  # fmt: skip


@pytest.fixture
def twins(store: Store, tmp_path: Path) -> Iterator[Twins]:
    ref = open_store(tmp_path / "reference.duckdb")
    try:
        yield Twins(store, ref)
    finally:
        ref.close()


def at(hours: float) -> datetime:
    """A run's clock: ``hours`` after T0 plus the rules' delivery allowance, so that a run at
    ``at(3)`` judges the hours before 03:00 (:func:`shanshui.rules.binding.judged_end`)."""
    return h(hours) + DELIVERY


def test_incremental_runs_leave_the_alarms_of_a_full_evaluation(twins: Twins) -> None:
    # S1: SO2 converted 45, 60, 60 (×1.5) → exceeds hours 1-2; S2: NOx records 80 …;
    # S3: NOx 90 with flow-less hours
    twins.write(s1_minutes({0: 30.0, 1: 40.0, 2: 40.0}))
    twins.write(records("S2", NOX, {i: 80.0 for i in range(3)}))
    twins.write(records("S2", FLOW, {i: 20.0 for i in range(3)}))
    twins.write(records("S3", NOX, {i: 90.0 for i in range(3)}))
    evaluated, full = twins.run(at(3))
    assert full and evaluated == 3  # the first run reads everything

    # nothing new an hour later: no outlet is read again, but the offline rule still
    # notices S1 (60 s interval) and S2/S3 (3600 s) falling silent
    evaluated, full = twins.run(at(4.5))
    assert (evaluated, full) == (0, False)
    assert {a[0] for a in alarms(twins.inc) if a[1] == "offline" and a[3] == "open"} == {
        "S1", "S2", "S3",
    }  # fmt: skip

    # late data for S1 (an OLD hour, corrected: 30 → 36, converted 54 > 50) and the next
    # hours of S2 (exceeding 120, and a rate of 120 × 72 000 × 10⁻⁶ = 8.64 > 5 kg/h)
    twins.write(s1_minutes({0: 36.0}))
    twins.write(records("S2", NOX, {3: 120.0, 4: 120.0}))
    twins.write(records("S2", FLOW, {3: 20.0, 4: 20.0}))
    evaluated, full = twins.run(at(5.1))
    assert (evaluated, full) == (2, False)
    s1 = [a for a in alarms(twins.inc) if a[:3] == ("S1", "exceedance", SO2)]
    assert [(a[4], a[6], a[7]) for a in s1] == [(h(0), None, 3)]  # hours 0-2, still open

    # a permit change re-reads the outlets whose limits changed, and only those
    twins.inc.set_permit_limit("PI", "DA3", Limit(NOX, "mg/m³", hourly=85), actor="test")
    twins.ref.set_permit_limit("PI", "DA3", Limit(NOX, "mg/m³", hourly=85), actor="test")
    evaluated, full = twins.run(at(5.2))
    assert (evaluated, full) == (1, False)
    assert any(a[:3] == ("S3", "exceedance", NOX) for a in alarms(twins.inc))

    # data labelled in the hours that entered the window, received before the last run
    # (a device clock ahead of the rules' clock): read once their hour is due
    twins.write(records("S3", NOX, {6: 80.0}))
    evaluated, full = twins.run(at(5.3))
    assert evaluated == 1  # received since the last run
    evaluated, full = twins.run(at(6.5))
    assert (evaluated, full) == (1, False)  # now labelled inside the window

    # a day later: S2's natural day 2026-03-01 (Beijing) is over; S1 resumes
    twins.write(s1_minutes({30: 30.0}))
    evaluated, _ = twins.run(at(33))
    # S1's new data; S3 without new data: its hour 6, read at 06:40 when it was not judged
    # yet (hours are judged once their records are due), is judged now; S2 without new data:
    # its natural day is over, so its daily mean is judged now
    assert evaluated == 3
    # an operator's hand does not make the runs differ
    open_one = next(a for a in twins.inc.alarms(state="open") if a.rule == "exceedance")
    ref_one = next(
        a for a in twins.ref.alarms(state="open") if a.key == open_one.key
        and a.opened_at == open_one.opened_at
    )  # fmt: skip
    assert open_one.id is not None and ref_one.id is not None
    twins.inc.close_alarm(open_one.id, actor="op", note="known", at=h(33))
    twins.ref.close_alarm(ref_one.id, actor="op", note="known", at=h(33))
    twins.write(s1_minutes({31: 40.0}))
    twins.run(at(34))


def test_a_failed_run_keeps_the_previous_watermark(twins: Twins) -> None:
    """Readings written before a run that fails are still read by the next one."""
    twins.write(records("S3", NOX, {0: 90.0}))
    twins.run(at(1))
    twins.write(records("S3", NOX, {1: 120.0}))
    job = twins.job
    save = job.store.save_alarms

    def broken(_alarms: object) -> list:  # type: ignore[type-arg]
        raise RuntimeError("database went away")

    job.store.save_alarms = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        job.run_once(at(2))
    job.store.save_alarms = save  # type: ignore[method-assign]
    evaluated, full = twins.run(at(2))
    assert (evaluated, full) == (1, False)
    assert any(a[:3] == ("S3", "exceedance", NOX) for a in alarms(twins.inc))


def test_full_every_and_a_clock_going_back_force_a_full_run(twins: Twins) -> None:
    twins.write(records("S3", NOX, {0: 90.0}))
    job = RulesJob(twins.inc, full_every=timedelta(0))
    assert job.run_once(at(1)).full and job.run_once(at(1.5)).full
    job = RulesJob(twins.inc, full_every=None)
    assert job.run_once(at(1)).full
    assert not job.run_once(at(1.5)).full
    assert job.run_once(at(1.2)).full  # the clock went back: start again
    assert replace(job.run_once(at(1.6), full=True), now=h(0)).full


def test_a_late_replay_is_evaluated_by_the_next_incremental_run(twins: Twins) -> None:
    """A journal replayed after an outage: readings ``received`` by the gateway hours before
    the job's last run, written after it. The old "received since the watermark" scan missed
    them until the next full run; the write path's marks do not depend on ``received``."""
    twins.write(records("S3", NOX, {0: 90.0, 1: 90.0}))
    assert twins.run(at(2)) == (3, True)
    assert twins.run(at(2.5)) == (0, False)
    # S3 exceeds 100 at hours 2-3, received at h(2.1) (before the last run at h(2.5)) but
    # committed only now; S2 replays an hour received at h(1)
    twins.write(records("S3", NOX, {2: 120.0, 3: 130.0}), received=h(2.1))
    twins.write(records("S2", NOX, {1: 95.0}), received=h(1))
    evaluated, full = twins.run(at(4.2))
    assert (evaluated, full) == (2, False)
    s3 = [a for a in alarms(twins.inc) if a[:3] == ("S3", "exceedance", NOX)]
    assert [(a[4], a[7], a[8]) for a in s3] == [(h(2), 2, 130.0)]
    # and a correction replayed with an old received time too (120 → 99: one hour left)
    twins.write(records("S3", NOX, {2: 99.0}), received=h(2.1))
    assert twins.run(at(4.4)) == (1, False)
    s3 = [a for a in alarms(twins.inc) if a[:3] == ("S3", "exceedance", NOX)]
    assert [(a[4], a[7]) for a in s3] == [(h(3), 1)]


def test_two_jobs_on_one_store_each_see_every_change(twins: Twins) -> None:
    """Two ``shanshui serve`` processes' rules jobs on one database: reading the marks takes
    nothing away from the other job, so each evaluates every change (a double evaluation is
    harmless: alarms are de-duplicated) and both keep the data times of every outlet they
    judge offline up to date."""
    other = RulesJob(twins.inc, lookback=timedelta(days=2), full_every=None)
    twins.write(records("S3", NOX, {0: 90.0}))
    twins.run(at(1))
    assert other.run_once(at(1)).full
    twins.write(records("S3", NOX, {1: 120.0}))
    assert other.run_once(at(2)).evaluated == 1  # the other job first
    assert twins.run(at(2)) == (1, False)  # this one still reads S3
    # S3 resumes after a silence: both jobs must see it, or one would keep it offline
    twins.write(records("S3", NOX, {i: 90.0 for i in range(5, 9)}))
    assert twins.run(at(9.2)) == (1, False)
    # the other job reads S3 too and, its data times fresh, agrees with what is stored
    result = other.run_once(at(9.2))
    assert (result.evaluated, result.changed, result.full) == (1, 0, False)
    assert alarms(twins.inc) == alarms(twins.ref)
    result = other.run_once(at(9.3))
    assert (result.evaluated, result.changed) == (0, 0)


def test_a_day_is_judged_when_it_ends_without_new_data(twins: Twins) -> None:
    """S2's daily-mean limit is 90 mg/m³. Its natural day 2026-03-02 (Beijing: 03-01 16:00 to
    03-02 16:00 UTC) has 22 hourly records of 95 (≥ 20 valid hours, HJ 76-2017 Annex B; mean
    95 > 90) and none in its last two hours. The day is judged once its last hour is (16:10
    UTC): the incremental run then reads S2 again although nothing new came, and opens the
    daily alarm the full evaluation opens (``Twins.run`` compares them)."""
    twins.write(records("S2", NOX, {i: 95.0 for i in range(16, 38)}))
    assert twins.run(at(38)) == (3, True)
    assert not [a for a in alarms(twins.inc) if a[1] == "daily_exceedance"]
    evaluated, full = twins.run(at(40))
    assert (evaluated, full) == (1, False)
    (daily,) = [a for a in alarms(twins.inc) if a[1] == "daily_exceedance"]
    assert (daily[0], daily[4], daily[8]) == ("S2", h(16), 95.0)


def test_history_back_filled_after_a_long_outage_is_judged(twins: Twins) -> None:
    """S3 (NOx, hourly limit 100) falls silent after hour 0 for three days, longer than the
    jobs' 2-day look-back; back online at hour 72 its logger uploads the hours it kept
    (HJ 212-2017 history data), hours 1-12 at 120. The write path notes the back-fill
    (oldest reading 71 h old, more than a day: ``rules_backfill``) and the next run reads S3
    from hour 1: one exceedance alarm opened at hour 1, closed at hour 13, 12 hours; the
    offline alarm of the outage is withdrawn (its silent period is now filled)."""
    twins.write(records("S3", NOX, {0: 90.0}))
    twins.run(at(1))
    twins.run(at(72))
    assert [a[3] for a in alarms(twins.inc) if a[:2] == ("S3", "offline")] == ["open"]
    twins.write(records("S3", NOX, {i: 120.0 if i <= 12 else 90.0 for i in range(1, 73)}))
    evaluated, full = twins.run(at(73))
    assert (evaluated, full) == (1, False)
    s3 = [a for a in alarms(twins.inc) if a[:3] == ("S3", "exceedance", NOX)]
    assert [(a[4], a[6], a[7], a[8]) for a in s3] == [(h(1), h(13), 12, 120.0)]
    assert [a[3] for a in alarms(twins.inc) if a[:2] == ("S3", "offline")] == ["closed"]


def test_a_back_fill_reaches_back_a_year_at_most() -> None:
    """A reading labelled years back (a logger whose clock reset to 2000) does not send the
    rules through decades of hours: a back-fill reaches back BACKFILL_HORIZON (366 days) at
    most; one within it, from its oldest reading; a gen the job has read, not at all."""
    from shanshui.rules.engine import _backfilled, _State
    from shanshui.store.alarms import RuleBackfill

    now = datetime(2026, 11, 26, 8, tzinfo=UTC)
    old = _State(now - timedelta(minutes=1), 0.0, seen={1: 4, 2: 7})
    backfills = [
        RuleBackfill(1, "S1", 5, datetime(1999, 12, 31, 16, tzinfo=UTC)),
        RuleBackfill(2, "S2", 7, now - timedelta(days=3)),  # read already (gen 7)
        RuleBackfill(3, "S3", 1, now - timedelta(days=3)),
    ]
    assert _backfilled(backfills, old, now) == {
        "S1": now - timedelta(days=366), "S3": now - timedelta(days=3),
    }  # fmt: skip
    assert _backfilled(backfills, None, now) == {}  # a job's first run starts from its look-back
