"""The judging of hourly means against permit limits, shared by every compliance engine.

The engines of :func:`shanshui.rules.compliance.evaluate_hours` (the DuckDB ones in
:mod:`shanshui.rules.compliance_store`, the Arrow one in :mod:`shanshui.rules.compliance`)
compute the hourly means (``site, parameter, hour, count, valid, mean``); this module joins
each hour with its outlet's limit and with the outlet's O2 hour, converts to the reference
oxygen where the permit says so and compares, so every engine gives the same result
(:data:`RESULT_SCHEMA`, documented in :mod:`shanshui.rules.compliance`):

- :func:`_judge` ``(hourly, limits, oxygen) -> pa.Table`` — hours keyed by code text: the joins
  on dense integer codes (:func:`_join_by_codes`), or Arrow hash joins past
  :data:`DENSE_GRID_MAX` cells, then :func:`_compare`;
- :func:`_dense_join` — the two joins (limits on site and parameter; the O2 hour on site and
  hour) through dense lookup arrays, for any engine that has integer codes (the DuckDB store
  path calls it on its ids directly);
- :func:`_joined` — the kept hours beside their limits rows and O2 hour means;
- :func:`_compare` — the reference-oxygen conversion (GB 13223-2011 §5.2, of the hourly
  means: the CHOICE in :mod:`shanshui.rules.compliance`) and the exceedance (strictly above
  the limit).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shanshui.rules.exceedance import exceeds_array
from shanshui.standards.emissions import reference_oxygen_conversion

#: The result of :func:`~shanshui.rules.compliance.evaluate_hours` (its columns: the table in
#: :mod:`shanshui.rules.compliance`), defined here, where :func:`_compare` builds it.
RESULT_SCHEMA = pa.schema(
    [
        ("site", pa.string()),
        ("parameter", pa.string()),
        ("hour", pa.timestamp("us", tz="UTC")),
        ("count", pa.int32()),
        ("valid", pa.bool_()),
        ("mean", pa.float64()),
        ("o2", pa.float64()),
        ("reference_o2", pa.float64()),
        ("basis", pa.string()),
        ("value", pa.float64()),
        ("limit", pa.float64()),
        ("exceeded", pa.bool_()),
        ("ratio", pa.float64()),
        ("excess_multiple", pa.float64()),
    ]
)


#: Most cells of the dense (site × hour) O2 grid :func:`_dense_join` builds; a longer
#: window or more outlets fall back to Arrow joins.
DENSE_GRID_MAX = 50_000_000


def _dense_join(  # noqa: PLR0917 - the two tables' codes, positionally
    h_site: np.ndarray,
    h_par: np.ndarray,
    h_hour: np.ndarray,
    mean: np.ndarray,
    l_site: np.ndarray,
    l_par: np.ndarray,
    n_site: int,
    n_par: int,
    o2_code: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The two joins of :func:`_judge` (limits on site and parameter, inner; the O2 hour on
    site and hour, left) on integer codes, through dense lookup arrays instead of hash joins.

    ``h_*`` are the hours' site code ``[0, n_site)``, parameter code ``[0, n_par)``, hour
    (any integer count of hours) and mean (NaN: null); ``l_site, l_par`` the codes of the
    limits' rows (unique pairs). Returns the hours kept (those with a limit), the limits row
    of each and its O2 hour mean (NaN where none or null), or None when the grid would be
    too big (more than :data:`DENSE_GRID_MAX` cells)."""
    if h_site.size == 0 or l_site.size == 0:
        return None
    first = int(h_hour.min())
    hour_idx = h_hour - first
    n_hour = int(hour_idx.max()) + 1
    if n_site * max(n_hour, n_par) > DENSE_GRID_MAX:
        return None
    # limits: (site, parameter) → row of the limits table (normalise_limits made them unique)
    lim_row = np.full(n_site * n_par, -1, dtype=np.int64)
    lim_row[l_site * n_par + l_par] = np.arange(l_site.size)
    row_of = lim_row[h_site * n_par + h_par]
    keep = np.flatnonzero(row_of >= 0)
    # the O2 hour of each (site, hour): NaN where no O2 row or its mean is null
    grid = np.full(n_site * n_hour, np.nan)
    if o2_code >= 0:
        is_o2 = np.flatnonzero(h_par == o2_code)
        grid[h_site[is_o2] * n_hour + hour_idx[is_o2]] = mean[is_o2]
    o2 = grid[h_site[keep] * n_hour + hour_idx[keep]]
    return keep, row_of[keep], o2


