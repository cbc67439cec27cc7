"""Several ``serve`` processes on one PostgreSQL (DESIGN §6) each run a rules job: their runs
take turns, so an exceedance is one alarm, not one per process (review 16a, finding 2).

The reference is the permit written here (SO2 hourly limit 50 mg/m³) and six hours of SO2 at
80 mg/m³: one episode, so one open exceedance alarm (:mod:`shanshui.rules`: one alarm per
episode; a run repeated with the same data changes nothing).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from shanshui.permits import Enterprise, Limit, Outlet, Permit
from shanshui.rules.engine import RulesJob
from shanshui.store import Parameter, Site, Store, open_store

pytest_plugins = ["pg"]
pytestmark = pytest.mark.postgres

SO2 = "a21026"


def _plant(url: str) -> None:
    with open_store(url) as store:
        store.upsert_sites([Site("S1", "outlet S1", "outlet")])
        store.upsert_parameters([Parameter(SO2, "SO2", "mg/m³", SO2)])
        outlet = Outlet(
            "DA001", "1号烟囱", "主要", "air", "S1", "MN1", 60,
            limits=(Limit(SO2, "mg/m³", hourly=50),),
        )  # fmt: skip
        store.put_permit(
            Permit(
                id="P1", enterprise=Enterprise("E1", "synthetic plant", "130100"),
                valid_from=date(2026, 1, 1), valid_to=date(2030, 12, 31), outlets=(outlet,),
                synthetic=True,
            ),
            actor="test",
        )  # fmt: skip
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        rows = [
            ("S1", SO2, "avg", "minute", now - timedelta(hours=k, minutes=-m), 80.0, "N")
            for k in range(8, 2, -1)
            for m in range(60)
        ]
        columns = ["site", "parameter", "statistic", "period", "time", "value", "flag"]
        store.write_observations(pd.DataFrame(rows, columns=columns))


def test_two_processes_rules_jobs_open_one_alarm(pg_url: str) -> None:
    """The first job holds its turn while it saves; the second, evaluating meanwhile, skips
    (before the turns, both read no alarm and both opened one)."""
    _plant(pg_url)
    second_done = threading.Event()
    first_saving = threading.Event()
    results = {}

    def job(name: str, hold: bool) -> None:
        store: Store = open_store(pg_url)
        rules = RulesJob(store, own_reader=True, rules=frozenset({"exceedance"}))
        if hold:
            save = store.save_alarms

            def save_when_the_other_has_run(changes):  # type: ignore[no-untyped-def]
                first_saving.set()
                second_done.wait(30)  # the other job evaluates while this one is in its turn
                return save(changes)

            store.save_alarms = save_when_the_other_has_run  # type: ignore[method-assign]
        try:
            results[name] = rules.run_once()
        finally:
            if not hold:
                second_done.set()
            rules.close()
            store.close()

    first = threading.Thread(target=job, args=("first", True))
    first.start()
    assert first_saving.wait(60)  # the first job is in its turn, about to save its alarm
    second = threading.Thread(target=job, args=("second", False))
    second.start()
    second.join(60)
    first.join(60)
    assert results["first"].opened == 1
    assert results["second"].opened == 0 and results["second"].evaluated == 0
    with open_store(pg_url) as store:
        alarms = store.alarms(rule="exceedance")
    assert [(a.site, a.parameter, a.state) for a in alarms] == [("S1", SO2, "open")]
    # the second process's next run sees the first's alarm: still one
    with open_store(pg_url) as store:
        rules = RulesJob(store, rules=frozenset({"exceedance"}))
        try:
            assert rules.run_once().opened == 0
        finally:
            rules.close()
        assert len(store.alarms(rule="exceedance")) == 1


def test_a_run_that_lost_its_turn_saves_no_second_alarm(pg_url: str) -> None:
    """The turn is a lock on the reader's connection; that connection can be lost (an idle
    timeout, a failover) while the run evaluates, and another process's run then gets in. The
    save itself checks what is stored: the episode keeps one alarm (review 17, finding 1)."""
    from contextlib import contextmanager

    _plant(pg_url)
    first_saving, second_done = threading.Event(), threading.Event()
    results = {}

    def job(name: str, hold: bool) -> None:
        store: Store = open_store(pg_url)
        rules = RulesJob(store, own_reader=True, rules=frozenset({"exceedance"}))
        if hold:
            save = store.save_alarms

            def save_when_the_other_has_run(changes):  # type: ignore[no-untyped-def]
                first_saving.set()
                second_done.wait(30)
                return save(changes)

            store.save_alarms = save_when_the_other_has_run  # type: ignore[method-assign]
        else:

            @contextmanager
            def lost_turn(*, wait: float = 0.0):  # type: ignore[no-untyped-def]
                yield True  # as if the first run's lock had gone with its connection

            rules.reader.rules_turn = lost_turn  # type: ignore[attr-defined]
        try:
            results[name] = rules.run_once()
        finally:
            if not hold:
                second_done.set()
            rules.close()
            store.close()

    first = threading.Thread(target=job, args=("first", True))
    first.start()
    assert first_saving.wait(60)
    second = threading.Thread(target=job, args=("second", False))
    second.start()
    second.join(60)
    first.join(60)
    assert results["second"].opened == 1
    with open_store(pg_url) as store:
        alarms = store.alarms(rule="exceedance")
    assert [(a.site, a.parameter, a.state) for a in alarms] == [("S1", SO2, "open")]


def test_a_run_asked_for_by_hand_waits_for_its_turn(pg_url: str) -> None:
    """``shanshui permits evaluate`` while a serve process evaluates: it waits and then
    evaluates (it printed "0 opened" and exited 0, having evaluated nothing: review 17,
    finding 2); serve's own runs skip and say so (``skipped``)."""
    _plant(pg_url)
    held, release = threading.Event(), threading.Event()

    def serve_evaluating() -> None:
        with open_store(pg_url) as other, other.rules_turn() as mine:
            assert mine
            held.set()
            release.wait(30)

    holder = threading.Thread(target=serve_evaluating)
    holder.start()
    assert held.wait(30)
    with open_store(pg_url) as store:
        rules = RulesJob(store, rules=frozenset({"exceedance"}))
        try:
            skipped = rules.run_once()
            assert skipped.skipped and skipped.opened == 0
            threading.Timer(0.5, release.set).start()
            waited = rules.run_once(wait=30.0)
        finally:
            rules.close()
    holder.join(30)
    assert not waited.skipped and waited.opened == 1


