"""The rules job's marks (migration 0005) and reads (``rule_*``, by integer ids on ``obs``), on
DuckDB and on PostgreSQL.

The write path marks, in its transaction, every site whose readings a batch inserted or
corrected; the rules job reads the marks instead of scanning readings by ``received`` time
(``shanshui.rules.engine``). What must hold, from the task's statement (issue of the rules
job's reads, item 2) and DESIGN §4 (a resend changes nothing): a resend makes no mark; an
insert and a correction do, each with a new gen (so a job that read an older gen reads the
site again, and a write made while a job evaluates is never lost); a late replay (rows with
an old ``received`` time) is marked like any other write; ``tmax`` keeps the newest data
time. The reads must answer from the rows written, whatever their series (PostgreSQL walks a
site's series by the primary key; DuckDB groups): expected values are counted from the rows
the tests write, never taken from the store's output.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pandas as pd

from shanshui.store import Parameter, Site, Store
from shanshui.store.alarms import RuleMark
from shanshui.store.postgres import PostgresStore

pytest_plugins = ["pg"]

T0 = datetime(2026, 3, 1, 0, tzinfo=UTC)
SO2 = "a21026"
COLUMNS = ["site", "parameter", "statistic", "period", "time", "value", "flag"]
BATCHES = 15  # per writer in the concurrency test


def _setup(store: Store) -> None:
    store.upsert_sites([Site("OUT-1", "排口一", "outlet"), Site("OUT-2", "排口二", "outlet")])
    store.upsert_parameters([Parameter(SO2, "SO2 (flue gas)", "mg/m³", SO2)])


def _write(store: Store, rows: list[tuple], **kw: object) -> tuple[int, int, int]:
    cols = COLUMNS + (["received"] if len(rows[0]) > len(COLUMNS) else [])
    r = store.write_observations(pd.DataFrame(rows, columns=cols), **kw)  # type: ignore[arg-type]
    return r.inserted, r.unchanged, r.corrected


def _marks(store: Store) -> dict[str, tuple[int, datetime]]:
    marks: list[RuleMark] = store.rule_marks()  # type: ignore[attr-defined]
    ids = store.site_ids([m.site for m in marks])
    assert all(ids[m.site] == m.site_id for m in marks)  # the id is the site's key
    return {m.site: (m.gen, m.tmax) for m in marks}


def _row(site: str, hour: int, value: float) -> tuple:
    return (site, SO2, "avg", "hour", T0 + timedelta(hours=hour), value, "N")


def test_a_new_store_has_no_marks(store: Store) -> None:
    _setup(store)
    assert _marks(store) == {}


def test_inserts_and_corrections_mark_resends_do_not(store: Store) -> None:
    _setup(store)
    assert _write(store, [_row("OUT-1", 0, 10.0), _row("OUT-1", 1, 11.0)]) == (2, 0, 0)
    assert _marks(store) == {"OUT-1": (1, T0 + timedelta(hours=1))}

    # a resend: nothing changed, no new mark (DESIGN §4)
    assert _write(store, [_row("OUT-1", 0, 10.0), _row("OUT-1", 1, 11.0)]) == (0, 2, 0)
    assert _marks(store) == {"OUT-1": (1, T0 + timedelta(hours=1))}

    # a correction of an old hour: a new gen; tmax keeps the newest data time
    assert _write(store, [_row("OUT-1", 0, 12.0)]) == (0, 0, 1)
    assert _marks(store) == {"OUT-1": (2, T0 + timedelta(hours=1))}

    # an insert, on two sites in one batch: each site marked once, with its own newest time
    rows = [_row("OUT-1", 5, 1.0), _row("OUT-2", 2, 2.0), _row("OUT-2", 3, 3.0)]
    assert _write(store, rows) == (3, 0, 0)
    assert _marks(store) == {
        "OUT-1": (3, T0 + timedelta(hours=5)),
        "OUT-2": (1, T0 + timedelta(hours=3)),
    }


def test_a_late_replay_is_marked_whatever_its_received_time(store: Store) -> None:
    """A journal replayed after an outage: ``received`` is when the gateway got the frame,
    days before the write; the mark does not depend on it."""
    _setup(store)
    _write(store, [_row("OUT-1", 48, 1.0)])
    long_ago = T0 - timedelta(days=30)
    replay = [(*_row("OUT-2", 1, 7.0), long_ago), (*_row("OUT-1", 2, 8.0), long_ago)]
    assert _write(store, replay, source="journal") == (2, 0, 0)
    assert _marks(store) == {
        "OUT-1": (2, T0 + timedelta(hours=48)),  # the older replay leaves tmax alone
        "OUT-2": (1, T0 + timedelta(hours=1)),
    }


def test_a_failed_batch_leaves_no_mark(store: Store) -> None:
    """Marks are made in the writing transaction: a batch refused leaves neither readings
    nor a mark (an unknown site is refused before anything is written)."""
    _setup(store)
    try:
        _write(store, [_row("OUT-1", 0, 1.0), _row("NOT-REGISTERED", 0, 1.0)])
    except Exception as exc:  # StoreInputError: the contract's refusal
        assert "NOT-REGISTERED" in str(exc)
    else:  # pragma: no cover - the contract says unknown sites are refused
        raise AssertionError("an unknown site was accepted")
    assert _marks(store) == {}


def test_concurrent_writers_lose_no_mark(store: Store) -> None:
    """Two writers (two connections on PostgreSQL, two threads on one DuckDB store) marking
    the same sites at once: every write that changed readings raises each site's gen once
    (the upsert takes the row's lock; sites are marked in id order, so no deadlock)."""
    _setup(store)
    other: Store = store
    if isinstance(store, PostgresStore):
        other = PostgresStore(store.url)
    errors: list[BaseException] = []

    def writer(target: Store, first: int) -> None:
        try:
            for i in range(first, first + 2 * BATCHES, 2):  # disjoint hours per writer
                _write(target, [_row("OUT-2", i, 1.0), _row("OUT-1", i, 2.0)])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s, k)) for k, s in enumerate((store, other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if other is not store:
        other.close()
    assert errors == []
    newest = T0 + timedelta(hours=2 * BATCHES - 1)
    assert _marks(store) == {"OUT-1": (2 * BATCHES, newest), "OUT-2": (2 * BATCHES, newest)}


# -- the rules' reads by integer ids (obs; on PostgreSQL by the primary key's ends) ----------
NOX = "a21002"


def _series_rows() -> list[tuple]:
    """OUT-1: two parameters × two statistics of minute data over 2026-03-01 00:00-05:59
    (minutes 0-359), none in minutes 120-139 of NOx max (another series covers them), none at
    all in minutes 200-229 (a silence), an hourly cou of each parameter, and one reading a day
    later (after every ``end`` below); OUT-2: a single SO2 series, minutes 30-89, flag M."""
    rows = []
    for m in range(360):
        t = T0 + timedelta(minutes=m)
        if 200 <= m < 230:
            continue
        for par in (SO2, NOX):
            for stat in ("avg", "max"):
                if par == NOX and stat == "max" and 120 <= m < 140:
                    continue
                rows.append(("OUT-1", par, stat, "minute", t, 1.0, "N" if m % 7 else "D"))
    for hour in range(6):
        t = T0 + timedelta(hours=hour)
        rows += [
            ("OUT-1", SO2, "cou", "hour", t, 2.0, "N"),
            ("OUT-1", NOX, "cou", "hour", t, 3.0, None),
        ]
    rows.append(("OUT-1", SO2, "avg", "minute", T0 + timedelta(days=1), 1.0, "N"))
    rows += [
        ("OUT-2", SO2, "avg", "minute", T0 + timedelta(minutes=m), 5.0, "M") for m in range(30, 90)
    ]
    return rows


def _reads_store(store: Store) -> None:
    _setup(store)
    store.upsert_parameters([Parameter(NOX, "NOx (flue gas)", "mg/m³", NOX)])
    _write(store, _series_rows())


def _m(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def test_rule_data_span(store: Store) -> None:
    _reads_store(store)
    end = _m(300)  # OUT-1's data before it: minutes 0-299 less the silence
    got = store.rule_data_span(["OUT-1", "OUT-2", "UNKNOWN"], end)  # type: ignore[attr-defined]
    assert got == {"OUT-1": (_m(0), _m(299)), "OUT-2": (_m(30), _m(89))}
    assert store.rule_data_span(["OUT-2"], _m(30)) == {}  # type: ignore[attr-defined]
    assert store.rule_data_span([], end) == {}  # type: ignore[attr-defined]


def test_rule_gaps_count_from_the_last_time_before_the_window(store: Store) -> None:
    _reads_store(store)
    # window [minute 215, 300): the last data time before it is minute 199 (the silence
    # 200-229), then minute by minute; OUT-2 has nothing in the window (no step, no gap)
    got = store.rule_gaps(["OUT-1", "OUT-2"], _m(215), _m(300), 120)  # type: ignore[attr-defined]
    assert got == [("OUT-1", _m(199), _m(230))]
    # a window after all of OUT-2's data and a shorter minimum gap: OUT-1's only gap again
    got = store.rule_gaps(["OUT-2", "OUT-1"], _m(100), _m(300), 61)  # type: ignore[attr-defined]
    assert got == [("OUT-1", _m(199), _m(230))]  # NOx max's hole is covered by the others


def test_rule_flag_hours_and_cou_sums(store: Store) -> None:
    _reads_store(store)
    got = store.rule_flag_hours(["OUT-2", "OUT-1"], T0, _m(60))  # type: ignore[attr-defined]
    # hour 0 of OUT-1: minutes 0-59, 4 series; minute m is flagged D when m % 7 == 0 (0, 7,
    # …, 56: 9 minutes); the hourly cou rows (flags N and none = N) count too
    assert got == [
        ("OUT-1", T0, "D", 9 * 4),
        ("OUT-1", T0, "N", (60 - 9) * 4 + 2),
        ("OUT-2", T0, "M", 30),
    ]
    sums = store.rule_cou_sums(["OUT-1"], [SO2, NOX, "x99999"], T0, _m(240))  # type: ignore[attr-defined]
    assert sums == {("OUT-1", NOX): 12.0, ("OUT-1", SO2): 8.0}


def test_writes_reaching_back_more_than_a_day_are_noted_as_back_fills(store: Store) -> None:
    """Migration 0006: a write whose oldest reading is older than BACKFILL_AGE (1 day) before
    the write's clock notes (site, gen of its new mark, that oldest data time), one row per
    site keeping the oldest time; fresh data and resends note nothing. Data times are
    relative to the test's clock."""
    _setup(store)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

    def hour(site: str, back: int, value: float) -> tuple:
        return (site, SO2, "avg", "hour", now - timedelta(hours=back), value, "N")

    assert _write(store, [hour("OUT-1", 2, 1.0), hour("OUT-1", 1, 1.0)]) == (2, 0, 0)
    assert store.rule_backfills() == []  # type: ignore[attr-defined]
    # history uploaded after an outage: hours 30 and 29 back on OUT-1, 40 back on OUT-2
    old = [hour("OUT-1", 30, 2.0), hour("OUT-1", 29, 2.0), hour("OUT-2", 40, 3.0)]
    assert _write(store, old) == (3, 0, 0)
    got = {(b.site, b.gen, b.since) for b in store.rule_backfills()}  # type: ignore[attr-defined]
    assert got == {("OUT-1", 2, now - timedelta(hours=30)), ("OUT-2", 1, now - timedelta(hours=40))}
    assert _write(store, old) == (0, 3, 0)  # a resend of it: nothing more noted
    assert len(store.rule_backfills()) == 2  # type: ignore[attr-defined]
    # a newer back-fill on OUT-1: still one row per site, its new gen, the oldest time kept
    assert _write(store, [hour("OUT-1", 26, 4.0)]) == (1, 0, 0)
    got = {(b.site, b.gen, b.since) for b in store.rule_backfills()}  # type: ignore[attr-defined]
    assert got == {("OUT-1", 3, now - timedelta(hours=30)), ("OUT-2", 1, now - timedelta(hours=40))}