def _joined(hours: pa.Table, lim: pa.Table, o2: np.ndarray) -> pa.Table:
    """The kept hours beside their limits rows and O2 hour means (all aligned)."""
    return pa.table(
        {
            **{name: hours[name] for name in hours.column_names},
            "limit": lim["limit"],
            "reference_o2": lim["reference_o2"],
            "basis": lim["basis"],
            "o2": pa.array(o2, pa.float64(), from_pandas=True),  # NaN → null
        }
    )


def _join_by_codes(hourly: pa.Table, limits: pa.Table, oxygen: str) -> pa.Table | None:
    """:func:`_dense_join` for hours keyed by site and parameter TEXT: one dictionary over
    the limits' and the hours' codes (measured 0.6 → 0.1 s for 960,000 hours against Arrow
    hash joins on strings). None when the grid would be too big."""
    if hourly.num_rows == 0 or limits.num_rows == 0:
        return None
    n_lim = limits.num_rows
    # one dictionary over the limits' and the hours' codes (chunks joined, not converted)
    site = pa.chunked_array([*limits["site"].chunks, *hourly["site"].chunks], pa.string())
    site = site.combine_chunks().dictionary_encode()
    par = pa.chunked_array([*limits["parameter"].chunks, *hourly["parameter"].chunks], pa.string())
    par = par.combine_chunks().dictionary_encode()
    site_code = site.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    par_code = par.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    us = hourly["hour"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    found = _dense_join(
        site_code[n_lim:],
        par_code[n_lim:],
        us // 3_600_000_000,  # hours are whole-hour starts in every engine
        hourly["mean"].to_numpy(zero_copy_only=False).astype(np.float64),
        site_code[:n_lim],
        par_code[:n_lim],
        len(site.dictionary),
        len(par.dictionary),
        par.dictionary.index(oxygen).as_py(),
    )
    if found is None:
        return None
    keep, rows, o2 = found
    return _joined(hourly.take(pa.array(keep)), limits.take(pa.array(rows)), o2)


def _judge(hourly: pa.Table, limits: pa.Table, oxygen: str) -> pa.Table:
    """Hourly means (``site, parameter, hour, count, valid, mean``) against the limits: the
    O2 hour beside each (:func:`_join_by_codes`, or Arrow hash joins past its grid), then
    :func:`_compare`."""
    joined = _join_by_codes(hourly, limits, oxygen)
    if joined is None:
        o2 = hourly.filter(pc.equal(hourly["parameter"], oxygen))
        o2 = o2.select(["site", "hour", "mean"]).rename_columns(["site", "hour", "o2"])
        joined = hourly.join(limits, ["site", "parameter"], join_type="inner")
        joined = joined.join(o2, ["site", "hour"], join_type="left outer")
    return _compare(joined)


def _compare(joined: pa.Table) -> pa.Table:
    """The hours joined with their limits and O2 hour: the conversion (GB 13223-2011 §5.2)
    where the basis is converted, the exceedance. One implementation for every engine."""
    converted = pc.equal(joined["basis"], "converted")
    mean_np = joined["mean"].to_numpy(zero_copy_only=False)
    o2_np = joined["o2"].to_numpy(zero_copy_only=False)
    ref_np = joined["reference_o2"].to_numpy(zero_copy_only=False)
    conv_np = converted.to_numpy(zero_copy_only=False)
    # the conversion of the hourly means (shanshui.rules.compliance docstring, CHOICE);
    # GB 13223-2011 §5.2
    value_np = np.where(conv_np, reference_oxygen_conversion(mean_np, o2_np, ref_np), mean_np)
    limit_np = joined["limit"].to_numpy(zero_copy_only=False)
    value_arr = pa.array(value_np, pa.float64(), from_pandas=True)  # NaN → null
    with np.errstate(invalid="ignore", divide="ignore"):  # a zero limit: ratio inf
        exceeded = exceeds_array(np.asarray(value_np, np.float64), np.asarray(limit_np, np.float64))
        ratio = value_np / limit_np
        excess = (value_np - limit_np) / limit_np
    result = pa.table(
        {
            "site": joined["site"],
            "parameter": joined["parameter"],
            "hour": joined["hour"],
            "count": joined["count"],
            "valid": joined["valid"],
            "mean": joined["mean"],
            "o2": pc.if_else(converted, joined["o2"], pa.scalar(None, pa.float64())),
            "reference_o2": joined["reference_o2"],
            "basis": joined["basis"],
            "value": value_arr,
            "limit": joined["limit"],
            "exceeded": pa.array(exceeded, pa.bool_()),
            "ratio": pa.array(ratio, pa.float64(), from_pandas=True),
            "excess_multiple": pa.array(excess, pa.float64(), from_pandas=True),
        }
    )
    return result.cast(RESULT_SCHEMA)