def test_the_cli_says_when_it_could_not_get_the_turn(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``shanshui permits evaluate`` that waited in vain says so and exits 1 (it printed
    "0 opened" and exited 0 without evaluating: review 17 #2, review 18 #3)."""
    from typer.testing import CliRunner

    from shanshui.cli import app
    from shanshui.cli import permits as permits_cli

    _plant(pg_url)
    monkeypatch.setattr(permits_cli, "TURN_WAIT_S", 0.5)
    with open_store(pg_url) as other, other.rules_turn() as mine:
        assert mine  # a serve process evaluating, and not giving the turn back
        run = CliRunner().invoke(app, ["permits", "evaluate", "--postgres", pg_url])
    assert run.exit_code == 1
    assert "another process has been evaluating the rules for 0.5 s" in run.output
    assert "opened" not in run.output


def test_no_second_alarm_for_an_episode_whose_alarm_was_closed_meanwhile(pg_url: str) -> None:
    """A run that lost its turn saves after another run opened the episode's alarm and an
    operator closed it: the closed alarm stands, no second one opens (review 18 #5)."""
    _plant(pg_url)
    with open_store(pg_url) as store:
        rules = RulesJob(store, rules=frozenset({"exceedance"}))
        try:
            late = rules.run_once()  # evaluated; its save is replayed below as a late one
        finally:
            rules.close()
        assert late.opened == 1
        (alarm,) = store.alarms(rule="exceedance")
        assert alarm.id is not None
        store.close_alarm(alarm.id, actor="operator", note="handled")
        again = store.save_alarms([replace(alarm, id=None, state="open")])
        assert [a.id for a in again] == [alarm.id]
        assert [(a.id, a.state) for a in store.alarms(rule="exceedance")] == [(alarm.id, "closed")]


def test_an_alarm_the_engine_closed_is_no_twin(pg_url: str) -> None:
    """The engine may open an episode again at the same opening hour after closing it (the
    annual rule opens at the hour): that alarm is saved, not swallowed by the closed one
    (review 19 #3); only an operator's close stands (previous test)."""
    _plant(pg_url)
    with open_store(pg_url) as store:
        rules = RulesJob(store, rules=frozenset({"exceedance"}))
        try:
            assert rules.run_once().opened == 1
        finally:
            rules.close()
        (alarm,) = store.alarms(rule="exceedance")
        closed = replace(alarm, state="closed", closed_at=alarm.last_seen, closed_by="rules")
        store.save_alarms([closed])
        again = store.save_alarms([replace(alarm, id=None, state="open")])
        assert again[0].id != alarm.id
        states = sorted((a.id, a.state) for a in store.alarms(rule="exceedance"))
        assert states == [(alarm.id, "closed"), (again[0].id, "open")]
