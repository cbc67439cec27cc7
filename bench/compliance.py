"""Benchmark: one day of minute CEMS data for 10,000 outlets evaluated against their permits.

Issue 6's goal: evaluating one day of minute data for 10,000 outlets (8 parameters each,
10,000 × 8 × 1,440 = 115.2 million values) against their permit limits — hourly means with
HJ 76-2017 validity (≥ 45 valid minutes, flag N only), reference-oxygen conversion of the
hourly means to 6 % O2 (GB 13223-2011 §5.2), exceedance per outlet, pollutant and hour —
with shanshui's evaluator on the embedded store, at least 10× faster than a straightforward
pandas implementation of the same rules, measured in the same run.

The data are SYNTHETIC (generated here, vectorized, seeded): per outlet a load curve drives
flow, O2, temperature and the pollutant levels of particulate (a34013), SO2 (a21026), NOx
(a21002), plus O2 (a19001), flow (a00000, m³/s), temperature (a01012), pressure (a01013)
and humidity (a01014); injected exceedance episodes, stops (flag F), maintenance and
calibration periods (M, C) and scattered faults (D). Limits: particulate, SO2 and NOx of
each outlet at 6 % O2, drawn from the ultra-low (10/35/50), special (20/50/100) and general
(30/100/100 mg/m³) values of GB 13223-2011 and the 2015 programme.

Loading (documented shortcut): the 10,000 outlets and 8 parameters are registered as any
are (``store.upsert_sites`` / ``store.upsert_parameters``, which give each code its integer
key, migration 0004) and mapped with ``store.site_ids`` / ``store.parameter_ids``; the
minute rows then go straight into the store's readings table ``obs`` by those ids
(``insert … select`` from Arrow on the store's own DuckDB connection, after ``migrate()``),
not through ``Store.write_observations``: that write path's work — the duplicate anti-join,
site and parameter checks, daily dirty marks — is ingest's cost and is measured by
``bench/store_write.py``, ``bench/gateway.py`` and ``bench/import.py``; the rows here are
new and unique by construction. The same rows are written to a Parquet file for pandas.

Engines, each in its own subprocess (peak memory = the child's ``VmHWM``, which counts
DuckDB's and Arrow's native allocations that tracemalloc misses; not ``ru_maxrss``, which
Linux carries over from the parent across exec):

- ``shanshui``: :func:`shanshui.rules.compliance.evaluate_hours` on the DuckDBStore file —
  the wanted outlets and parameters resolved to ids once, ``obs`` filtered and grouped on
  the integer ids in DuckDB (``rules/sql/compliance_hourly_ids.sql``, a perfect-hash
  group-by on a private cursor), the hours judged on dense integer codes — from data at rest
  to the Arrow result;
- ``pandas``: ``read_parquet`` (site, parameter, flag as categoricals) then groupby
  (site, parameter, hour) mean and count, merge O2 and limits, convert, compare. Its time is
  reported with and without the Parquet read;
- ``floor``: a fresh process opens the store read-only and runs ``bench/compliance_floor.sql``
  — read and decode the five columns the rules need (site_id, parameter_id, flag, time,
  value) of the 57.6 M wanted rows from ``obs``, with the evaluator's filters, no grouping,
  no judging. No evaluator on this store can cost less, so pandas / floor bounds the ratio.

The run asserts that both engines find the same exceedances (count per pollutant, the same
set of outlet-hours, the same number of valid hours).

Run: ``.venv/bin/python bench/compliance.py`` (full size) or ``--outlets 500`` for a quick
run; ``--keep DIR`` keeps the store and Parquet file, ``--reuse --keep DIR --repeat 3``
measures again without rebuilding (alternating rounds, each engine a fresh process; every
timing and the peak memory are the minimum over the rounds).

Measured at full size on 2026-11-26 on the integer-key layout (10,000 outlets, 115.2 M
values; the project's 2-core VM, 23 GiB RAM, shared with the other engineers' test suites:
load average 4.5–7 throughout, never quiet, so wall times swing with their load and CPU
seconds are the steadier figure). Building the data: generation 26 s, loading into the
store 186 s (with the Parquet copy; store 1.46 GB, Parquet 0.99 GB). All engines agree:
712,515 valid outlet-pollutant-hours, 765 exceedances (particulate 295, SO2 223, NOx 247),
source-hour compliance share 0.9968. Ratio = pandas / engine, end to end; "rules alone"
leaves pandas' Parquet read out (shanshui's read of the store stays in):

================================  =====================================  =====================
set A: 3 rounds, load 5.4–6.1     wall [s] / CPU [s] / peak RSS          ratio wall / CPU
================================  =====================================  =====================
shanshui (obs by integer ids)     5.65 / 4.32 / 1.9 GiB                  12.8× / 11.5×
floor: the store read alone       5.33 / 2.77                            13.6× / 18.0×
pandas, Parquet read + rules      72.6 / 49.8 / 8.8 GiB (rules alone 38.5 / 22.5)
================================  =====================================  =====================

================================  =====================================  =====================
set B: 3 rounds, load 4.9–5.4     wall [s] / CPU [s] / peak RSS          ratio wall / CPU
================================  =====================================  =====================
shanshui (obs by integer ids)     10.52 / 5.13 / 1.9 GiB                 6.4× / 8.9×
floor: the store read alone       4.44 / 2.59                            15.2× / 17.7×
pandas, Parquet read + rules      67.5 / 45.7 / 8.8 GiB (rules alone 32.3 / 20.9)
================================  =====================================  =====================

================================  =====================================  =====================
set C: 5 rounds, load 5.1–6.9     wall [s] / CPU [s] / peak RSS          ratio wall / CPU
================================  =====================================  =====================
shanshui (obs by integer ids)     5.28 / 4.49 / 1.9 GiB                  15.4× / 10.8×
floor: the store read alone       4.66 / 2.32                            17.4× / 20.9×
pandas, Parquet read + rules      81.3 / 48.5 / 8.8 GiB (rules alone 36.1 / 21.9)
================================  =====================================  =====================

In set B every one of shanshui's three runs met a burst of the other work (its best wall
time 10.5 s against 5.3–5.7 s in sets A and C, with 5.1 CPU-s against 4.3–4.5): the
minimum over more rounds (set C) is the better estimate.

Before this layout (same bench, text keys in ``observation``, commit 7dcadd9, its own run at
load 2.7–5.8, so not a same-run comparison): shanshui 8.3 s wall / 8.2 CPU-s / 2.0 GiB, 5.1×
wall and CPU; its floor, reading site, parameter and flag as text, 4.2 s / 3.9 CPU-s.

Set D, the lead's run on a quiet machine (2026-11-26 04:10 UTC, load average 1.4–2.0 at the
end, ``--repeat 3``, fresh build: generation 13.8 s, loading 49.3 s): shanshui 2.26 s wall /
3.98 CPU-s / 1,988 MiB; pandas 24.91 s / 28.84 CPU-s / 8,327 MiB (rules alone 17.83 / 17.70);
floor 1.19 s / 2.26 CPU-s. Ratio 11.0× wall (7.9× against pandas' rules alone), 7.3× CPU;
identical exceedances. On a quiet machine pandas is faster than in sets A–C (it suffers
more from the load), so the wall ratio is at its smallest here and still above 10×.

Verdict: the ≥ 10× goal is MET in the same-run comparison the issue asks for, by
wall time and by CPU, in sets A and C (12.8× and 15.4× wall, 11.5× and 10.8× CPU; shanshui
4.3–4.5 CPU-s, 5.3–5.7 s, 1.9 GiB peak against pandas' 8.8 GiB), and missed in set B (6.4×
wall, 8.9× CPU) when shanshui's runs were all disturbed. The CPU margin is thin: pandas
spent 45.7–49.8 CPU-s here, against 41.8 in the text-key layout's quieter run (load 2.7–5.8);
at 41.8 shanshui's 4.3–4.5 CPU-s would be 9.3–9.7×. The wall ratio keeps a wider margin
whenever a second core is free, since DuckDB reads and groups on both while pandas runs on
one (set C: shanshui 5.3 s wall for 4.5 CPU-s under load 5–7).

What bounds it now: the floor — opening the file and reading 1.3 GB of column blocks (the
value column of every parameter's rows, since the 8 parameters interleave in every row
group) from the OS page cache into DuckDB's buffer pool and decoding them: 2.3–2.8 CPU-s of
shanshui's 4.3–5.1 (pandas / floor: 17.7–20.9× by CPU). On top: DuckDB's projections (the
flag test, the hour) and grouping, about 1.2–1.6 CPU-s (``EXPLAIN ANALYZE``: scan 71 %,
projections 19 %, perfect-hash group-by 10 % of the operators' time), then 0.2–0.4 s for
resolving ids and judging on integer codes in numpy/Arrow (cProfile). Against pandas' rules
alone (its Parquet read left out) shanshui is 3–7× — the ratio is as large as it is mostly
because DuckDB reads its file far more cheaply than pandas reads Parquet into objects.

What was measured on the way (full size unless said; CPU-s; noisy under the load):

- the read of ``obs`` by ids instead of ``observation`` by text: the floor 3.9–4.1 → 2.3–2.8;
- DuckDB's perfect-hash group-by (``perfect_ht_threshold`` = 24 bits on a cursor of the
  store's connection, a session setting the store's own connection does not see): the query
  warm 3.5–3.7 → 2.2–2.5, end to end in a fresh process 4.5–6.3 → 3.9–4.3 (three alternating
  pairs), at +70 MiB peak memory;
- numpy ``bincount`` on a dense group index handed over by DuckDB instead of DuckDB's
  grouping: rejected (2,000 outlets: 3.4 CPU-s, 1.8 in 1 M-row batches, against 1.2 for the
  hash group-by): moving the rows out of DuckDB costs more than grouping them inside;
- ``SET threads = 1`` (cheaper per row: 0.72 → 0.64 CPU-s warm at 2,000 outlets, but the
  wall time no longer halved when a second core is free) is a global DuckDB setting: it
  would change the store's other users, so it is not used;
- the flag test as a chain of equalities, ``in ('N', '')``, ``coalesce(…) in``, or a CASE
  testing 'N' first: within the noise; the ``isfinite(value)`` test dropped (the store's
  write path refuses NaN and infinite values): 0.1–0.4 less, noisy;
- building the result's code strings for the kept hours only, from numpy, instead of for
  all 960,000 hours with Arrow takes: 0.6 → 0.1 s.

The pandas baseline is the plain reading of the same rules on the same data: the same rows
at rest (the store file for shanshui, a Parquet copy for pandas), each read from the OS page
cache by a fresh process and the read counted in both; ``read_parquet`` defaults (site,
parameter, flag come back categorical because the file stores them dictionary-encoded), the
unneeded parameters and invalid flags dropped before one groupby, merges with O2 and the
limits, the same conversion and comparison. It is neither weakened nor hand-tuned (it is
unchanged from the text-key layout's measurements).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

DAY = datetime(2026, 11, 24, tzinfo=UTC) - timedelta(hours=8)  # 2026-11-24 00:00 +08:00
MINUTES = 1440
PARAMETERS = ["a34013", "a21026", "a21002", "a19001", "a00000", "a01012", "a01013", "a01014"]
POLLUTANTS = ["a34013", "a21026", "a21002"]
FLAGS = ["N", "F", "M", "C", "D"]
UNITS = {
    "a34013": "mg/m³",
    "a21026": "mg/m³",
    "a21002": "mg/m³",
    "a19001": "%",
    "a00000": "m³/s",
    "a01012": "°C",
    "a01013": "kPa",
    "a01014": "%",
}
LIMIT_CLASSES = np.array(
    [[10.0, 35.0, 50.0], [20.0, 50.0, 100.0], [30.0, 100.0, 100.0]]
)  # ultra-low, special (GB 13223-2011 Table 2), general (Table 1, new coal boiler)
CHUNK = 500  # outlets per generated block (≈ 5.8 M rows)
FLOOR_SQL = Path(__file__).with_name("compliance_floor.sql")


def site_codes(n: int) -> list[str]:
    return [f"DA{i:06d}" for i in range(n)]


def generate(first: int, count: int, seed: int) -> pa.Table:
    """Minute rows (site, parameter, time, value, flag) of outlets first..first+count-1."""
    rng = np.random.default_rng([seed, first])
    k = count
    t = np.arange(MINUTES)
    # load factor: a daily swing plus a slow random walk, 0.3 .. 1.0
    phase = rng.uniform(0, 1, (k, 1))
    walk = np.cumsum(rng.normal(0, 0.004, (k, MINUTES)), axis=1)
    load = np.clip(0.75 + 0.18 * np.sin(2 * np.pi * (t / MINUTES - phase)) + walk, 0.3, 1.0)
    o2_base = rng.uniform(4.5, 8.0, (k, 1))
    o2 = np.clip(o2_base + 3.0 * (1 - load) + rng.normal(0, 0.25, (k, MINUTES)), 2.0, 20.5)
    values = np.empty((k, len(PARAMETERS), MINUTES))
    # measured levels at 25..60 % of the outlet's limits (a plant runs well inside its permit)
    bases = limit_classes(first + k, seed)[first:] * rng.uniform(0.25, 0.6, (k, 3))
    for j in range(3):
        noise = rng.lognormal(0, 0.12, (k, MINUTES))
        values[:, j] = bases[:, j : j + 1] * noise * (0.8 + 0.3 * load)
    # injected exceedance episodes: 4 % of outlets, 1 to 3 h, ×2.5 .. ×5 on one pollutant
    hit = np.flatnonzero(rng.random(k) < 0.04)
    start = rng.integers(0, MINUTES - 180, hit.size)
    length = rng.integers(60, 181, hit.size)
    which = rng.integers(0, 3, hit.size)
    factor = rng.uniform(2.5, 5.0, hit.size)
    for i, s, n, j, f in zip(hit, start, length, which, factor, strict=True):
        values[i, j, s : s + n] *= f
    values[:, 3] = o2
    values[:, 4] = rng.uniform(50, 500, (k, 1)) * load * rng.normal(1, 0.02, (k, MINUTES))
    values[:, 5] = rng.uniform(45, 120, (k, 1)) + 10 * load + rng.normal(0, 0.5, (k, MINUTES))
    values[:, 6] = rng.normal(101.3, 0.4, (k, 1)) + rng.normal(0, 0.05, (k, MINUTES))
    values[:, 7] = rng.uniform(5, 12, (k, 1)) + rng.normal(0, 0.3, (k, MINUTES))
    # flags per outlet-minute (all parameters of a minute share the logger's state)
    flag = np.zeros((k, MINUTES), dtype=np.int8)
    stop = np.flatnonzero(rng.random(k) < 0.03)  # stops of 2..6 h (F)
    s0 = rng.integers(0, MINUTES - 360, stop.size)
    n0 = rng.integers(120, 361, stop.size)
    maint = np.flatnonzero(rng.random(k) < 0.08)  # maintenance / calibration 15..90 min
    s1 = rng.integers(0, MINUTES - 90, maint.size)
    n1 = rng.integers(15, 91, maint.size)
    c1 = rng.integers(2, 4, maint.size)
    for i, s, n in zip(stop, s0, n0, strict=True):
        flag[i, s : s + n] = 1
        values[i, 4, s : s + n] = 0.0
    for i, s, n, c in zip(maint, s1, n1, c1, strict=True):
        flag[i, s : s + n] = c
    flag[(rng.random((k, MINUTES)) < 0.002) & (flag == 0)] = 4  # scattered faults (D)
    # long table, ordered outlet, parameter, minute
    n_rows = k * len(PARAMETERS) * MINUTES
    site_idx = np.repeat(np.arange(first, first + k, dtype=np.int32), len(PARAMETERS) * MINUTES)
    par_idx = np.tile(np.repeat(np.arange(len(PARAMETERS), dtype=np.int8), MINUTES), k)
    base_us = int(DAY.timestamp() * 1_000_000)
    times = np.tile(base_us + t.astype(np.int64) * 60_000_000, k * len(PARAMETERS))
    flags = np.repeat(flag[:, None, :], len(PARAMETERS), axis=1).ravel()
    assert times.size == n_rows
    return pa.table(
        {
            "site": pa.DictionaryArray.from_arrays(
                pa.array(site_idx), pa.array(site_codes(first + k))
            ),
            "parameter": pa.DictionaryArray.from_arrays(pa.array(par_idx), pa.array(PARAMETERS)),
            "time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "value": pa.array(values.ravel()),
            "flag": pa.DictionaryArray.from_arrays(pa.array(flags), pa.array(FLAGS)),
        }
    )


def limit_classes(outlets: int, seed: int) -> np.ndarray:
    """Each outlet's limits [mg/m³] for particulate, SO2, NOx: shape (outlets, 3)."""
    rng = np.random.default_rng([seed, 1_000_000_007])
    return LIMIT_CLASSES[rng.integers(0, 3, outlets)]


