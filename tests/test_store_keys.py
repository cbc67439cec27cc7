"""Integer keys of readings (migration 0004), on DuckDB and on PostgreSQL.

The migration from a version-3 store must keep every reading with its value, flag, times and
source (DESIGN §4: a reading is kept once and never lost); ids must be stable; unknown codes
are refused with nothing written; the write path on ids keeps DESIGN §4's idempotence (a
resend adds nothing) and audits corrections with the codes. Expected values are the rows
written by the tests themselves, never the store's own output.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from shanshui.store import (
    AIR_PARAMETERS,
    Parameter,
    Site,
    Store,
    StoreInputError,
    open_store,
)
from shanshui.store import sqlstore as sqlstore_module
from shanshui.store.sql import migrations

pytest_plugins = ["pg"]

T0 = datetime(2025, 3, 1, 16, tzinfo=UTC)  # 2025-03-02 00:00 Beijing time

SITES = [
    Site("1001A", "万寿西宫", "air"),
    Site("1003A", "东四", "air"),
    Site("OUT-1", "排口", "outlet"),
]
PARAMS = [*AIR_PARAMETERS, Parameter("a21026", "SO2 (flue gas)", "mg/m³", "a21026")]

# Rows of a version-3 ``observation`` table: every column, nulls where they are allowed, a
# non-ASCII-free mix of statistics and periods, and values that must survive bit for bit.
V3_ROWS: list[tuple[Any, ...]] = [
    ("1001A", "PM2.5", "avg", "hour", T0, 35.0, "N", T0 + timedelta(minutes=5), "import:a"),
    ("1001A", "PM2.5", "avg", "hour", T0 + timedelta(hours=1), 0.1 + 0.2, None, T0, None),
    ("1001A", "CO", "avg", "hour", T0, 1.234567890123, "D", T0, "dev:MN1"),
    ("1003A", "PM2.5", "avg", "hour", T0, -0.0, "M", T0, "dev:MN2"),
    ("1003A", "O3", "max", "day", T0, 1e300, None, T0, "x"),
    ("OUT-1", "a21026", "rtd", "rt", T0 + timedelta(seconds=30), 12.5, "N", T0, "dev:MN3"),
    ("OUT-1", "a21026", "zsavg", "minute", T0, 5e-324, "T", T0, None),
]
COLUMNS = ["site", "parameter", "statistic", "period", "time", "value", "flag", "received"]
COLUMNS += ["source"]


def _none(value: Any) -> Any:
    """A missing text (None or NaN, as pandas gives it) as None."""
    return None if pd.isna(value) else value


def _raw(store_url: str) -> tuple[Any, str]:
    """A plain DB-API connection to the store's database and its parameter marker."""
    if store_url.startswith("duckdb://"):
        import duckdb

        conn = duckdb.connect(store_url.removeprefix("duckdb://"))
        conn.execute("set TimeZone = 'UTC'")
        return conn, "?"
    import psycopg

    return psycopg.connect(store_url, autocommit=True), "%s"


