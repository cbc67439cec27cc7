"""Benchmark: reading and importing all 12 PRSA files vs ``pandas.read_csv`` of the same files.

Goal (issue 4): ``shanshui.formats.read_prsa`` (and the streaming ``iter_chunks`` the importer
uses) takes at most 2× the time of plain ``pandas.read_csv`` of the same files, measured in
the same run (``pandas`` below: one ``read_csv`` per file, the whole file in memory, no
checks, no reshape). ``read_prsa`` returns all 12 parameters (6 pollutants + meteorology, ~5.0 M
values, 12× the source rows) as the canonical long table; ``…_categorical`` uses
``categorical=True`` (Categorical string columns instead of ``str``); ``iter_tables`` reads the
Arrow chunks the importer takes (no pandas frame); ``import_duckdb`` is
``shanshui import prsa``'s work (read, validate, write to a fresh embedded store, durable),
the figure issue 4's goal is about. ``duckdb_floor`` is what the store's engine alone costs:
the very rows the import stores (read back from a store the import filled, not measured,
and held in memory), inserted into a fresh DuckDB file with ``obs``'s layout (migration
0004's ``create table obs``) in the same 12 commits, one plain ``insert … select`` per file:
no checks, no repeated-key anti-join, no day marks, no site creation. ``import_duckdb /
duckdb_floor`` is then the import's own overheads over the engine; the engine alone is ~3–5×
``read_csv`` here, so ≤ 2× ``read_csv`` is out of reach for the embedded store of this
layout (text columns: DuckDB copies ~60 bytes of strings per reading, the source most).

Measured 2026-11-26 on the shared 2-core machine, under load (1-min load average 2.3–4.1
during the runs: the figures are ~1.3–1.8× a quiet machine's; the lead's quiet figures
before this change: read_csv 0.445 s, import 3.36 s = 7.6×, the plain insert 1.3–1.4 s).
Min of 5, before (commit db6be69) and after in the same run::

    mode            wall s   × read_csv   cpu s   peak MiB
    pandas           0.48       1.00       0.48       79
    import before    5.45      11.3        5.95      361
    import after     4.14       8.6        5.69      304
    duckdb_floor     2.55       5.3        2.82      109

and this script (``--modes iter_tables,duckdb_floor,import_duckdb``, load 2.3–3.9):
pandas 0.561 s, iter_tables 0.594 s (1.06×), duckdb_floor 2.476 s (4.41×), import_duckdb
3.799 s (6.77×; 1.53× the floor, 1.32 s over it). The import's own overheads over the
engine went from ~2.9 s to ~1.3–1.6 s (natural days, batch checks and the key-order test,
timed alone on the 12 batches: 0.85 s → 0.19 s); the rest is the write path's staging,
day and rule marks, site creation, the commits' extra statements and the first file's read
(nothing overlaps it). Each measurement
runs in a fresh subprocess (so peak memory is its own) and is repeated; the minimum wall
time is reported (the machine is shared; the minimum is the least disturbed run). Peak
memory is the subprocess's peak RSS minus its RSS after imports; ``cpu s`` the CPU time
(user + system, all threads) of the best run's measured part: on a shared machine steadier
than wall time, and it shows how much of the work ran in parallel.

Run: ``.venv/bin/python bench/import.py [--repeat 5] [--data ../shared/data/beijing_multisite]
[--modes pandas,import_duckdb]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "beijing_multisite"

CHILD = r"""
import glob, json, resource, sys, time
import pandas as pd
from shanshui.formats import iter_chunks, read_prsa

def rss_kib():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

files = sorted(glob.glob(sys.argv[2] + "/PRSA_Data_*.csv"))
mode = sys.argv[1]
base = rss_kib()
def cpu_s():
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime

t0 = time.perf_counter()
c0 = cpu_s()
if mode == "pandas":
    frames = [pd.read_csv(f) for f in files]
    rows = sum(len(f) for f in frames)
elif mode == "pandas_concat":
    frame = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    rows = len(frame)
elif mode == "read_prsa":
    frame = read_prsa(files)
    rows = len(frame)
elif mode == "read_prsa_pollutants":
    frame = read_prsa(files, meteorology=False)
    rows = len(frame)
elif mode == "read_prsa_categorical":
    frame = read_prsa(files, categorical=True)
    rows = len(frame)
elif mode == "iter_chunks_categorical":
    rows = 0
    for f in files:
        for chunk in iter_chunks(f, chunk_rows=100_000, categorical=True):
            rows += len(chunk.frame)
            assert not chunk.bad
elif mode == "iter_chunks":
    rows = 0
    for f in files:
        for chunk in iter_chunks(f, chunk_rows=100_000):
            rows += len(chunk.frame)
            assert not chunk.bad
elif mode == "iter_tables":  # what the importer reads: Arrow chunks, no pandas frame
    rows = 0
    for f in files:
        for chunk in iter_chunks(f, chunk_rows=50_000):
            rows += chunk.table.num_rows
            assert not chunk.bad