def limits_table(outlets: int, seed: int) -> pa.Table:
    codes = site_codes(outlets)
    return pa.table(
        {
            "site": np.repeat(codes, 3),
            "parameter": POLLUTANTS * outlets,
            "limit": limit_classes(outlets, seed).ravel(),
            "reference_o2": np.full(outlets * 3, 6.0),
            "basis": ["converted"] * (outlets * 3),
        }
    )


def _constant(text: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int8)), pa.array([text]))


def build(folder: Path, outlets: int, seed: int) -> dict[str, float]:
    """The store file and the Parquet file of the same synthetic day."""
    import pyarrow.parquet as pq

    from shanshui.store.api import Parameter, Site
    from shanshui.store.duck import DuckDBStore

    t0 = time.perf_counter()
    store = DuckDBStore(folder / "bench.duckdb")
    store.migrate()
    codes = site_codes(outlets)
    # registered as any outlet and parameter is, which gives each its integer key
    store.upsert_parameters([Parameter(c, c, UNITS[c], c) for c in PARAMETERS])
    store.upsert_sites([Site(c, f"排口 {c}", "outlet") for c in codes])
    site_id = store.site_ids(codes)
    parameter_id = store.parameter_ids(PARAMETERS)
    site_ids = np.array([site_id[c] for c in codes], np.int32)
    parameter_ids = np.array([parameter_id[c] for c in PARAMETERS], np.int32)
    writer: pq.ParquetWriter | None = None
    gen = load = 0.0
    rows = 0
    received = datetime.now(UTC)
    with store._session():  # the documented shortcut: straight into the readings table obs
        conn = store._c
        for first in range(0, outlets, CHUNK):
            a = time.perf_counter()
            chunk = generate(first, min(CHUNK, outlets - first), seed)
            b = time.perf_counter()
            n = chunk.num_rows
            site_idx = chunk["site"].combine_chunks().indices.to_numpy()
            par_idx = chunk["parameter"].combine_chunks().indices.to_numpy()
            obs = pa.table(
                {
                    "site_id": pa.array(site_ids[site_idx]),
                    "parameter_id": pa.array(parameter_ids[par_idx]),
                    "statistic": _constant("avg", n),
                    "period": _constant("minute", n),
                    "time": chunk["time"],
                    "value": chunk["value"],
                    "flag": chunk["flag"],
                    "received": pa.array(
                        np.full(n, int(received.timestamp() * 1e6)), pa.timestamp("us", tz="UTC")
                    ),
                    "source": pa.nulls(n, pa.string()),
                }
            )
            conn.register("bench_chunk", obs)
            conn.execute("insert into obs select * from bench_chunk")
            conn.unregister("bench_chunk")
            if writer is None:
                writer = pq.ParquetWriter(folder / "bench.parquet", chunk.schema)
            writer.write_table(chunk)
            rows += n
            gen += b - a
            load += time.perf_counter() - b
    if writer is not None:
        writer.close()
    store.close()
    pq.write_table(limits_table(outlets, seed), folder / "limits.parquet")
    return {"rows": rows, "generate_s": gen, "load_s": load, "total_s": time.perf_counter() - t0}


