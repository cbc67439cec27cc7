"""Hourly means computed in DuckDB for :func:`shanshui.rules.compliance.evaluate_hours`.

Two paths, both handing their hours to the shared judge
(:mod:`shanshui.rules.compliance_judge`):

- :func:`_store_hours` — on a :class:`~shanshui.store.duck.DuckDBStore`: the wanted outlets
  and parameters resolved to their integer ids once (``rules/sql/compliance_keys.sql``), the
  store's integer-keyed readings (table ``obs``, migration 0004) filtered and grouped on the
  ids (``rules/sql/compliance_hourly_ids.sql``, on a private cursor of the store's connection
  with :data:`_CURSOR_SETTINGS`, under the store's lock), the hours judged on dense integer
  codes (:func:`~shanshui.rules.compliance_judge._dense_join`); codes come back only for the
  result's rows (``bench/compliance.py`` measures it);
- :func:`_duckdb_hours` — on a ``duckdb.DuckDBPyConnection`` holding an ``observation`` table
  of the store's columns (or a frame registered as one): ``rules/sql/compliance_hourly.sql``,
  grouped on the codes' text.

:func:`_sql` reads the ``rules/sql/compliance_*.sql`` files (named ``:name`` parameters,
handed to DuckDB as ``$name``). Minute → hour, in the SQL: only flag N (or no / an empty flag)
values count (HJ 212-2017 Table 6); an hourly mean needs ``min_count`` valid values (45
minutes, HJ 76-2017 Annex B).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shanshui.rules.compliance_judge import RESULT_SCHEMA, _compare, _dense_join, _joined, _judge
from shanshui.store.duck import DuckDBStore

#: Outlets up to which the DuckDB scan filters by site (codes, or ids on the store; more:
#: filtered at the join).
SITE_FILTER_MAX = 1000


# -- a DuckDB connection: codes as text -------------------------------------------------------
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@cache
def _sql(name: str) -> str:
    """``rules/sql/<name>.sql`` with its ``:name`` parameters in DuckDB's ``$name`` form."""
    text = (resources.files(__package__) / "sql" / f"{name}.sql").read_text(encoding="utf-8")
    return _PARAM.sub(r"$\1", text)


def _duckdb_hours(
    conn: duckdb.DuckDBPyConnection,
    limits: pa.Table,
    params: dict[str, Any],
) -> pa.Table:
    params = dict(params)
    sites = pc.unique(limits["site"]).to_pylist()
    # a short list is checked in the scan; a long one only at the join (see the SQL)
    params["sites"] = sites if len(sites) <= SITE_FILTER_MAX else None
    params["parameters"] = sorted({*pc.unique(limits["parameter"]).to_pylist(), params["oxygen"]})
    wanted = {k: params[k] for k in HOURLY_PARAMETERS}
    hourly = conn.sql(_sql("compliance_hourly"), params=wanted).to_arrow_table()
    if not isinstance(hourly, pa.Table):  # newer DuckDB may hand back a reader
        hourly = hourly.read_all()
    # the hour comes back as whole hours since the epoch: the start of the hour, UTC
    hour = pc.multiply(hourly["h"].cast(pa.int64()), 3_600_000_000).cast(
        pa.timestamp("us", tz="UTC")
    )
    n = hourly["n"].cast(pa.int32())
    # k is the 1-based position of the parameter in the list sent (see the SQL)
    codes = pa.array(params["parameters"], pa.string())
    position = pc.subtract(hourly["k"].cast(pa.int32()), 1)
    table = pa.table(
        {
            "site": hourly["site"].cast(pa.string()),
            "parameter": codes.take(position),
            "hour": hour,
            "count": n,
            "valid": pc.greater_equal(n, params["min_count"]),  # HJ 76-2017 Annex B
            "mean": hourly["mean"].cast(pa.float64()),
        }
    )
    return _judge(table, limits, params["oxygen"])


#: The named parameters of rules/sql/compliance_hourly.sql.
HOURLY_PARAMETERS = (
    "sites", "parameters", "start", "end", "statistic", "period", "min_count",
)  # fmt: skip


# -- the DuckDB store: integer keys -----------------------------------------------------------
#: Key bits up to which DuckDB may group the store's hourly means into a directly indexed
#: array (its ``perfect_ht_threshold``; rules/sql/compliance_hourly_ids.sql). One day of
#: 10,000 outlets × 4 parameters needs 24 (site 14, parameter 2, hour 5, a null bit each):
#: 3.6 → 2.3 CPU-s for the query at full size (bench/compliance.py). Past 24 bits (more
#: outlets, longer windows) DuckDB's hash group-by runs as by default; at 24 the array's
#: 2^24 slots cost about 230 MiB more peak memory, measured.
PERFECT_HASH_BITS = 24
# Measured and rejected for the store path (2,000 outlets, 11.5 M wanted rows, CPU-s of a
# fresh process, 2026-11-26): DuckDB handing each filtered row's dense group index
# ((site*P + parameter)*24 + hour) and value to numpy, np.bincount for the counts and sums
# (no hashing): 3.4 CPU-s, 1.8 streamed in 1 M-row batches, against 1.2 for DuckDB's hash
# group-by on the ids (warm: 0.6–0.7, 0.4 with the perfect-hash array, one thread) — moving
# 11.5 M rows out of DuckDB costs more than grouping them inside; one packed integer key
# instead of three (no gain); the flag test as ``in ('N', '')`` (about 10 % dearer than the
# chain of equalities, within the noise at full size).
#: Settings of the evaluator's private cursor (a session setting: the store's own connection
#: and its other cursors keep theirs). ``SET threads`` is global in DuckDB, so it is not used.
_CURSOR_SETTINGS = f"set perfect_ht_threshold = {PERFECT_HASH_BITS}"