elif mode == "prepare_floor":  # not measured: the rows the import stores, file by file
    import tempfile
    import duckdb
    import pyarrow as pa
    from shanshui.ingest.importers import import_files
    from shanshui.store import open_store
    with tempfile.TemporaryDirectory() as tmp:
        with open_store(tmp + "/prep.duckdb") as store:
            import_files(store, files, fmt="prsa")
        con = duckdb.connect(tmp + "/prep.duckdb", read_only=True)
        found = con.execute("select distinct source from obs order by 1").fetchall()
        sources = [r[0] for r in found]  # one per file, in file order
        rows = 0
        each = "select * from obs where source = $s order by rowid"  # in stored order
        for k, source in enumerate(sources):
            table = con.sql(each, params={"s": source}).to_arrow_table()
            with pa.OSFile(f"{sys.argv[3]}/{k:02d}.arrow", "wb") as sink:
                with pa.ipc.new_file(sink, table.schema) as writer:
                    writer.write_table(table)
            rows += table.num_rows
        con.close()
    wall = cpu = 0.0
elif mode == "duckdb_floor":  # DuckDB alone: plain inserts of those rows, one commit per file
    import os, re, tempfile
    import duckdb
    import pyarrow as pa
    import shanshui.store
    ddl = open(os.path.join(os.path.dirname(shanshui.store.__file__), "migrations", "duckdb",
                            "0004_integer_keys.sql")).read()
    create = re.search(r"create table obs \(.*?\);", ddl, re.S).group(0)
    tables = []
    for name in sorted(glob.glob(sys.argv[3] + "/*.arrow")):  # read first, not measured
        with pa.OSFile(name) as source:
            tables.append(pa.ipc.open_file(source).read_all())
    base = rss_kib()  # the input held in memory is not the engine's
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(tmp + "/floor.duckdb")
        con.execute(create)  # schema creation is not part of the insert
        t0 = time.perf_counter()
        c0 = cpu_s()
        rows = 0
        for table in tables:
            con.begin()
            con.register("stage_obs", table)
            rows += con.execute("insert into obs select * from stage_obs").fetchone()[0]
            con.commit()
            con.unregister("stage_obs")
        wall = time.perf_counter() - t0
        cpu = cpu_s() - c0
        con.close()
elif mode == "import_duckdb":  # the importer itself: files -> a fresh embedded store
    import tempfile
    from shanshui.ingest.importers import import_files
    from shanshui.store import open_store
    with tempfile.TemporaryDirectory() as tmp, open_store(tmp + "/bench.duckdb") as store:
        t0 = time.perf_counter()  # schema creation is not part of the import
        c0 = cpu_s()
        rows = import_files(store, files, fmt="prsa").stored
        wall = time.perf_counter() - t0
        cpu = cpu_s() - c0
else:
    raise SystemExit(mode)
if mode not in ("import_duckdb", "prepare_floor", "duckdb_floor"):
    wall = time.perf_counter() - t0
    cpu = cpu_s() - c0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"mode": mode, "wall_s": wall, "cpu_s": cpu, "rows": rows, "files": len(files),
                  "peak_mib": (peak - base) / 1024}))
"""

MODES = (
    "pandas",
    "pandas_concat",
    "read_prsa",
    "read_prsa_pollutants",
    "read_prsa_categorical",
    "iter_chunks",
    "iter_chunks_categorical",
    "iter_tables",
    "import_duckdb",
    "duckdb_floor",
)


def run(mode: str, data: Path, scratch: str = "") -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(data), scratch],
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"mode {mode} failed:\n{out.stderr}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--modes", default=",".join(MODES), help="comma-separated subset (pandas always runs)"
    )
    args = parser.parse_args()
    modes = ["pandas", *(m for m in args.modes.split(",") if m in MODES and m != "pandas")]
    best: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        if "duckdb_floor" in modes:
            run("prepare_floor", args.data, scratch)  # the rows the floor inserts
        for _ in range(args.repeat):
            for mode in modes:  # interleaved, so that load changes hit every mode alike
                r = run(mode, args.data, scratch)
                if mode not in best or r["wall_s"] < best[mode]["wall_s"]:
                    best[mode] = r
    base = best["pandas"]["wall_s"]
    print(f"12 PRSA files, {best['pandas']['rows']:,} source rows; min of {args.repeat} runs")
    print(f"{'mode':<22}{'rows out':>12}{'wall s':>9}{'ratio':>8}{'cpu s':>8}{'peak MiB':>10}")
    for mode in modes:
        r = best[mode]
        ratio = r["wall_s"] / base
        print(
            f"{mode:<22}{int(r['rows']):>12,}{r['wall_s']:>9.3f}{ratio:>8.2f}{r['cpu_s']:>8.2f}"
            f"{r['peak_mib']:>10.0f}"
        )
    if "import_duckdb" in best:
        stored = int(best["import_duckdb"]["rows"])
        print(f"import_duckdb: {stored:,} readings stored (rows out = report.stored)")
    if "import_duckdb" in best and "duckdb_floor" in best:
        imp, floor = best["import_duckdb"]["wall_s"], best["duckdb_floor"]["wall_s"]
        print(
            f"import_duckdb / duckdb_floor = {imp / floor:.2f} (the import's own overheads "
            f"over the store engine's plain insert of the same rows: {imp - floor:.3f} s)"
        )
    for mode in ("read_prsa", "read_prsa_categorical", "iter_tables", "import_duckdb"):
        if mode not in best:
            continue
        ratio = best[mode]["wall_s"] / base
        verdict = "meets" if ratio <= 2.0 else "misses"
        print(f"{mode} / pandas.read_csv = {ratio:.2f} ({verdict} the goal of <= 2.0)")


if __name__ == "__main__":
    main()