# -- the engines (run in child processes) ------------------------------------------------------
def _cpu() -> float:
    """CPU seconds of this process, all threads (user + system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_shanshui(folder: Path) -> dict[str, object]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from shanshui.rules.compliance import compliance_share, evaluate_hours
    from shanshui.store.duck import DuckDBStore

    limits = pq.read_table(folder / "limits.parquet")
    t0, c0 = time.perf_counter(), _cpu()
    store = DuckDBStore(folder / "bench.duckdb")
    hours = evaluate_hours(store, limits, start=DAY, end=DAY + timedelta(days=1))
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    share = compliance_share(hours)
    store.close()
    ex = hours.filter(hours["exceeded"])
    per = {p: int(pc.sum(pc.equal(ex["parameter"], p)).as_py() or 0) for p in POLLUTANTS}
    keys = sorted(
        f"{s}|{p}|{h.isoformat()}"
        for s, p, h in zip(
            ex["site"].to_pylist(), ex["parameter"].to_pylist(), ex["hour"].to_pylist(), strict=True
        )
    )
    return {
        "seconds": seconds,
        "eval_seconds": seconds,
        "cpu": cpu,
        "eval_cpu": cpu,
        "valid_hours": int(pc.sum(hours["valid"].cast(pa.int64())).as_py() or 0),
        "exceedances": per,
        "keys": keys,
        "share": share.share,
    }


def run_floor(folder: Path) -> dict[str, object]:
    """The store read alone (``bench/compliance_floor.sql``): a fresh process opens the store
    and reads and decodes the columns the rules need, nothing more."""
    import re

    import duckdb

    sql = re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"$\1", FLOOR_SQL.read_text(encoding="utf-8"))
    t0, c0 = time.perf_counter(), _cpu()
    conn = duckdb.connect(str(folder / "bench.duckdb"), read_only=True)
    conn.execute("set TimeZone = 'UTC'")
    ids = [
        i
        for (i,) in conn.sql(
            "select id from parameter_key where list_contains($codes, code)",
            params={"codes": [*POLLUTANTS, "a19001"]},
        ).fetchall()
    ]
    params = {
        "parameter_ids": ids,
        "parameter_lo": min(ids),
        "parameter_hi": max(ids),
        "statistic": "avg",
        "period": "minute",
        "start": DAY,
        "end": DAY + timedelta(days=1),
    }
    rows = conn.sql(sql, params=params).fetchall()
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    conn.close()
    return {
        "seconds": seconds,
        "eval_seconds": seconds,
        "cpu": cpu,
        "eval_cpu": cpu,
        "rows": rows[0][0],
        "keys": [],
    }


def run_pandas(folder: Path) -> dict[str, object]:
    import pandas as pd

    t0, c0 = time.perf_counter(), _cpu()
    df = pd.read_parquet(folder / "bench.parquet")
    limits = pd.read_parquet(folder / "limits.parquet")
    t1, c1 = time.perf_counter(), _cpu()
    # the rules, written the plain pandas way
    needed = [*limits["parameter"].unique(), "a19001"]  # the limited pollutants and O2
    valid = df["flag"].isin(["N", ""]) | df["flag"].isna()  # HJ 212-2017 Table 6: only N
    df = df[df["parameter"].isin(needed) & valid & np.isfinite(df["value"])]
    df = df.assign(hour=df["time"].dt.floor("h"))
    hourly = (
        df.groupby(["site", "parameter", "hour"], observed=True)["value"]
        .agg(["mean", "count"])
        .reset_index()
    )
    hourly = hourly[hourly["count"] >= 45]  # HJ 76-2017 Annex B
    hourly["site"] = hourly["site"].astype(str)
    hourly["parameter"] = hourly["parameter"].astype(str)
    o2 = hourly[hourly["parameter"] == "a19001"][["site", "hour", "mean"]]
    o2 = o2.rename(columns={"mean": "o2"})
    m = hourly.merge(limits, on=["site", "parameter"]).merge(o2, on=["site", "hour"], how="left")
    ok_o2 = (m["o2"] < 20.9) & (m["o2"] >= 0)
    converted = m["mean"] * (21 - m["reference_o2"]) / (21 - m["o2"])  # GB 13223-2011 §5.2
    m["value"] = np.where(m["basis"] == "converted", converted.where(ok_o2), m["mean"])
    m["exceeded"] = m["value"] > m["limit"]
    t2, c2 = time.perf_counter(), _cpu()
    ex = m[m["exceeded"]]
    per = {p: int((ex["parameter"] == p).sum()) for p in POLLUTANTS}
    keys = sorted(
        f"{s}|{p}|{h.to_pydatetime().isoformat()}"
        for s, p, h in zip(ex["site"], ex["parameter"], ex["hour"], strict=True)
    )
    return {
        "seconds": t2 - t0,
        "eval_seconds": t2 - t1,
        "cpu": c2 - c0,
        "eval_cpu": c2 - c1,
        "valid_hours": len(m),
        "exceedances": per,
        "keys": keys,
    }


def peak_rss_mib() -> float:
    """This process's peak resident memory [MiB]: ``VmHWM``, the high-water mark of its own
    address space. Not ``ru_maxrss``: Linux carries the parent's peak across exec into it, so
    a child started by a parent that has just built the data reported the parent's size."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(engine: str, folder: Path) -> None:
    run = {"shanshui": run_shanshui, "pandas": run_pandas, "floor": run_floor}[engine]
    result = run(folder)
    result["maxrss_mib"] = peak_rss_mib()
    print(json.dumps(result))


