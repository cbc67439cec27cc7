"""Corrections inside one write batch are audited like corrections across batches.

DESIGN §4 (idempotence): the same reading (site, parameter, statistic, period, time)
delivered twice is stored once; a later correction replaces it and is recorded in the audit
log. The journal writer gathers up to 20,000 records per batch, so a device's reading and
its correction often reach :meth:`Store.write_observations` in one batch (every correction
replayed after a database outage does): the audit log must not depend on that. Same tests on
DuckDB and PostgreSQL (``tests/pg.py``). Expected values are the readings written here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest

from shanshui.store import Observation, Site, Store
from shanshui.store.seed import AIR_PARAMETERS
from shanshui.store.writing import IN_BATCH_REASON, STORED_REASON

pytest_plugins = ["pg"]

T0 = datetime(2025, 1, 1, 0, tzinfo=UTC)  # 08:00 Beijing
KEY = f"SO2/avg/hour/{T0.isoformat()}"


@pytest.fixture
def air(store: Store) -> Store:
    store.upsert_parameters(AIR_PARAMETERS)
    store.upsert_sites([Site("1001A", "万寿西宫", "air"), Site("1003A", "东四", "air")])
    return store


def so2(value: float, flag: str = "N", site: str = "1001A", hours: int = 0) -> Observation:
    return Observation(site, "SO2", "avg", "hour", T0 + timedelta(hours=hours), value, flag)


def entries(store: Store) -> list[tuple[str | None, str, object, object, str | None]]:
    return [
        (e.site, e.key, e.old_value, e.new_value, e.reason)
        for e in store.audit_log(entity="observation")
    ]


def test_a_correction_inside_one_batch_is_stored_and_audited(air: Store) -> None:
    result = air.write_observations([so2(10.0), so2(80.0)], source="hj212:MN1")
    assert (result.inserted, result.superseded) == (1, 1)
    assert air.observations("1001A", "SO2")["value"].tolist() == [80.0]
    (entry,) = air.audit_log(entity="observation")
    assert entry.action == "correct" and entry.actor == "hj212:MN1"
    assert (entry.site, entry.key) == ("1001A", KEY)
    assert entry.old_value == {"value": 10.0, "flag": "N"}
    assert entry.new_value == {"value": 80.0, "flag": "N"}
    assert entry.reason == IN_BATCH_REASON


def test_a_resend_inside_one_batch_audits_nothing(air: Store) -> None:
    result = air.write_observations([so2(10.0), so2(10.0), so2(10.0)])
    assert (result.inserted, result.superseded) == (1, 2)
    assert air.observations("1001A", "SO2")["value"].tolist() == [10.0]
    assert air.audit_log(entity="observation") == []


def test_a_new_flag_inside_one_batch_is_a_correction(air: Store) -> None:
    # HJ 212-2017 flags travel with the value (DESIGN §4): same value, flag N → M (maintenance)
    air.write_observations([so2(10.0), so2(10.0, "M")])
    assert air.observations("1001A", "SO2")["flag"].tolist() == ["M"]
    assert [(old, new) for _, _, old, new, _ in entries(air)] == [
        ({"value": 10.0, "flag": "N"}, {"value": 10.0, "flag": "M"})
    ]


def test_in_batch_replacements_are_audited_in_order_as_separate_batches_would(air: Store) -> None:
    # 10, 10, 50, 80 for one hour, interleaved with another site's rows: the log holds
    # 10 → 50 and 50 → 80 (what four batches of one row each would leave); the other site's
    # single reading and the repeated 10 audit nothing.
    rows = [so2(10.0), so2(3.0, site="1003A"), so2(10.0), so2(50.0), so2(4.0, hours=1), so2(80.0)]
    air.write_observations(rows)
    assert air.observations("1001A", "SO2")["value"].tolist() == [80.0, 4.0]
    assert air.observations("1003A", "SO2")["value"].tolist() == [3.0]
    assert sorted((old["value"], new["value"]) for _, _, old, new, _ in entries(air)) == [  # type: ignore[index]
        (10.0, 50.0),
        (50.0, 80.0),
    ]


def test_a_correction_across_batches_is_still_audited_once(air: Store) -> None:
    air.write_observations([so2(10.0)])
    result = air.write_observations([so2(80.0)])
    assert (result.inserted, result.corrected) == (0, 1)
    assert entries(air) == [
        ("1001A", KEY, {"value": 10.0, "flag": "N"}, {"value": 80.0, "flag": "N"}, STORED_REASON)
    ]
    assert air.write_observations([so2(80.0)]).unchanged == 1  # a resend: no new entry
    assert len(entries(air)) == 1


def test_a_stored_reading_corrected_twice_in_one_batch(air: Store) -> None:
    # stored 10; then 50 and 80 in one batch: the stored reading is replaced by the batch's
    # last (10 → 80, obs_corrections) and the batch's 50 by its 80 (in-batch)
    air.write_observations([so2(10.0)])
    result = air.write_observations([so2(50.0), so2(80.0)])
    assert (result.corrected, result.superseded) == (1, 1)
    assert air.observations("1001A", "SO2")["value"].tolist() == [80.0]
    got = sorted((reason, old["value"], new["value"]) for _, _, old, new, reason in entries(air))  # type: ignore[index]
    assert got == sorted([(STORED_REASON, 10.0, 80.0), (IN_BATCH_REASON, 50.0, 80.0)])


def arrived(values: list[float], at: datetime) -> pa.Table:
    """One site's SO2 readings of T0 as a gateway's writer hands them: with their arrival
    time (``received``: the journal record's), in journal order."""
    n = len(values)
    return pa.table(
        {
            "site": ["1001A"] * n,
            "parameter": ["SO2"] * n,
            "statistic": ["avg"] * n,
            "period": ["hour"] * n,
            "time": pa.array([T0] * n, pa.timestamp("us", tz="UTC")),
            "value": values,
            "flag": ["N"] * n,
            "received": pa.array([at] * n, pa.timestamp("us", tz="UTC")),
        }
    )


ARRIVED = datetime(2025, 1, 1, 0, 30, tzinfo=UTC)


def test_an_earlier_arrival_written_late_replaces_nothing(air: Store) -> None:
    # Two gateways share the store (DESIGN §6): the device's 35 reached gateway A, then its
    # correction 42 reached gateway B, which stored it first. A's journal drains late: the
    # correction stands and nothing claims that 35 came later (DESIGN §4: a later
    # correction replaces the reading).
    air.write_observations(arrived([42.0], ARRIVED + timedelta(seconds=2)), source="hj212:B")
    result = air.write_observations(arrived([35.0], ARRIVED), source="hj212:A")
    assert (result.inserted, result.corrected, result.unchanged) == (0, 0, 1)
    assert result.stale == 1  # said to the caller (the gateway counts and logs it)
    stored = air.observations("1001A", "SO2")
    assert stored["value"].tolist() == [42.0]
    assert entries(air) == []
    # and a reading that did arrive later still corrects it
    air.write_observations(arrived([50.0], ARRIVED + timedelta(seconds=3)), source="hj212:A")
    assert air.observations("1001A", "SO2")["value"].tolist() == [50.0]
    assert [(old["value"], new["value"]) for _, _, old, new, _ in entries(air)] == [(42.0, 50.0)]  # type: ignore[index]


def test_a_batch_replayed_after_a_crash_audits_nothing_again(air: Store) -> None:
    # The writer committed a batch holding a reading and its correction, then died before
    # the journal's checkpoint: the restart hands the same records (same arrival time) again.
    # Stored once, audited once (DESIGN §4).
    batch = arrived([50.0, 70.0], ARRIVED)
    air.write_observations(batch, source="hj212:MN1")
    assert len(entries(air)) == 1
    result = air.write_observations(batch, source="hj212:MN1")
    assert (result.inserted, result.corrected, result.stale) == (0, 0, 0)
    assert air.observations("1001A", "SO2")["value"].tolist() == [70.0]
    assert [(old["value"], new["value"]) for _, _, old, new, _ in entries(air)] == [(50.0, 70.0)]  # type: ignore[index]


@pytest.mark.postgres
def test_a_concurrent_correction_is_never_overwritten_unaudited(pg_url: str) -> None:
    """Two gateways' writers on one PostgreSQL (DESIGN §6). Writer A compares its batch (a
    correction of one hour, a resend of another) with the store; writer B corrects the resent
    hour before A commits (before A updated, when that was a statement of its own). Whatever
    order they end in, the audit log explains the stored value:
    its last entry for the key holds the value stored (DESIGN §4; review 16a, finding 3)."""
    import threading

    from shanshui.store import open_store

    t2 = T0 + timedelta(hours=1)

    def rows(values: list[tuple[datetime, float]], at: datetime) -> pa.Table:
        n = len(values)
        return pa.table(
            {
                "site": ["1001A"] * n, "parameter": ["SO2"] * n, "statistic": ["avg"] * n,
                "period": ["hour"] * n,
                "time": pa.array([t for t, _ in values], pa.timestamp("us", tz="UTC")),
                "value": [v for _, v in values], "flag": ["N"] * n,
                "received": pa.array([at] * n, pa.timestamp("us", tz="UTC")),
            }
        )  # fmt: skip

    with open_store(pg_url) as first:
        first.upsert_parameters(AIR_PARAMETERS)
        first.upsert_sites([Site("1001A", "万寿西宫", "air")])
        first.write_observations(rows([(T0, 10.0), (t2, 20.0)], ARRIVED), source="hj212:A")
    a, b = open_store(pg_url), open_store(pg_url)
    try:
        paused, go = threading.Event(), threading.Event()
        fetch = a._fetch

        def fetch_paused(name, params=None):  # type: ignore[no-untyped-def]
            rows = fetch(name, params)
            if name == "obs_corrections":  # A has compared (and, on PostgreSQL, updated)
                paused.set()
                go.wait(30)
            return rows

        a._fetch = fetch_paused  # type: ignore[method-assign]
        batch_a = rows([(T0, 11.0), (t2, 20.0)], ARRIVED + timedelta(seconds=2))
        writer_a = threading.Thread(
            target=a.write_observations, args=(batch_a,), kwargs={"source": "hj212:A"}
        )
        writer_a.start()
        assert paused.wait(30)
        batch_b = rows([(t2, 25.0)], ARRIVED + timedelta(seconds=1))
        writer_b = threading.Thread(
            target=b.write_observations, args=(batch_b,), kwargs={"source": "hj212:B"}
        )
        writer_b.start()
        writer_b.join(1.0)  # B commits now, or waits for A's locks
        go.set()
        writer_a.join(30)
        writer_b.join(30)
        got = b.observations("1001A", "SO2")
        stored = dict(zip(got["time"].tolist(), got["value"].tolist(), strict=True))
        log = [e for e in b.audit_log(entity="observation") if e.key.endswith(t2.isoformat())]
    finally:
        a.close()
        b.close()
    value = stored[pd.Timestamp(t2)]
    assert log, "B's correction differs from the stored 20: it is applied and audited"
    assert log[-1].new_value == {"value": value, "flag": "N"}


def test_a_stale_batch_audits_none_of_its_own_replacements(air: Store) -> None:
    # The store holds 3, arrived at 00:40 (another gateway's). A batch that arrived at 00:30
    # holds 1 then 2 for the same hour: it stores nothing, so nothing of it is audited (the
    # log's last entry for a key holds the stored value; review 17, finding 4).
    air.write_observations(arrived([3.0], ARRIVED + timedelta(minutes=10)), source="hj212:B")
    result = air.write_observations(arrived([1.0, 2.0], ARRIVED), source="hj212:A")
    assert (result.corrected, result.stale, result.superseded) == (0, 1, 1)
    assert air.observations("1001A", "SO2")["value"].tolist() == [3.0]
    assert entries(air) == []


@pytest.mark.postgres
def test_a_resend_locks_and_writes_nothing_on_postgresql(pg_url: str) -> None:
    """DESIGN §4: a reading delivered twice is stored once; the second delivery changes
    nothing, so on PostgreSQL it takes no row lock and writes no row version (a re-import of
    an unchanged file, devices resending after lost acknowledgements: review 17, finding 3)."""
    import psycopg

    from shanshui.store import open_store

    with open_store(pg_url) as store:
        store.upsert_parameters(AIR_PARAMETERS)
        store.upsert_sites([Site("1001A", "万寿西宫", "air")])
        store.write_observations(arrived([10.0], ARRIVED))
        again = store.write_observations(arrived([10.0], ARRIVED + timedelta(minutes=5)))
        assert (again.inserted, again.unchanged, again.corrected) == (0, 1, 0)
    with psycopg.connect(pg_url) as con:
        (locked,) = con.execute("select count(*) from obs where xmax <> 0").fetchone()  # type: ignore[misc]
    assert locked == 0


@pytest.mark.postgres
def test_a_correction_waiting_for_another_writers_lock_is_stored(pg_url: str) -> None:
    """Writer A's correction (5, arrived 00:50) waits for writer B's uncommitted change of the
    same hour (3, arrived 00:40); once B commits, A compares with B's 3 and replaces it: the
    store holds 5 and the log says 3 → 5 (review 18, finding 1: A audited and counted the
    correction, but an update inside the comparing statement could not see B's row version
    and the store kept 3, losing an acknowledged reading)."""
    import threading
    import time

    import psycopg

    from shanshui.store import open_store

    with open_store(pg_url) as first:
        first.upsert_parameters(AIR_PARAMETERS)
        first.upsert_sites([Site("1001A", "万寿西宫", "air")])
        first.write_observations(arrived([1.0], ARRIVED), source="gw-0")
    a = open_store(pg_url)
    try:
        paused, go = threading.Event(), threading.Event()
        fetch = a._fetch

        def fetch_paused(name, params=None):  # type: ignore[no-untyped-def]
            if name == "obs_corrections":  # A is about to compare
                paused.set()
                go.wait(30)
            return fetch(name, params)

        a._fetch = fetch_paused  # type: ignore[method-assign]
        results = {}
        batch = arrived([5.0], ARRIVED + timedelta(minutes=20))
        writer_a = threading.Thread(
            target=lambda: results.update(a=a.write_observations(batch, source="gw-A"))
        )
        writer_a.start()
        assert paused.wait(30)
        with psycopg.connect(pg_url) as b:  # writer B, uncommitted while A compares
            b.execute(
                "update obs set value = 3, received = %s, source = 'gw-B' where time = %s",
                (ARRIVED + timedelta(minutes=10), T0),
            )
            go.set()
            time.sleep(1.0)  # A's comparison waits for B's row lock
        writer_a.join(30)
        got = a.observations("1001A", "SO2")
        log = [(e.old_value, e.new_value) for e in a.audit_log(entity="observation")]
    finally:
        a.close()
    assert results["a"].corrected == 1
    assert list(zip(got["value"], got["source"], strict=True)) == [(5.0, "gw-A")]
    assert log == [({"value": 3.0, "flag": "N"}, {"value": 5.0, "flag": "N"})]
