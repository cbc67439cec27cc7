"""Bulk evaluation of outlets' minute or hourly data against their permit limits.

One function, engines for its heavy half (minute → hour means), and one shared judge of the
hours (O2 beside each hour, conversion, exceedance: :mod:`shanshui.rules.compliance_judge`),
so every engine gives the same result:

- on a :class:`~shanshui.store.duck.DuckDBStore`: the store's integer-keyed readings (table
  ``obs``, migration 0004) filtered and grouped on the outlets' and parameters' ids in DuckDB,
  judged on dense integer codes (:mod:`shanshui.rules.compliance_store`);
- on a ``duckdb.DuckDBPyConnection`` holding an ``observation`` table of the store's columns
  (or a frame with ``engine="duckdb"``): ``rules/sql/compliance_hourly.sql``, grouped on the
  codes' text (:mod:`shanshui.rules.compliance_store`);
- on a frame or any other store (read through ``store.reading.read_arrow``): Arrow ``group_by`` in
  memory (here).

This module keeps the public names: the schemas, the limits' normalisation, the dispatch of
:func:`evaluate_hours`, the Arrow engine and the outlet-hour / share summaries.

- :func:`evaluate_hours` ``(source, limits, *, start=None, end=None, period="minute",
  statistic="avg", oxygen="a19001", engine="auto", sort=False) -> pa.Table`` — per outlet,
  parameter and hour: the hourly mean of the valid values with its count and validity, the
  value compared with the limit (reference-oxygen converted where the permit says so), the
  exceedance flag and multiple. ``source`` is a store, a ``duckdb.DuckDBPyConnection`` or a
  long frame (``pa.Table`` / ``pd.DataFrame`` with columns ``site, parameter, time, value,
  flag``).
- :func:`outlet_hours` ``(hours: pa.Table) -> pa.Table`` — per outlet and hour: parameters
  evaluated, parameters exceeded, in compliance or not.
- :func:`compliance_share` ``(outlet_hours: pa.Table) -> ComplianceShare`` — the share of
  source-hours in compliance (全面达标排放: compliant hours / evaluated hours).

``limits`` is a table (``pa.Table``, ``pd.DataFrame`` or a list of dicts), one row per outlet
and parameter:

==============  ========  ==================================================================
column          type      meaning
==============  ========  ==================================================================
site            str       the outlet's site code (the permit references outlets by it)
parameter       str       HJ 212 code (a34013 particulate, a21026 SO2, a21002 NOx as NO2 …)
limit           float     the permitted hourly concentration [mg/m³]
reference_o2    float     the reference O2 the limit is stated at [%]; null: none
basis           str       ``'converted'`` (compare the reference-oxygen converted value) or
                          ``'measured'``; optional — default: converted where reference_o2
                          is given, else measured
==============  ========  ==================================================================

The result of :func:`evaluate_hours`, one row per (site, parameter, hour) with any stored
value of that parameter in that hour, in no particular order (``sort=True`` or
:func:`sort_hours` sorts by site, parameter, hour):

=================  ===============  =============================================================
column             type             meaning
=================  ===============  =============================================================
site               string
parameter          string
hour               timestamp[us,    start of the hour (DESIGN §4); UTC clock hours, which are
                   UTC]             the local hours of whole-hour zones such as Asia/Shanghai
count              int32            valid values in the hour (flag N, finite)
valid              bool             count ≥ 45 minutes (HJ 76-2017 Annex B); hourly input: ≥ 1
mean               float64          hourly mean of the valid values [mg/m³]; null when invalid
o2                 float64          hourly mean O2 [%] (converted basis only; null when invalid)
reference_o2       float64          from the limits [%]
basis              string           ``converted`` or ``measured``
value              float64          the value compared with the limit [mg/m³]: converted or
                                    measured hourly mean; null when the hour (or its O2) is
                                    invalid or O2 ≥ 20.9 %
limit              float64          [mg/m³]
exceeded           bool             value > limit (strictly; a null value never exceeds)
ratio              float64          value / limit
excess_multiple    float64          超标倍数 (value − limit) / limit (negative when within)
=================  ===============  =============================================================

Rules and choices (the same in both engines):

- Minute → hour: only flag N values count (HJ 212-2017 Table 6; the F/M/S/D/C/T/B hours are
  the stop / invalid cases of HJ 75-2017 §12, :data:`shanshui.standards.emissions.FLAG_CASE`);
  an hourly mean needs ≥ 45 valid minutes (HJ 76-2017 Annex B).
- CHOICE: the converted hourly value is the conversion of the hourly means,
  ``mean(C) × (21 − O2_ref) / (21 − mean(O2))`` — not the mean of minute-level conversions.
  That is the value the CEMS hourly report (HJ 75-2017 Annex, 小时数据报表) and the HJ 212
  hourly frame (CN 2061 ``ZsAvg``) carry beside the hourly C and O2 means, so the platform
  reproduces what a device reports and what an inspector recomputes from the report; it also
  keeps a single near-ambient O2 minute from blowing the hour up. The converted value needs a
  valid O2 hour (≥ 45 valid minutes) and O2 < 20.9 % (GB 13223-2011 §5.2; the guard of
  :func:`~shanshui.standards.emissions.reference_oxygen_conversion`).
- An hour is an exceedance when the compared value is strictly above the limit (GB 13223-2011
  limits are maxima; the hourly mean is compared unrounded).
- Hours with no stored value of a parameter produce no row (missing data are the offline /
  data-quality rules' concern, not exceedance).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shanshui.errors import CallerError
from shanshui.rules.compliance_judge import DENSE_GRID_MAX, RESULT_SCHEMA, _judge
from shanshui.rules.compliance_store import (
    HOURLY_PARAMETERS,
    PERFECT_HASH_BITS,
    SITE_FILTER_MAX,
    _duckdb_hours,
    _sql,
    _store_hours,
)
from shanshui.store.api import Store
from shanshui.store.duck import DuckDBStore
from shanshui.store.reading import read_arrow

# DENSE_GRID_MAX, HOURLY_PARAMETERS, PERFECT_HASH_BITS and SITE_FILTER_MAX are re-exported for
# reading; the modules that define them read them there (set them there, e.g. in a test).
__all__ = [
    "DENSE_GRID_MAX",
    "HOURLY_PARAMETERS",
    "LIMITS_SCHEMA",
    "PERFECT_HASH_BITS",
    "RESULT_SCHEMA",
    "SITE_FILTER_MAX",
    "ComplianceError",
    "ComplianceShare",
    "compliance_share",
    "evaluate_hours",
    "outlet_hours",
]

#: HJ 76-2017 Annex B: an hourly mean needs at least 45 valid minute values.
MIN_MINUTES_PER_HOUR = 45
#: HJ 212 code of the flue gas's O2 content [%].
OXYGEN = "a19001"

Engine = Literal["auto", "duckdb", "arrow"]
Period = Literal["minute", "hour"]


class ComplianceError(CallerError):
    """Arguments the compliance evaluator cannot use (a limits table without its columns …)."""


LIMITS_SCHEMA = pa.schema(
    [
        ("site", pa.string()),
        ("parameter", pa.string()),
        ("limit", pa.float64()),
        ("reference_o2", pa.float64()),
        ("basis", pa.string()),
    ]
)

OUTLET_HOURS_SCHEMA = pa.schema(
    [
        ("site", pa.string()),
        ("hour", pa.timestamp("us", tz="UTC")),
        ("evaluated", pa.int32()),
        ("exceeded", pa.int32()),
        ("compliant", pa.bool_()),
    ]
)


@dataclass(frozen=True)
class ComplianceShare:
    """Source-hours in compliance (全面达标排放).

    Attributes
    ----------
    compliant_hours : int
        Outlet-hours with at least one valid evaluated parameter and no exceedance.
    evaluated_hours : int
        Outlet-hours with at least one valid evaluated parameter.
    share : float
        ``compliant_hours / evaluated_hours``; NaN when nothing was evaluated.
    """

    compliant_hours: int
    evaluated_hours: int
    share: float


# -- limits -----------------------------------------------------------------------------------
def normalise_limits(limits: pa.Table | pd.DataFrame | Sequence[Mapping[str, Any]]) -> pa.Table:
    """The limits as a :data:`LIMITS_SCHEMA` table, ``basis`` filled in and checked."""
    if isinstance(limits, pd.DataFrame):
        table = pa.Table.from_pandas(limits, preserve_index=False)
    elif isinstance(limits, pa.Table):
        table = limits
    else:
        table = pa.Table.from_pylist([dict(r) for r in limits])
    missing = {"site", "parameter", "limit"} - set(table.column_names)
    if missing:
        raise ComplianceError(f"the limits table lacks the columns {sorted(missing)}")
    n = table.num_rows
    ref = (
        table["reference_o2"].cast(pa.float64())
        if "reference_o2" in table.column_names
        else pa.nulls(n, pa.float64())
    )
    if "basis" in table.column_names:
        basis = table["basis"].cast(pa.string())
        basis = pc.if_else(
            pc.is_null(basis), pc.if_else(pc.is_null(ref), "measured", "converted"), basis
        )
    else:
        basis = pc.if_else(pc.is_null(ref), "measured", "converted")
    out = pa.table(
        {
            "site": table["site"].cast(pa.string()),
            "parameter": table["parameter"].cast(pa.string()),
            "limit": table["limit"].cast(pa.float64()),
            "reference_o2": ref,
            "basis": basis,
        },
        schema=LIMITS_SCHEMA,
    )
    bad = set(pc.unique(out["basis"]).to_pylist()) - {"converted", "measured"}
    if bad:
        raise ComplianceError(f"basis must be 'converted' or 'measured', not {sorted(bad)}")
    no_ref = pc.and_(pc.equal(out["basis"], "converted"), pc.is_null(out["reference_o2"]))
    if pc.any(no_ref).as_py():
        raise ComplianceError("a limit on the converted basis needs its reference_o2")
    if pc.any(pc.is_null(out["limit"])).as_py() or pc.any(pc.is_null(out["site"])).as_py():
        raise ComplianceError("every limit needs a site and a value")
    keys = pa.table({"s": out["site"], "p": out["parameter"]}).group_by(["s", "p"])
    if keys.aggregate([]).num_rows != n:
        raise ComplianceError("the limits table holds a (site, parameter) twice")
    return out


# -- the Arrow / numpy engine -----------------------------------------------------------------
def _long_table(frame: pa.Table | pd.DataFrame) -> pa.Table:
    table = (
        pa.Table.from_pandas(frame, preserve_index=False)
        if isinstance(frame, pd.DataFrame)
        else frame
    )
    missing = {"site", "parameter", "time", "value"} - set(table.column_names)
    if missing:
        raise ComplianceError(f"the data lack the columns {sorted(missing)}")
    return table


def _arrow_hours(
    data: pa.Table, limits: pa.Table, *, start: Any, end: Any, oxygen: str, min_count: int
) -> pa.Table:
    wanted = pa.concat_tables(
        [
            limits.select(["site", "parameter"]),
            pa.table(
                {
                    "site": limits.filter(pc.equal(limits["basis"], "converted"))["site"],
                    "parameter": pa.array(
                        [oxygen] * int(pc.sum(pc.equal(limits["basis"], "converted")).as_py() or 0),
                        pa.string(),
                    ),
                }
            ),
        ]
    )
    wanted = wanted.group_by(["site", "parameter"]).aggregate([])
    site = data["site"].cast(pa.string())
    parameter = data["parameter"].cast(pa.string())
    time = data["time"]
    if not pa.types.is_timestamp(time.type) or time.type.tz is None:
        raise ComplianceError("data.time must be a time-zone aware timestamp")
    time = time.cast(pa.timestamp("us", tz="UTC"))
    keep = pc.is_in(
        pc.binary_join_element_wise(site, parameter, "\x1f"),
        value_set=pc.binary_join_element_wise(wanted["site"], wanted["parameter"], "\x1f"),
    )
    if start is not None:
        keep = pc.and_(keep, pc.greater_equal(time, pa.scalar(_ts(start), time.type)))
    if end is not None:
        keep = pc.and_(keep, pc.less(time, pa.scalar(_ts(end), time.type)))
    value = data["value"].cast(pa.float64())
    flag = (
        data["flag"].cast(pa.string())
        if "flag" in data.column_names
        else pa.nulls(len(data), pa.string())
    )
    # only flag N (or no / an empty flag, HJ 212-2017 §6.6) and a finite number is valid
    good = pc.and_(
        pc.or_(pc.is_null(flag), pc.is_in(flag, value_set=pa.array(["N", ""]))),
        pc.is_finite(pc.fill_null(value, np.nan)),
    )
    v = pc.if_else(good, value, pa.scalar(None, pa.float64()))
    slim = pa.table(
        {
            "site": site,
            "parameter": parameter,
            "hour": pc.floor_temporal(time, unit="hour"),
            "v": v,
        }
    ).filter(keep)
    hourly = slim.group_by(["site", "parameter", "hour"]).aggregate([("v", "mean"), ("v", "count")])
    n = hourly["v_count"].cast(pa.int32())
    valid = pc.greater_equal(n, min_count)  # HJ 76-2017 Annex B: ≥ 45 valid minutes
    mean = pc.if_else(valid, hourly["v_mean"], pa.scalar(None, pa.float64()))
    hourly = pa.table(
        {
            "site": hourly["site"],
            "parameter": hourly["parameter"],
            "hour": hourly["hour"],
            "count": n,
            "valid": valid,
            "mean": mean,
        }
    )
    return _judge(hourly, limits, oxygen)


#: The widest window, for an open start or end (the SQL compares with both).
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def _ts(value: Any) -> datetime:
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise ComplianceError(f"start and end must be time-zone aware, not {value!r}")
    return ts.tz_convert("UTC").to_pydatetime()


# -- the one entry point ----------------------------------------------------------------------
def evaluate_hours(
    source: Any,
    limits: pa.Table | pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    period: Period = "minute",
    statistic: str = "avg",
    oxygen: str = OXYGEN,
    engine: Engine = "auto",
    sort: bool = False,
) -> pa.Table:
    """Hourly means of outlets' data compared with their permit limits (module docstring).

    Parameters
    ----------
    source : DuckDBStore, Store, duckdb.DuckDBPyConnection, pa.Table or pd.DataFrame
        Where the readings are: a store (a DuckDB store: its ``obs`` table by integer ids;
        another: :func:`shanshui.store.reading.read_arrow`), a DuckDB connection with
        an ``observation`` table of the store's schema, or a long frame with columns ``site,
        parameter, time`` (tz-aware), ``value`` and optionally ``flag``.
    limits : table
        One row per (site, parameter): ``site, parameter, limit [mg/m³], reference_o2 [%]
        (null: none), basis`` (module docstring).
    start, end : datetime or ISO string, tz-aware, optional
        The window ``[start, end)``; a store needs both.
    period : {'minute', 'hour'}
        The stored period to read: minute values (hourly mean needs ≥ 45 valid minutes,
        HJ 76-2017 Annex B) or hourly values (each valid hour stands alone).
    statistic : str
        The stored statistic to read from a store (``'avg'``); frames carry one statistic.
    oxygen : str
        The O2 parameter code (HJ 212 ``a19001``).
    engine : {'auto', 'duckdb', 'arrow'}
        ``auto``: DuckDB for a DuckDB store or connection, Arrow/numpy for frames and other
        stores. ``duckdb`` on a frame runs the same SQL on an in-memory DuckDB.
    sort : bool
        Sort the rows by site, parameter and hour (:func:`sort_hours`); default: no
        particular order (sorting a million rows on two strings costs as much as the joins).

    Returns
    -------
    pa.Table
        :data:`RESULT_SCHEMA`, one row per (site, parameter, hour) with data.
    """
    result = _evaluate(source, limits, start, end, period, statistic, oxygen, engine)
    return sort_hours(result) if sort else result


def sort_hours(table: pa.Table, keys: Sequence[str] = ("site", "parameter", "hour")) -> pa.Table:
    """``table`` sorted by ``keys`` (strings ranked once, then one integer argsort)."""
    if table.num_rows == 0:
        return table
    composite = np.zeros(table.num_rows, dtype=np.int64)
    for key in keys:
        col = table[key]
        uniq = pc.unique(col)
        uniq = uniq.take(pc.sort_indices(uniq))
        codes = pc.index_in(col, value_set=uniq).to_numpy(zero_copy_only=False)
        composite = composite * len(uniq) + codes.astype(np.int64)
    return table.take(pa.array(np.argsort(composite, kind="stable")))


def _evaluate(  # noqa: PLR0917 - the keywords of evaluate_hours, passed on
    source: Any,
    limits: pa.Table | pd.DataFrame | Sequence[Mapping[str, Any]],
    start: datetime | str | None,
    end: datetime | str | None,
    period: Period,
    statistic: str,
    oxygen: str,
    engine: Engine,
) -> pa.Table:
    if period not in ("minute", "hour"):
        raise ComplianceError(f"period must be 'minute' or 'hour', not {period!r}")
    lim = normalise_limits(limits)
    min_count = MIN_MINUTES_PER_HOUR if period == "minute" else 1
    if isinstance(source, Store) and (start is None or end is None):
        raise ComplianceError("evaluating a store needs both start and end")
    params: dict[str, Any] = {
        "start": _ts(start) if start is not None else _EARLIEST,
        "end": _ts(end) if end is not None else _LATEST,
        "statistic": statistic,
        "period": period,
        "oxygen": oxygen,
        "min_count": min_count,
    }
    if isinstance(source, DuckDBStore) and engine in ("auto", "duckdb"):
        return _store_hours(source, lim, params)
    if isinstance(source, duckdb.DuckDBPyConnection) and engine in ("auto", "duckdb"):
        return _duckdb_hours(source, lim, params)
    if isinstance(source, duckdb.DuckDBPyConnection):
        wanted = {k: params[k] for k in ("statistic", "period", "start", "end")}
        data = source.sql(_sql("compliance_observations"), params=wanted).to_arrow_table()
    elif isinstance(source, Store):
        # Arrow columns the fastest way the store gives them (PostgreSQL: COPY from obs by
        # ids), not Store.observations' frame: 1.9 s against 11.4 s for 432k readings
        parameters = sorted(set(lim["parameter"].to_pylist()) | {oxygen})
        wanted = {"sites": lim["site"].unique().to_pylist(), "parameters": parameters}
        wanted |= {k: params[k] for k in ("start", "end", "statistic", "period")}
        data = _long_table(read_arrow(source, wanted))
    else:
        data = _long_table(source)
    if engine == "duckdb":
        conn = duckdb.connect()
        try:
            conn.execute("set TimeZone = 'UTC'")
            obs = data.append_column(
                "statistic", pa.array([statistic] * len(data), pa.string())
            ).append_column("period", pa.array([period] * len(data), pa.string()))
            if "flag" not in obs.column_names:
                obs = obs.append_column("flag", pa.nulls(len(obs), pa.string()))
            conn.register("observation", obs)
            return _duckdb_hours(conn, lim, params)
        finally:
            conn.close()
    return _arrow_hours(data, lim, start=start, end=end, oxygen=oxygen, min_count=min_count)


# -- per outlet-hour and the share ------------------------------------------------------------
def outlet_hours(hours: pa.Table) -> pa.Table:
    """Per outlet and hour: valid parameters evaluated, exceeded, and compliance.

    An outlet-hour is in compliance when at least one parameter was validly evaluated and none
    exceeded its limit (全面达标: every permitted pollutant within its limit); an hour with no
    valid evaluation has ``compliant`` null (it is neither).

    Parameters
    ----------
    hours : pa.Table
        The result of :func:`evaluate_hours`.

    Returns
    -------
    pa.Table
        :data:`OUTLET_HOURS_SCHEMA` (``site, hour, evaluated, exceeded, compliant``), sorted.
    """
    valid_value = pc.and_(hours["valid"], pc.is_valid(hours["value"]))
    slim = pa.table(
        {
            "site": hours["site"],
            "hour": hours["hour"],
            "e": valid_value.cast(pa.int32()),
            "x": pc.and_(hours["exceeded"], valid_value).cast(pa.int32()),
        }
    )
    agg = slim.group_by(["site", "hour"]).aggregate([("e", "sum"), ("x", "sum")])
    evaluated = agg["e_sum"].cast(pa.int32())
    exceeded = agg["x_sum"].cast(pa.int32())
    compliant = pc.if_else(
        pc.greater(evaluated, 0), pc.equal(exceeded, 0), pa.scalar(None, pa.bool_())
    )
    out = pa.table(
        {
            "site": agg["site"],
            "hour": agg["hour"],
            "evaluated": evaluated,
            "exceeded": exceeded,
            "compliant": compliant,
        }
    )
    return out.sort_by([("site", "ascending"), ("hour", "ascending")]).cast(OUTLET_HOURS_SCHEMA)


def compliance_share(hours: pa.Table) -> ComplianceShare:
    """The share of source-hours in compliance (全面达标排放).

    Parameters
    ----------
    hours : pa.Table
        The result of :func:`outlet_hours` (or of :func:`evaluate_hours`, which is reduced to
        outlet-hours first).

    Returns
    -------
    ComplianceShare
    """
    if "compliant" not in hours.column_names:
        hours = outlet_hours(hours)
    compliant = int(pc.sum(pc.fill_null(hours["compliant"], False).cast(pa.int64())).as_py() or 0)
    evaluated = int(pc.sum(pc.is_valid(hours["compliant"]).cast(pa.int64())).as_py() or 0)
    share = compliant / evaluated if evaluated else float("nan")
    return ComplianceShare(compliant, evaluated, share)
