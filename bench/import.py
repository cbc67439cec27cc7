"""Benchmark: reading and importing all 12 PRSA files vs ``pandas.read_csv`` of the same files.

Goal (issue 4): ``shanshui.formats.read_prsa`` (and the streaming ``iter_chunks`` the importer
uses) takes at most 2× the time of plain ``pandas.read_csv`` of the same files, measured in
the same run (``pandas`` below: one ``read_csv`` per file, the whole file in memory, no
checks, no reshape). ``read_prsa`` returns all 12 parameters (6 pollutants + meteorology, ~5.0 M
values, 12× the source rows) as the canonical long table; ``…_categorical`` uses
``categorical=True`` (Categorical string columns instead of ``str``); ``iter_tables`` reads the
Arrow chunks the importer takes (no pandas frame); ``import_duckdb`` is
``shanshui import prsa``'s work (read, validate, write to a fresh embedded store, durable),
the figure issue 4's goal is about. Each measurement
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
if mode != "import_duckdb":
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
)


def run(mode: str, data: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(data)],
        check=True,
        capture_output=True,
        text=True,
    )
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
    for _ in range(args.repeat):
        for mode in modes:  # interleaved, so that load changes hit every mode alike
            r = run(mode, args.data)
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
    for mode in ("read_prsa", "read_prsa_categorical", "iter_tables", "import_duckdb"):
        if mode not in best:
            continue
        ratio = best[mode]["wall_s"] / base
        verdict = "meets" if ratio <= 2.0 else "misses"
        print(f"{mode} / pandas.read_csv = {ratio:.2f} ({verdict} the goal of <= 2.0)")


if __name__ == "__main__":
    main()
