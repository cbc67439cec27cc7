"""Contract tests of ``shanshui.store``: the same tests on DuckDB and on PostgreSQL.

PostgreSQL runs in a throwaway cluster on loopback (``tests/pg.py``), one fresh database per
test. Expected values come from the standards named at each test (GB 3095-2012 Table 4 for
daily validity, HJ 212-2017 data flags) and from hand-computed sums, never from the store.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from shanshui.errors import CallerError
from shanshui.store import (
    AIR_PARAMETERS,
    Device,
    Observation,
    Parameter,
    Region,
    Site,
    Store,
    StoreError,
    StoreInputError,
    hash_password,
    open_store,
    verify_password,
)
from shanshui.store.sql import migrations

pytest_plugins = ["pg"]

BJ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2025, 1, 1, tzinfo=BJ)  # local midnight: start of the natural day 2025-01-01
FAST = {"n": 2**10}  # cheap scrypt for tests; the format stores the cost


@pytest.fixture
def air(store: Store) -> Store:
    """A store with the air parameters and three Beijing stations."""
    store.upsert_regions([Region("110000", "北京市", "municipality", None, "Beijing")])
    store.upsert_parameters(AIR_PARAMETERS)
    store.upsert_sites(
        [
            Site("1001A", "万寿西宫", "air", "110000", 116.3621, 39.8784),
            Site("1002A", "定陵", "air", "110000", 116.2202, 40.2915, role="reference"),
            Site("1003A", "东四", "air", "110000", 116.4174, 39.9289),
        ]
    )
    return store


def hourly(site: str, parameter: str, values: list[float], start: datetime = T0) -> pd.DataFrame:
    """Hourly means labelled by the start of their hour (DESIGN §4)."""
    return pd.DataFrame(
        {
            "site": site,
            "parameter": parameter,
            "statistic": "avg",
            "period": "hour",
            "time": [start + timedelta(hours=i) for i in range(len(values))],
            "value": values,
            "flag": "N",
        }
    )


def count(store: Store, site: str = "1001A") -> int:
    return len(store.observations(site))


# -- schema -----------------------------------------------------------------------------------
def test_migrations_are_idempotent(store: Store) -> None:
    newest = migrations("duckdb")[-1].version
    assert migrations("postgres")[-1].version == newest  # the two schemas move together
    assert store.schema_version() == newest
    assert store.migrate() == []
    assert store.migrate() == []
    store.upsert_parameters(AIR_PARAMETERS)
    again = open_store(store.url) if store.url.startswith("postgres") else None
    if again is not None:  # a second process migrating the same database changes nothing
        with again:
            assert again.migrate() == []
            assert [p.code for p in again.parameters()] == sorted(p.code for p in AIR_PARAMETERS)


def test_reopen_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "a.duckdb"
    with open_store(f"duckdb://{path}") as s:
        s.upsert_parameters(AIR_PARAMETERS)
        s.upsert_sites([Site("1001A", "万寿西宫", "air")])
        s.write_observations(hourly("1001A", "PM2.5", [35.0]))
    with open_store(path) as s:
        assert s.migrate() == []
        assert count(s) == 1


# -- reference data and devices ---------------------------------------------------------------
def test_sites_regions_parameters(air: Store) -> None:
    assert [r.code for r in air.regions()] == ["110000"]
    assert air.regions()[0].name_en == "Beijing"
    sites = {s.code: s for s in air.sites()}
    assert set(sites) == {"1001A", "1002A", "1003A"}
    assert sites["1002A"].role == "reference"
    assert sites["1001A"].lon == 116.3621 and sites["1001A"].tz == "Asia/Shanghai"
    outlet = Site("OUT-1", "某电厂 1 号排口", "outlet", lat=39.0, lon=117.0,
                  attributes={"permit": "91110000X", "stack_m": 120})  # fmt: skip
    air.upsert_sites([outlet, Site("1003A", "东四（新）", "air", "110000")])
    sites = {s.code: s for s in air.sites()}
    assert sites["1003A"].name == "东四（新）"  # replaced, not duplicated
    assert sites["OUT-1"].attributes == {"permit": "91110000X", "stack_m": 120}
    assert [s.code for s in air.sites(kind="outlet")] == ["OUT-1"]
    assert len(air.sites(region="110000")) == 3
    units = {p.code: p.unit for p in air.parameters()}
    assert units["CO"] == "mg/m³" and units["PM2.5"] == "µg/m³"  # GB 3095-2012 Table 1
    # a guess for a code first seen (a gateway's writer, an import) fills a gap only: a
    # definition made elsewhere keeps its name and unit (DESIGN §4: the unit travels with
    # the parameter), a new code is defined (review 16a, finding 5)
    air.upsert_parameters(
        [Parameter("CO", "CO", "unknown"), Parameter("VOC1", "VOC1", "unknown")], replace=False
    )
    defined = {p.code: (p.name, p.unit) for p in air.parameters()}
    assert defined["CO"] == ("CO", "mg/m³")  # as seeded (GB 3095-2012 Table 1)
    assert defined["VOC1"] == ("VOC1", "unknown")
    with pytest.raises(StoreInputError):
        air.upsert_sites([Site("X", "x", "volcano")])
    with pytest.raises(StoreInputError):
        air.upsert_sites([Site("X", "x", "air", tz="Mars/Olympus")])


def test_devices(air: Store) -> None:
    seen = datetime(2025, 1, 1, 8, tzinfo=UTC)
    pw = hash_password("123456", **FAST)
    air.upsert_devices([Device("MN001", "active", pw, "2017", "1001A")], actor="operator")
    dev = air.device("MN001")
    assert dev is not None and dev.site == "1001A" and dev.status == "active"
    assert dev.password_hash is not None and verify_password("123456", dev.password_hash)
    assert not verify_password("654321", dev.password_hash)
    assert air.device("nope") is None

    # unknown MN: listed as pending with its peer; a registered MN keeps its status
    air.note_unknown_device("MN999", peer="10.0.0.9:5000", seen=seen, protocol="2017")
    air.note_unknown_device("MN999", peer="10.0.0.9:5001", seen=seen + timedelta(minutes=1))
    air.note_unknown_device("MN001", peer="10.0.0.1:1", seen=seen)
    pending = air.pending_devices()
    assert [d.mn for d in pending] == ["MN999"]
    assert pending[0].last_peer == "10.0.0.9:5001" and pending[0].protocol == "2017"
    assert pending[0].last_seen == seen + timedelta(minutes=1)
    assert air.device("MN001").status == "active"  # type: ignore[union-attr]

    air.count_refused_login("MN001", peer="10.6.6.6:1")
    air.count_refused_login("MN001", peer="10.6.6.6:2", n=2)
    air.touch_devices({"MN001": (seen, "10.0.0.1:2")})
    air.touch_devices({"MN001": (seen - timedelta(hours=1), "old")})  # older: ignored
    dev = air.device("MN001")
    assert dev is not None and dev.refused_logins == 3
    assert dev.last_seen == seen and dev.last_peer == "10.0.0.1:2" and dev.first_seen == seen

    # approve the pending device: audited, counts and sightings kept
    air.upsert_devices(
        [Device("MN999", "active", pw, "2017", "1003A")], actor="operator", reason="approved"
    )
    air.set_device_status("MN001", "disabled", actor="operator", reason="stolen")
    assert air.pending_devices() == []
    assert air.device("MN999").last_seen == seen + timedelta(minutes=1)  # type: ignore[union-attr]
    assert [d.mn for d in air.devices(status="disabled")] == ["MN001"]
    log = [e for e in air.audit_log(entity="device")]
    assert [(e.key, e.action) for e in log] == [
        ("MN001", "upsert"), ("MN999", "upsert"), ("MN001", "status")
    ]  # fmt: skip
    assert log[1].old_value["status"] == "pending" and log[1].new_value["status"] == "active"
    assert log[2].reason == "stolen" and log[2].new_value == {"status": "disabled"}
    assert "password" not in str(log[0].new_value).replace("password_set", "")
    with pytest.raises(StoreInputError):
        air.set_device_status("nobody", "active", actor="operator", reason="x")
    with pytest.raises(StoreInputError):
        air.devices(status="sleeping")


def test_passwords() -> None:
    stored = hash_password("secret")  # default cost
    assert stored.startswith("scrypt$16384$8$1$")
    assert verify_password("secret", stored)
    assert not verify_password("Secret", stored)
    assert hash_password("secret", **FAST) != hash_password("secret", **FAST)  # salted
    assert not verify_password("secret", "plain-text")
    assert not verify_password("secret", "scrypt$x$8$1$AA==$AA==")


# -- writes -----------------------------------------------------------------------------------
def test_same_reading_twice_is_stored_once(air: Store) -> None:
    batch = hourly("1001A", "PM2.5", [35.0, 40.5, 12.25])
    r1 = air.write_observations(batch, source="test")
    r2 = air.write_observations(batch, source="test")
    assert (r1.inserted, r1.unchanged, r1.corrected) == (3, 0, 0)
    assert (r2.inserted, r2.unchanged, r2.corrected) == (0, 3, 0)
    got = air.observations("1001A", "PM2.5")
    assert got["value"].tolist() == [35.0, 40.5, 12.25]
    assert got["time"].tolist() == [pd.Timestamp(t).tz_convert("UTC") for t in batch["time"]]
    assert str(got["time"].dt.tz) == "UTC"
    assert set(got["source"]) == {"test"}
    assert air.audit_log(entity="observation") == []


def test_correction_replaces_and_is_audited(air: Store) -> None:
    air.write_observations(hourly("1001A", "PM2.5", [35.0, 40.0]), source="dev:MN1")
    fix = hourly("1001A", "PM2.5", [35.0, 44.0])
    fix.loc[0, "flag"] = "M"  # same value, new flag (maintenance): also a correction
    result = air.write_observations(fix, source="dev:MN1")
    assert (result.inserted, result.unchanged, result.corrected) == (0, 0, 2)
    got = air.observations("1001A", "PM2.5")
    assert got["value"].tolist() == [35.0, 44.0]
    assert got["flag"].tolist() == ["M", "N"]
    log = air.audit_log(site="1001A", entity="observation")
    assert len(log) == 2
    by_key = {e.key: e for e in log}
    second = by_key[f"PM2.5/avg/hour/{(T0 + timedelta(hours=1)).astimezone(UTC).isoformat()}"]
    assert second.old_value == {"value": 40.0, "flag": "N"}
    assert second.new_value == {"value": 44.0, "flag": "N"}
    assert second.actor == "dev:MN1" and second.action == "correct"
    assert air.audit_log(site="1003A") == []


def test_last_row_of_a_key_wins_within_a_batch(air: Store) -> None:
    rows = [
        Observation("1001A", "SO2", "avg", "hour", T0, 5.0, "N"),
        Observation("1001A", "SO2", "avg", "hour", T0, 6.0, "N"),
        Observation("1001A", "SO2", "rtd", "rt", T0, 7.0),
    ]
    result = air.write_observations(rows)
    assert (result.inserted, result.superseded) == (2, 1)
    got = air.observations("1001A", "SO2", statistic="avg")
    assert got["value"].tolist() == [6.0]


def test_batch_forms_agree(air: Store) -> None:
    frame = hourly("1001A", "NO2", [1.5, 2.5])
    as_tuples = [tuple(r) for r in frame.itertuples(index=False)]
    assert air.write_observations(pa.Table.from_pandas(frame)).inserted == 2
    assert air.write_observations(as_tuples).unchanged == 2
    assert air.write_observations(frame).unchanged == 2


def test_bulk_write_of_100k_rows(air: Store) -> None:
    n_hours = 100_000 // 6
    times = pd.date_range("2020-01-01", periods=n_hours, freq="h", tz="Asia/Shanghai")
    rng = np.random.default_rng(212)
    frames = []
    for p in AIR_PARAMETERS:
        frames.append(
            pd.DataFrame(
                {
                    "site": "1003A",
                    "parameter": p.code,
                    "statistic": "avg",
                    "period": "hour",
                    "time": times,
                    "value": rng.gamma(2.0, 20.0, n_hours).round(1),
                    "flag": "N",
                }
            )
        )
    big = pd.concat(frames, ignore_index=True)
    result = air.write_observations(big, source="bulk")
    assert result.inserted == len(big) == 6 * n_hours
    again = air.write_observations(big, source="bulk")
    assert again.unchanged == len(big) and again.inserted == 0
    got = air.observations("1003A", "PM10")
    expected = big[big["parameter"] == "PM10"]
    assert len(got) == n_hours
    np.testing.assert_array_equal(got["value"].to_numpy(), expected["value"].to_numpy())
    assert got["time"].iloc[-1] == times[-1]
    window = air.observations(
        "1003A", ["PM10", "CO"], start=times[10].to_pydatetime(), end=times[20].to_pydatetime()
    )
    assert len(window) == 20  # 10 hours × 2 parameters, end excluded


def test_latest_value_per_site_and_parameter(air: Store) -> None:
    air.write_observations(hourly("1001A", "PM2.5", [10.0, 20.0, 30.0]))
    air.write_observations(hourly("1001A", "CO", [0.4, 0.5]))
    air.write_observations(hourly("1003A", "PM2.5", [7.0], start=T0 + timedelta(days=1)))
    rt = Observation("1001A", "PM2.5", "rtd", "rt", T0 + timedelta(days=9), 99.0)
    air.write_observations([rt])  # another statistic: not an hourly mean
    latest = air.latest().set_index(["site", "parameter"])
    assert latest.loc[("1001A", "PM2.5"), "value"] == 30.0
    assert latest.loc[("1001A", "PM2.5"), "time"] == T0 + timedelta(hours=2)
    assert latest.loc[("1001A", "CO"), "value"] == 0.5
    assert latest.loc[("1003A", "PM2.5"), "value"] == 7.0
    assert len(latest) == 3
    only = air.latest("1001A", "CO")
    assert only["value"].tolist() == [0.5]
    assert air.latest(statistic="rtd", period="rt")["value"].tolist() == [99.0]


# -- daily aggregates -------------------------------------------------------------------------
def test_daily_means_counts_and_validity(air: Store) -> None:
    # GB 3095-2012 Table 4: a 24-hour mean needs at least 20 hourly means in the natural day.
    # 1001A: 24 hours, 4 of them flagged D (fault) → 20 valid → valid.
    values = [float(v) for v in range(1, 25)]
    a = hourly("1001A", "PM2.5", values)
    a.loc[[0, 5, 10, 15], "flag"] = "D"
    # 1003A: 19 normal hours only → not valid (19 < 20), still counted and averaged
    b = hourly("1003A", "PM2.5", values[:19])
    # the next local day's first hour (00:00+08 = 16:00 UTC of the 1st) must not count
    c = hourly("1001A", "PM2.5", [999.0], start=T0 + timedelta(days=1))
    air.write_observations(pd.concat([a, b, c], ignore_index=True))
    assert air.recompute_daily([("1001A", date(2025, 1, 1)), ("1003A", date(2025, 1, 1))]) == 2
    d = air.daily(["1001A", "1003A"], "PM2.5").set_index("site")
    valid_a = [v for i, v in enumerate(values) if i not in {0, 5, 10, 15}]
    assert d.loc["1001A", "value"] == pytest.approx(sum(valid_a) / 20)
    assert d.loc["1001A", "min"] == 2.0 and d.loc["1001A", "max"] == 24.0
    assert (d.loc["1001A", "expected"], d.loc["1001A", "observed"]) == (24, 24)
    assert d.loc["1001A", "valid_count"] == 20 and bool(d.loc["1001A", "valid"])
    assert d.loc["1003A", "value"] == pytest.approx(sum(values[:19]) / 19)
    assert d.loc["1003A", "valid_count"] == 19 and not bool(d.loc["1003A", "valid"])
    assert d.loc["1003A", "day"] == date(2025, 1, 1)


def test_late_data_updates_the_daily_aggregate(air: Store) -> None:
    air.write_observations(hourly("1001A", "NO2", [30.0] * 19))
    assert air.recompute_daily() == 1  # the write marked (1001A, 2025-01-01)
    assert air.recompute_daily() == 0  # and the mark is gone
    first = air.daily("1001A", "NO2")
    assert first["valid_count"].tolist() == [19] and not first["valid"].iloc[0]
    late = hourly("1001A", "NO2", [50.0], start=T0 + timedelta(hours=23))
    air.write_observations(late)
    assert air.recompute_daily() == 1
    after = air.daily("1001A", "NO2")
    assert after["valid_count"].tolist() == [20] and bool(after["valid"].iloc[0])
    assert after["value"].iloc[0] == pytest.approx((19 * 30.0 + 50.0) / 20)
    # a correction of an hour marks the day again
    air.write_observations(hourly("1001A", "NO2", [10.0], start=T0))
    assert air.recompute_daily() == 1
    assert air.daily("1001A", "NO2")["value"].iloc[0] == pytest.approx((18 * 30 + 10 + 50) / 20)
    assert len(air.daily("1001A", start=date(2025, 1, 2))) == 0


# -- bad input --------------------------------------------------------------------------------
def _bad_batches() -> dict[str, object]:
    good = hourly("1001A", "PM2.5", [1.0, 2.0])
    out: dict[str, object] = {}
    out["unknown site"] = pd.concat([good, hourly("9999Z", "PM2.5", [1.0])])
    out["unknown parameter"] = pd.concat([good, hourly("1001A", "Unobtainium", [1.0])])
    out["NaN value"] = pd.concat([good, hourly("1001A", "CO", [math.nan])])
    out["infinite value"] = pd.concat([good, hourly("1001A", "CO", [math.inf])])
    text = good.astype({"value": object})
    text.loc[1, "value"] = "2.0"
    out["text value"] = text
    naive = good.copy()
    naive["time"] = naive["time"].dt.tz_localize(None)
    out["naive time"] = naive
    stat = good.copy()
    stat.loc[1, "statistic"] = "median"
    out["unknown statistic"] = stat
    per = good.copy()
    per.loc[1, "period"] = "fortnight"
    out["unknown period"] = per
    site_int = good.astype({"site": object})
    site_int.loc[1, "site"] = 1001
    out["site not text"] = site_int
    out["missing column"] = good.drop(columns=["period"])
    out["short tuple"] = [("1001A", "PM2.5", "avg", "hour", T0)]
    out["not a batch"] = "1001A,PM2.5"
    return out


@pytest.mark.parametrize("case", list(_bad_batches()))
def test_bad_input_changes_nothing(air: Store, case: str) -> None:
    air.write_observations(hourly("1001A", "PM2.5", [5.0, 6.0]))
    before = air.observations("1001A")
    with pytest.raises(StoreInputError) as err:
        air.write_observations(_bad_batches()[case])  # type: ignore[arg-type]
    assert isinstance(err.value, CallerError)
    pd.testing.assert_frame_equal(air.observations("1001A"), before)
    assert air.audit_log() == []
    assert air.recompute_daily() == 1  # only the good write's mark


def test_bad_arguments(air: Store) -> None:
    with pytest.raises(StoreInputError):
        air.observations("1001A", start=datetime(2025, 1, 1))  # naive
    with pytest.raises(StoreInputError):
        air.record_audit(actor="a", action="b", entity="c", key="d", new={1, 2})
    air.record_audit(actor="ops", action="note", entity="site", key="1001A", site="1001A",
                     new={"text": "探头更换"}, reason="maintenance")  # fmt: skip
    (entry,) = air.audit_log(site="1001A")
    assert entry.new_value == {"text": "探头更换"} and entry.reason == "maintenance"


def test_closed_store_refuses(tmp_path: Path) -> None:
    s = open_store(tmp_path / "c.duckdb")
    s.close()
    s.close()  # twice is fine
    # StoreError, not StoreInputError: the journal writer dead-letters records the store
    # refuses as bad input, and a store closed under it must not make it drop good readings.
    with pytest.raises(StoreError) as raised:
        s.parameters()
    assert not isinstance(raised.value, StoreInputError)


def test_open_store_targets(tmp_path: Path) -> None:
    with open_store(":memory:") as s:
        assert s.url == "duckdb://:memory:"
    with open_store(f"duckdb://{tmp_path}/x/y.duckdb") as s:
        assert s.schema_version() >= 1
        assert s.url == f"duckdb://{tmp_path}/x/y.duckdb"  # absolute: duckdb:///…
        s.upsert_parameters(AIR_PARAMETERS)
    with open_store(s.url) as again:
        assert len(again.parameters()) == len(AIR_PARAMETERS)
    assert (tmp_path / "x" / "y.duckdb").exists()
    with pytest.raises(StoreInputError):
        open_store("duckdb://")


@pytest.mark.postgres
def test_postgres_reconnects_after_losing_its_connection(pg_url: str) -> None:
    import psycopg

    with open_store(pg_url) as s:
        s.upsert_parameters([Parameter("PM2.5", "PM2.5", "µg/m³")])
        s.upsert_sites([Site("1001A", "万寿西宫", "air")])
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = current_database() and pid <> pg_backend_pid()"
            )
        with pytest.raises(StoreError):
            s.write_observations(hourly("1001A", "PM2.5", [1.0]))
        assert s.write_observations(hourly("1001A", "PM2.5", [1.0])).inserted == 1
        assert count(s) == 1


def test_concurrent_writers_store_each_reading_once(air: Store) -> None:
    """Writers in parallel threads (on PostgreSQL each with its own connection, like gateway
    processes) sending overlapping batches in different orders: every key stored once."""
    import random
    import threading

    keys = hourly("1001A", "O3", [float(i) for i in range(48)])
    keys = pd.concat([keys, keys.assign(site="1003A"), keys.assign(parameter="NO2")])
    postgres = air.url.startswith("postgres")
    stores = [open_store(air.url) if postgres else air for _ in range(4)]
    results: list[int] = []
    errors: list[BaseException] = []

    def work(s: Store, seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(5):
                part = keys.sample(frac=0.7, random_state=rng.randrange(1 << 30))
                results.append(s.write_observations(part).inserted)
            results.append(s.write_observations(keys).inserted)  # all keys, at the end
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, i)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if postgres:
        for s in stores:
            s.close()
    assert errors == []
    stored = air.observations(["1001A", "1003A"])
    assert len(stored) == len(keys) == sum(results)
    assert not stored.duplicated(["site", "parameter", "statistic", "period", "time"]).any()


def test_wrong_types_in_reference_data(air: Store) -> None:
    with pytest.raises(StoreInputError):
        air.upsert_sites([Site("X1", "x", "air", lon="east")])  # type: ignore[arg-type]
    with pytest.raises(StoreInputError):
        air.upsert_parameters([Parameter(42, "x", "mg/L")])  # type: ignore[arg-type]
    with pytest.raises(StoreInputError):
        air.upsert_regions([Region("110000", "北京市", "galaxy")])
    with pytest.raises(StoreInputError):
        air.upsert_sites([Site("X2", "x", "air", attributes={"opened": date(2020, 1, 1)})])
    assert {s.code for s in air.sites()} == {"1001A", "1002A", "1003A"}
    assert "42" not in {p.code for p in air.parameters()}