def _v3_store(target: str | Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store migrated to version 3 only, with sites, parameters and ``V3_ROWS``; its URL."""
    with monkeypatch.context() as m:
        m.setattr(sqlstore_module, "migrations", lambda dialect: migrations(dialect)[:3])
        with open_store(target) as s:
            assert s.schema_version() == 3
            url = s.url
    conn, mark = _raw(url)
    try:
        cur = conn.cursor()
        # version 3 as its write path left it (that path is gone: insert as it stored)
        for x in SITES:
            cur.execute(
                f"insert into site (code, name, kind, updated) values ({mark}, {mark}, {mark}, "
                f"{mark})",
                (x.code, x.name, x.kind, T0),
            )
        for p in PARAMS:
            cur.execute(
                f"insert into parameter values ({mark}, {mark}, {mark}, {mark})",
                (p.code, p.name, p.unit, p.hj212),
            )
        marks = ", ".join([mark] * len(COLUMNS))
        for row in V3_ROWS:
            cur.execute(f"insert into observation values ({marks})", row)
        if url.startswith("duckdb://"):
            conn.commit()
    finally:
        conn.close()
    return url


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return tmp_path / "v3.duckdb"


def test_migration_0004_keeps_every_reading(
    target: str | Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _v3_store(target, monkeypatch)
    with open_store(url) as s:  # migrates 3 → 4
        assert s.schema_version() == migrations("duckdb")[-1].version >= 4
        got = s.observations([x.code for x in SITES]).sort_values(COLUMNS[:5])
        want = pd.DataFrame(V3_ROWS, columns=COLUMNS).sort_values(COLUMNS[:5])
        assert len(got) == len(V3_ROWS)
        for g, w in zip(got.itertuples(index=False), want.itertuples(index=False), strict=True):
            assert tuple(g)[:5] == tuple(w)[:5]
            assert repr(g.value) == repr(w.value)  # bit for bit: -0.0, 0.1 + 0.2, 5e-324
            assert (_none(g.flag), g.received, _none(g.source)) == (
                _none(w.flag),
                w.received,
                _none(w.source),
            )
        # every registered code got an id; the ids are distinct
        sites = s.site_ids([x.code for x in SITES])
        params = s.parameter_ids([p.code for p in PARAMS])
        assert len(set(sites.values())) == len(SITES)
        assert len(set(params.values())) == len(PARAMS)
        # the old key still holds: resending the migrated rows adds nothing, changes nothing
        again = s.write_observations(pd.DataFrame(V3_ROWS, columns=COLUMNS))
        assert (again.inserted, again.unchanged, again.corrected) == (0, len(V3_ROWS), 0)
    conn, _ = _raw(url)
    try:
        (n,) = conn.execute("select count(*) from obs").fetchone()
        tables = conn.execute(
            "select table_name, table_type from information_schema.tables "
            "where table_name in ('observation', 'obs')"
        ).fetchall()
    finally:
        conn.close()
    assert n == len(V3_ROWS)
    kinds = {name: kind for name, kind in tables}
    assert kinds["obs"] == "BASE TABLE" and kinds["observation"] == "VIEW"


def test_ids_are_stable_across_reopen(target: str | Path) -> None:
    with open_store(target) as s:
        s.upsert_sites(SITES[:2])
        s.upsert_parameters(AIR_PARAMETERS)
        first = s.site_ids(["1001A", "1003A"])
        params = s.parameter_ids([p.code for p in AIR_PARAMETERS])
        url = s.url
        s.upsert_sites(SITES)  # registering again keeps the ids
        assert s.site_ids(["1001A", "1003A"]) == first
    with open_store(url) as s:  # a new process: nothing cached
        assert s.site_ids(["1003A", "1001A"]) == {"1003A": first["1003A"], "1001A": first["1001A"]}
        assert s.parameter_ids([p.code for p in AIR_PARAMETERS]) == params
        out = s.site_ids(["OUT-1"])["OUT-1"]
        assert out not in first.values()


def test_unknown_codes_are_refused_and_nothing_is_written(store: Store) -> None:
    store.upsert_sites(SITES[:1])
    store.upsert_parameters(AIR_PARAMETERS)
    with pytest.raises(StoreInputError, match="unknown sites"):
        store.site_ids(["1001A", "9999Z"])
    with pytest.raises(StoreInputError, match="unknown parameters"):
        store.parameter_ids(["PM2.5", "Unobtainium"])
    with pytest.raises(StoreInputError):
        store.site_ids("1001A")  # a string is not a sequence of codes here
    rows = [
        ("1001A", "PM2.5", "avg", "hour", T0, 1.0),
        ("1001A", "Unobtainium", "avg", "hour", T0, 2.0),
    ]
    with pytest.raises(StoreInputError):
        store.write_observations(rows)
    with pytest.raises(StoreInputError):
        store.write_observations([("9999Z", "PM2.5", "avg", "hour", T0, 1.0), rows[0]])
    assert store.observations("1001A").empty
    assert store.recompute_daily() == 0  # no natural day was marked either
    # a code registered after a refusal is accepted at once (the cache fetches new codes)
    store.upsert_sites([Site("9999Z", "新站", "air")])
    assert store.write_observations([("9999Z", "PM2.5", "avg", "hour", T0, 1.0)]).inserted == 1


def test_resend_adds_nothing_and_correction_is_audited(store: Store) -> None:
    """DESIGN §4: the same reading twice is stored once; a later correction replaces it and
    is recorded in the audit log with the site and parameter codes."""
    store.upsert_sites(SITES)
    store.upsert_parameters(PARAMS)
    rows = [
        (site, par, "avg", "hour", T0 + timedelta(hours=h), float(h), "N")
        for site in ("1001A", "1003A")
        for par in ("PM2.5", "NO2")
        for h in range(3)
    ]
    assert store.write_observations(rows, source="a").inserted == 12
    again = store.write_observations(rows, source="b")
    assert (again.inserted, again.unchanged, again.corrected) == (0, 12, 0)
    fixed = [("1003A", "NO2", "avg", "hour", T0 + timedelta(hours=2), 9.5, "N")]
    result = store.write_observations(rows[:3] + fixed, source="c", actor="ops")
    assert (result.inserted, result.unchanged, result.corrected) == (0, 3, 1)
    conn, _ = _raw(store.url) if store.url.startswith("postgres") else (None, "")
    if conn is not None:
        try:
            (n,) = conn.execute("select count(*) from obs").fetchone()
        finally:
            conn.close()
        assert n == 12
    got = store.observations("1003A", "NO2")
    assert got["value"].tolist() == [0.0, 1.0, 9.5]
    assert got["source"].tolist() == ["a", "a", "c"]
    (entry,) = store.audit_log(entity="observation")
    assert entry.site == "1003A" and entry.actor == "ops" and entry.action == "correct"
    assert entry.key == f"NO2/avg/hour/{(T0 + timedelta(hours=2)).isoformat()}"
    assert entry.old_value == {"value": 2.0, "flag": "N"}
    assert entry.new_value == {"value": 9.5, "flag": "N"}
    assert len(store.observations(["1001A", "1003A"])) == 12


@pytest.mark.postgres
def test_concurrent_registration_gives_one_id_per_code(pg_url: str) -> None:
    """Gateways registering the same new sites at once agree on their ids (no collision)."""
    with open_store(pg_url) as first:
        first.upsert_parameters(AIR_PARAMETERS)
    stores = [open_store(pg_url) for _ in range(4)]
    sites = [Site(f"S{i:03d}", f"站{i}", "air") for i in range(50)]
    errors: list[BaseException] = []

    def work(s: Store, k: int) -> None:
        try:
            s.upsert_sites(sites[k * 12 :] + sites[: k * 12])  # each in its own order
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, i)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        codes = [s.code for s in sites]
        seen = [s.site_ids(codes) for s in stores]
        assert all(ids == seen[0] for ids in seen)
        assert len(set(seen[0].values())) == len(sites)
    finally:
        for s in stores:
            s.close()


def test_readers_order_by_code_not_by_id(store: Store) -> None:
    """The readers on obs (integer ids) keep their order by code: sites registered in the
    reverse of code order get ids in the reverse order, and must still come out by code."""
    from shanshui.store.reading import read_long

    store.upsert_sites([Site("1003A", "东四", "air")])
    store.upsert_sites([Site("1001A", "万寿西宫", "air")])
    store.upsert_parameters([Parameter("SO2", "SO2", "µg/m³")])
    store.upsert_parameters([Parameter("NO2", "NO2", "µg/m³")])
    ids = store.site_ids(["1001A", "1003A"])
    assert ids["1003A"] < ids["1001A"]  # registered first
    rows = [
        (site, par, "avg", "hour", T0 + timedelta(hours=h), float(10 * k + h), "N")
        for k, (site, par) in enumerate(
            [("1003A", "SO2"), ("1003A", "NO2"), ("1001A", "SO2"), ("1001A", "NO2")]
        )
        for h in (1, 0)
    ]
    store.write_observations(rows)
    got = read_long(store, ["1003A", "1001A"], parameters=["SO2", "NO2"])
    keys = list(zip(got["site"], got["parameter"], got["value"], strict=True))
    assert keys == [
        ("1001A", "NO2", 30.0), ("1001A", "NO2", 31.0), ("1001A", "SO2", 20.0),
        ("1001A", "SO2", 21.0), ("1003A", "NO2", 10.0), ("1003A", "NO2", 11.0),
        ("1003A", "SO2", 0.0), ("1003A", "SO2", 1.0),
    ]  # fmt: skip
    assert got["flag"].tolist() == ["N"] * 8
    latest = store.latest()
    assert list(zip(latest["site"], latest["parameter"], latest["value"], strict=True)) == [
        ("1001A", "NO2", 31.0),
        ("1001A", "SO2", 21.0),
        ("1003A", "NO2", 11.0),
        ("1003A", "SO2", 1.0),
    ]  # fmt: skip  (the newest hour, h = 1, of each key)
    assert read_long(store, ["1001A"], parameters=["CO"]).empty


def test_dictionary_encoded_codes_are_taken_as_they_come(store: Store) -> None:
    """An importer's Arrow table may keep site and parameter dictionary-encoded, with
    dictionary entries no row uses (rows of unknown sites filtered out): only the codes the
    rows use are looked up, and the readings are stored by their codes."""
    store.upsert_sites(SITES[:2])
    store.upsert_parameters(AIR_PARAMETERS)
    n = 4
    site = pa.DictionaryArray.from_arrays(
        pa.array([2, 0, 2, 0], pa.int32()), pa.array(["1003A", "NOT-REGISTERED", "1001A"])
    )
    parameter = pa.DictionaryArray.from_arrays(
        pa.array([0, 0, 1, 1], pa.int8()), pa.array(["PM2.5", "CO", "Unobtainium"])
    )
    table = pa.table(
        {
            "site": site,
            "parameter": parameter,
            "statistic": pa.array(["avg"] * n),
            "period": pa.array(["hour"] * n),
            "time": pa.array([T0] * n, pa.timestamp("us", tz="UTC")),
            "value": pa.array([1.0, 2.0, 3.0, 4.0]),
            "flag": pa.array(["N"] * n),
            "received": pa.nulls(n, pa.timestamp("us", tz="UTC")),
            "source": pa.nulls(n, pa.string()),
        }
    )
    assert store.write_observations(table, source="dict").inserted == 4
    got = store.observations(["1001A", "1003A"])
    assert list(zip(got["site"], got["parameter"], got["value"], strict=True)) == [
        ("1001A", "CO", 3.0), ("1001A", "PM2.5", 1.0), ("1003A", "CO", 4.0),
        ("1003A", "PM2.5", 2.0),
    ]  # fmt: skip
    bad = table.set_column(0, "site", pa.DictionaryArray.from_arrays(
        pa.array([1, 0, 1, 0], pa.int32()), site.dictionary))  # fmt: skip
    with pytest.raises(StoreInputError, match="NOT-REGISTERED"):
        store.write_observations(bad)
    assert len(store.observations(["1001A", "1003A"])) == 4


def test_natural_days_follow_each_sites_zone() -> None:
    """DESIGN §4: an hourly mean enters the daily mean of its site's natural day (local
    00:00–24:00, by the start label of its hour); expected days from zoneinfo, by hand."""
    from zoneinfo import ZoneInfo

    from shanshui.store.batch import natural_days

    zones = {1: "Asia/Shanghai", 2: "America/New_York", 3: "Asia/Shanghai"}
    # 2025-03-09 06:30 UTC: New York has just left EST (UTC-5) for EDT (UTC-4) at 07:00 UTC
    times = [
        datetime(2025, 3, 8, 15, tzinfo=UTC),  # Shanghai 23:00 on the 8th
        datetime(2025, 3, 8, 16, tzinfo=UTC),  # Shanghai 00:00 on the 9th
        datetime(2025, 3, 9, 4, tzinfo=UTC),  # New York 23:00 EST on the 8th
        datetime(2025, 3, 9, 5, tzinfo=UTC),  # New York 00:00 EST on the 9th
        datetime(2025, 3, 10, 3, tzinfo=UTC),  # New York 23:00 EDT on the 9th
        datetime(2025, 3, 10, 4, tzinfo=UTC),  # New York 00:00 EDT on the 10th
    ]
    rows = [(s, t, "avg", "hour") for s in (1, 2, 3) for t in times]
    rows += [(3, datetime(2031, 1, 1, tzinfo=UTC), "avg", "day")]  # not an hourly mean
    site = pa.array([r[0] for r in rows], pa.int32())
    time = pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC"))
    stat = pa.array([r[2] for r in rows])
    period = pa.array([r[3] for r in rows])
    got = natural_days(site, stat, period, time, zones)
    want = sorted(
        {(s, t.astimezone(ZoneInfo(zones[s])).date()) for s, t, _, p in rows if p == "hour"}
    )
    assert sorted(zip(got["site_id"].to_pylist(), got["day"].to_pylist(), strict=True)) == want
    assert len(want) == 3 * 2 + 3  # Shanghai: the 8th and 9th; New York: 8th, 9th, 10th


def test_last_row_of_a_key_wins_in_any_order(store: Store) -> None:
    """Store contract: within one batch the last row of a key wins, whatever the order of
    the rows (here neither code nor id order) and of the ids."""
    store.upsert_sites([SITES[1]])
    store.upsert_sites([SITES[0]])  # ids opposite to code order
    store.upsert_parameters(AIR_PARAMETERS)
    t1 = T0 + timedelta(hours=1)
    rows = [
        ("1001A", "SO2", "avg", "hour", t1, 1.0),
        ("1003A", "SO2", "avg", "hour", T0, 2.0),
        ("1001A", "NO2", "avg", "hour", T0, 3.0),
        ("1001A", "SO2", "avg", "hour", T0, 4.0),
        ("1003A", "SO2", "avg", "hour", t1, 5.0),
    ]
    result = store.write_observations(rows)
    assert (result.inserted, result.superseded) == (5, 0)
    again = [rows[1], rows[3], ("1003A", "SO2", "avg", "hour", T0, 6.0), rows[0]]
    again += [("1001A", "SO2", "avg", "hour", T0, 7.0)]
    result = store.write_observations(again)
    assert (result.inserted, result.unchanged, result.corrected, result.superseded) == (0, 1, 2, 2)
    got = store.observations(["1001A", "1003A"], "SO2")
    assert got["value"].tolist() == [7.0, 1.0, 6.0, 5.0]
