"""Write path throughput: rows/s of ``Store.write_observations`` against a floor, same run.

Usage: ``python bench/store_write.py [--rows 2000000] [--pg-rows 400000] [--no-postgres]``

What is measured (issue 4: the gateway's writer and the importers both end here):

* **station**: hourly-station-like batches, 1,000 rows each (100 sites × 10 parameters, one
  hour per batch), as the gateway's writer sends them; ``--rows`` rows in all.
* **import**: import-like batches, 100,000 rows each (one site, 10 parameters, 10,000 hours),
  as the PRSA/CNEMC importers send them; ``--rows`` rows in all.
* **resend**: the last 10 % of each workload's batches written again (nothing new: every
  reading is checked and found unchanged, DESIGN §4).

Each workload runs on a fresh store file. Batches are Arrow tables in the store's staged
types (what ``ingest.writer`` and ``ingest.importers`` pass). The **floor** is the same rows in
the same batches, already keyed, appended by the database's own bulk path with one commit per
batch: DuckDB ``insert into <table> select * from <arrow>``; PostgreSQL ``COPY`` into the
table. ``ratio`` = write_observations time / floor time (1.0 = no cost above appending).

Works on any schema version: on a store without ``obs`` (before migration 0004; run it from a
``git worktree`` of an older commit with ``PYTHONPATH=<worktree>/src``) the floor appends to
``observation`` by codes. PostgreSQL runs in a throwaway cluster (``tests/pg.py``) when the
server binaries exist; fewer rows there (``--pg-rows``): it is slower per row.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tests/pg.py: the throwaway PostgreSQL cluster

from shanshui.store import Parameter, Site, Store, open_store  # noqa: E402

TIME = pa.timestamp("us", tz="UTC")
START = datetime(2020, 1, 1, tzinfo=UTC)
N_PARAMS = 10
STATION_SITES = 100
IMPORT_HOURS = 10_000


def _sites(n: int) -> list[Site]:
    return [Site(f"{1001 + i}A", f"站{i}", "air") for i in range(n)]


PARAMS = [Parameter(f"P{i:02d}", f"parameter {i}", "µg/m³") for i in range(N_PARAMS)]


def _table(sites: np.ndarray, params: np.ndarray, hours: np.ndarray, seed: int) -> pa.Table:
    """One batch in the staged types (strings, UTC µs times, float64 values)."""
    n = len(hours)
    rng = np.random.default_rng(seed)
    times = np.datetime64(START.replace(tzinfo=None), "us") + hours.astype("timedelta64[h]")
    return pa.table(
        {
            "site": pa.array(sites, pa.string()),
            "parameter": pa.array(params, pa.string()),
            "statistic": pa.array(np.full(n, "avg"), pa.string()),
            "period": pa.array(np.full(n, "hour"), pa.string()),
            "time": pa.array(times, pa.timestamp("us")).cast(TIME),
            "value": pa.array(rng.gamma(2.0, 20.0, n).round(1)),
            "flag": pa.array(np.full(n, "N"), pa.string()),
            "received": pa.nulls(n, TIME),
            "source": pa.nulls(n, pa.string()),
        }
    )


def station_batches(rows: int) -> Iterator[pa.Table]:
    """1,000-row batches: every site × parameter for one hour; hour after hour."""
    codes = np.array([s.code for s in _sites(STATION_SITES)])
    pcodes = np.array([p.code for p in PARAMS])
    per = STATION_SITES * N_PARAMS
    for h in range(rows // per):
        yield _table(np.repeat(codes, N_PARAMS), np.tile(pcodes, STATION_SITES), np.full(per, h), h)


def import_batches(rows: int) -> Iterator[pa.Table]:
    """100,000-row batches: one site's 10 parameters over 10,000 hours; site after site."""
    pcodes = np.array([p.code for p in PARAMS])
    per = N_PARAMS * IMPORT_HOURS
    for b in range(rows // per):
        site = _sites(b + 1)[-1].code
        hours = np.tile(np.arange(IMPORT_HOURS), N_PARAMS)
        yield _table(np.full(per, site), np.repeat(pcodes, IMPORT_HOURS), hours, b)


def _ids_layout(store: Store) -> bool:
    return hasattr(store, "site_ids")


def _keyed(store: Store, batch: pa.Table) -> pa.Table:
    """``batch`` as the table stores it (ids on 0004, codes before), received/source filled."""
    n = batch.num_rows
    received = pa.repeat(pa.scalar(datetime.now(UTC), TIME), n)
    cols: dict[str, Any] = {}
    if _ids_layout(store):
        sites = store.site_ids(batch["site"].unique().to_pylist())  # type: ignore[attr-defined]
        params = store.parameter_ids(batch["parameter"].unique().to_pylist())  # type: ignore[attr-defined]
        cols["site_id"] = pa.array([sites[c] for c in batch["site"].to_pylist()], pa.int32())
        cols["parameter_id"] = pa.array(
            [params[c] for c in batch["parameter"].to_pylist()], pa.int32()
        )
    else:
        cols["site"] = batch["site"]
        cols["parameter"] = batch["parameter"]
    for name in ("statistic", "period", "time", "value", "flag"):
        cols[name] = batch[name]
    cols["received"] = received
    cols["source"] = pa.repeat(pa.scalar("floor", pa.string()), n)
    return pa.table(cols)


def _floor_duckdb(store: Store, batches: list[pa.Table]) -> float:
    conn = store._c  # type: ignore[attr-defined]
    target = "obs" if _ids_layout(store) else "observation"
    t0 = time.perf_counter()
    for keyed in batches:
        conn.begin()
        conn.register("bench_floor", keyed)
        conn.execute(f"insert into {target} select * from bench_floor")  # our name, not input
        conn.unregister("bench_floor")
        conn.commit()
    return time.perf_counter() - t0


def _floor_postgres(store: Store, batches: list[pa.Table]) -> float:
    conn = store._c  # type: ignore[attr-defined]
    target = "obs" if _ids_layout(store) else "observation"
    t0 = time.perf_counter()
    for keyed in batches:
        naive = keyed.set_column(4, "time", keyed["time"].cast(pa.timestamp("us")))
        naive = naive.set_column(7, "received", naive["received"].cast(pa.timestamp("us")))
        buf = io.BytesIO()
        pacsv.write_csv(naive, buf, pacsv.WriteOptions(include_header=False))
        stmt = f"copy {target} from stdin (format csv)"  # our table's name, not input
        with conn.transaction(), conn.cursor() as cur, cur.copy(stmt) as copy:
            copy.write(buf.getbuffer())
    return time.perf_counter() - t0


def _fresh(target: Callable[[], str]) -> Store:
    store = open_store(target())
    store.upsert_sites(_sites(max(STATION_SITES, 400)))
    store.upsert_parameters(PARAMS)
    return store


def run(name: str, target: Callable[[], str], rows: int) -> list[dict[str, Any]]:
    out = []
    for workload, make in (("station", station_batches), ("import", import_batches)):
        batches = list(make(rows))
        n = sum(b.num_rows for b in batches)
        with _fresh(target) as store:
            t0 = time.perf_counter()
            for b in batches:
                store.write_observations(b, source="bench")
            write_s = time.perf_counter() - t0
            tail = batches[-max(1, len(batches) // 10) :]
            t0 = time.perf_counter()
            for b in tail:
                result = store.write_observations(b, source="bench")
                assert result.inserted == 0 and result.corrected == 0, result
            resend_s = time.perf_counter() - t0
            resend_n = sum(b.num_rows for b in tail)
        with _fresh(target) as store:
            keyed = [_keyed(store, b) for b in batches]
            floor = _floor_duckdb if name == "duckdb" else _floor_postgres
            floor_s = floor(store, keyed)
        out.append(
            {"store": name, "workload": workload, "rows": n, "batches": len(batches),
             "write_s": write_s, "floor_s": floor_s, "resend_rows": resend_n,
             "resend_s": resend_s}
        )  # fmt: skip
        print(_line(out[-1]), flush=True)
    return out


def _line(r: dict[str, Any]) -> str:
    rate = r["rows"] / r["write_s"]
    floor = r["rows"] / r["floor_s"]
    resend = r["resend_rows"] / r["resend_s"]
    return (
        f"{r['store']:<9}{r['workload']:<9}{r['rows']:>10,}{r['batches']:>8,}"
        f"{rate:>12,.0f}{floor:>12,.0f}{r['write_s'] / r['floor_s']:>8.2f}{resend:>12,.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--pg-rows", type=int, default=400_000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-duckdb", action="store_true")
    args = parser.parse_args()
    print(
        f"{'store':<9}{'batches':<9}{'rows':>10}{'calls':>8}{'rows/s':>12}{'floor/s':>12}"
        f"{'ratio':>8}{'resend/s':>12}"
    )
    with tempfile.TemporaryDirectory(prefix="shanshui-bench-") as tmp:
        counter = iter(range(1_000_000))
        if not args.no_duckdb:
            run("duckdb", lambda: f"{tmp}/s{next(counter)}.duckdb", args.rows)
        if not args.no_postgres:
            from pg import throwaway_cluster

            with throwaway_cluster() as cluster:
                if cluster is not None:
                    run("postgres", cluster.create_database, args.pg_rows)


if __name__ == "__main__":
    main()