def measure(engine: str, folder: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", engine, "--keep", str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def best(results: list[dict[str, object]]) -> dict[str, object]:
    """The first run's answers with each timing and the peak memory at their minimum (the
    machine is shared: the least disturbed run is the best estimate)."""
    out = dict(results[0])
    for key in ("seconds", "eval_seconds", "cpu", "eval_cpu", "maxrss_mib"):
        out[key] = min(float(r[key]) for r in results)  # type: ignore[arg-type]
    for r in results[1:]:
        assert r["keys"] == out["keys"], "a repeated run found other exceedances"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outlets", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--keep", type=Path, help="folder for the store and Parquet file")
    parser.add_argument("--reuse", action="store_true", help="reuse the data in --keep")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per engine, alternating; the minimum is shown"
    )
    parser.add_argument("--child", choices=["shanshui", "pandas", "floor"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.keep)
        return
    folder = args.keep or Path(tempfile.mkdtemp(prefix="shanshui-bench-compliance-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if not args.reuse:
            for name in ("bench.duckdb", "bench.duckdb.wal", "bench.parquet", "limits.parquet"):
                (folder / name).unlink(missing_ok=True)
            built = build(folder, args.outlets, args.seed)
            print(
                f"synthetic data: {args.outlets:,} outlets × {len(PARAMETERS)} parameters × "
                f"{MINUTES} minutes = {built['rows']:,.0f} values; generated in "
                f"{built['generate_s']:.1f} s, loaded into the store in {built['load_s']:.1f} s "
                f"(+ Parquet copy)"
            )
        runs: dict[str, list[dict[str, object]]] = {"shanshui": [], "pandas": [], "floor": []}
        for _ in range(args.repeat):
            for engine, done in runs.items():
                done.append(measure(engine, folder))
        s, p, f = best(runs["shanshui"]), best(runs["pandas"]), best(runs["floor"])
        assert s["exceedances"] == p["exceedances"], (s["exceedances"], p["exceedances"])
        assert s["keys"] == p["keys"], "the engines disagree on which outlet-hours exceed"
        assert s["valid_hours"] == p["valid_hours"], (s["valid_hours"], p["valid_hours"])
        ss, ps, pe = (float(x) for x in (s["seconds"], p["seconds"], p["eval_seconds"]))  # type: ignore[arg-type]
        sc, pc_, pec = (float(x) for x in (s["cpu"], p["cpu"], p["eval_cpu"]))  # type: ignore[arg-type]
        print(
            f"valid outlet-pollutant-hours: {s['valid_hours']:,}; exceedances: {s['exceedances']}"
        )
        print(f"source-hour compliance share: {float(s['share']):.4f}")  # type: ignore[arg-type]
        print(
            f"shanshui (DuckDB store):  {ss:8.2f} s wall {sc:8.2f} s CPU   "
            f"peak RSS {s['maxrss_mib']:6.0f} MiB"
        )
        print(
            f"pandas (Parquet + rules): {ps:8.2f} s wall {pc_:8.2f} s CPU   "
            f"peak RSS {p['maxrss_mib']:6.0f} MiB (rules alone {pe:.2f} s wall, {pec:.2f} s CPU)"
        )
        print(
            f"ratio pandas / shanshui: wall {ps / ss:.1f}× end to end, {pe / ss:.1f}× rules alone; "
            f"CPU {pc_ / sc:.1f}× end to end, {pec / sc:.1f}× rules alone"
        )
        fs, fc = float(f["seconds"]), float(f["cpu"])  # type: ignore[arg-type]
        print(
            f"floor (store read alone, {int(f['rows']):,} rows): {fs:8.2f} s wall {fc:8.2f} s CPU"  # type: ignore[call-overload]
            f" — the most any evaluator on this store could reach: wall {ps / fs:.1f}×, "
            f"CPU {pc_ / fc:.1f}×"
        )
        with open("/proc/loadavg", encoding="ascii") as fh:
            print(f"load average at the end (other work on the machine): {fh.read().split()[:3]}")
        print("identical exceedances in both engines: yes")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