def _store_hours(store: DuckDBStore, limits: pa.Table, params: dict[str, Any]) -> pa.Table:
    """Hourly means from the store's integer-keyed readings (table ``obs``, migration 0004),
    judged on integer codes: the wanted outlets and parameters resolved to ids once, the scan
    filtered and grouped on the ids, the ids turned back into codes only for the result."""
    sites = pc.unique(limits["site"]).to_pylist()
    parameters = sorted({*pc.unique(limits["parameter"]).to_pylist(), params["oxygen"]})
    # the store's lock and one read transaction for the keys; the hourly means on a cursor
    # (its own connection to the same database, so its settings stay private)
    with store._session(write=False):
        conn = store._c
        keys = conn.sql(
            _sql("compliance_keys"), params={"sites": sites, "parameters": parameters}
        ).fetchall()
        site_id = {code: int(i) for kind, code, i in keys if kind == "s"}
        par_id = {code: int(i) for kind, code, i in keys if kind == "p"}
        if not site_id or not par_id:  # no readings of them can be stored
            return RESULT_SCHEMA.empty_table()
        s_ids, p_ids = sorted(site_id.values()), sorted(par_id.values())
        wanted = {
            "site_lo": s_ids[0],
            "site_hi": s_ids[-1],
            # a short list is checked in the scan; a long one only at the judging's join
            "site_ids": s_ids if len(s_ids) <= SITE_FILTER_MAX else None,
            "parameter_lo": p_ids[0],
            "parameter_hi": p_ids[-1],
            "parameter_ids": p_ids,
            **{k: params[k] for k in ("start", "end", "statistic", "period", "min_count")},
        }
        cursor = conn.cursor()
        try:
            cursor.execute(_CURSOR_SETTINGS)
            hourly = cursor.sql(_sql("compliance_hourly_ids"), params=wanted).to_arrow_table()
        finally:
            cursor.close()
    if not isinstance(hourly, pa.Table):  # newer DuckDB may hand back a reader
        hourly = hourly.read_all()
    # codes are offsets from the smallest wanted id (ids are small and dense in practice;
    # _dense_join checks the grid's size)
    n_site, n_par = s_ids[-1] - s_ids[0] + 1, p_ids[-1] - p_ids[0] + 1
    h_site = hourly["site_id"].to_numpy().astype(np.int64) - s_ids[0]
    h_par = hourly["parameter_id"].to_numpy().astype(np.int64) - p_ids[0]
    h = hourly["h"].to_numpy().astype(np.int64)  # whole hours since the epoch, UTC
    n = hourly["n"].to_numpy().astype(np.int32)
    mean = hourly["mean"].to_numpy().astype(np.float64)  # null (too few values): NaN
    site_code = pa.array(_by_offset(site_id, s_ids[0], n_site), pa.string())
    par_code = pa.array(_by_offset(par_id, p_ids[0], n_par), pa.string())

    def hours(rows: np.ndarray | slice) -> pa.Table:
        """The hours ``rows`` with codes and times (built for the kept rows only: a take
        of 960,000 strings costs more than the judging)."""
        return pa.table(
            {
                "site": site_code.take(pa.array(h_site[rows])),
                "parameter": par_code.take(pa.array(h_par[rows])),
                "hour": pa.array(h[rows] * 3_600_000_000, pa.timestamp("us", tz="UTC")),
                "count": pa.array(n[rows], pa.int32()),
                "valid": pa.array(n[rows] >= params["min_count"]),  # HJ 76-2017 Annex B
                "mean": pa.array(mean[rows], pa.float64(), from_pandas=True),  # NaN → null
            }
        )

    # the limits' rows of known outlets and parameters, as codes
    lim_s = pc.index_in(limits["site"], value_set=site_code)
    lim_p = pc.index_in(limits["parameter"], value_set=par_code)
    known = np.flatnonzero(pc.and_(pc.is_valid(lim_s), pc.is_valid(lim_p)).to_numpy())
    o2 = par_id.get(params["oxygen"])
    found = _dense_join(
        h_site,
        h_par,
        h,
        mean,
        pc.fill_null(lim_s, 0).to_numpy().astype(np.int64)[known],
        pc.fill_null(lim_p, 0).to_numpy().astype(np.int64)[known],
        n_site,
        n_par,
        o2 - p_ids[0] if o2 is not None else -1,
    )
    if found is None:  # an empty result or a grid too big: the joins on the codes' text
        return _judge(hours(slice(None)), limits, params["oxygen"])
    keep, rows, o2_hour = found
    return _compare(_joined(hours(keep), limits.take(pa.array(known[rows])), o2_hour))


def _by_offset(ids: Mapping[str, int], first: int, n: int) -> list[str | None]:
    """Codes by ``id - first`` (None for ids in the range that are not wanted)."""
    out: list[str | None] = [None] * n
    for code, i in ids.items():
        out[i - first] = code
    return out
