"""Station and city assessment of ambient air over a period (GB 3095-2012, HJ 663-2013).

The pipeline, each step a pure function:

1. :func:`~shanshui.standards.cube.hourly_cube` — the canonical long table (``site, time,
   parameter, value, flag``; time tz-aware, labelled by the START of the hour) → a dense array
   ``(parameter, site, hour)`` over whole natural days; only valid data enter (HJ 212 flag
   ``N``, or no flag).
2. :func:`daily_statistics` — per station and day: 24-hour means of SO2, NO2, CO, PM10,
   PM2.5, the O3 daily maximum 8-hour mean and daily maximum 1-hour value, with counts.
3. :func:`city_daily` — a city's daily value is the arithmetic mean of the valid daily values
   of its assessment stations (HJ 663-2013, 城市点位); reference/background stations
   (对照点) are kept out.
4. :func:`period_table` — per station or city and pollutant: period mean, HJ 663 percentile,
   counts and validity (GB 3095-2012 Table 4), exceedance multiple, compliance.
5. :func:`aqi_day_counts` — good days (AQI ≤ 100) and heavily polluted days (AQI > 200) from
   the daily AQI of HJ 633-2012.
6. :func:`assess_network` — all of the above for every station and city of a network.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from shanshui.standards.composite import (
    ANNUAL_LIMIT,
    DAILY_LIMIT,
    PERCENTILE,
    POLLUTANTS,
    assessed_limit,
    change_percent,
    change_points,
    compliant,
    composite_index,
    exceedance_multiple,
)
from shanshui.standards.cube import (
    HOURLY_PARAMETERS,
    TZ,
    VALID_FLAGS,
    HourlyCube,
    hourly_cube,
)
from shanshui.standards.statistics import (
    Aggregate,
    daily_max_1h,
    daily_max_8h,
    daily_mean,
    percentile_hj663,
)
from shanshui.standards.validity import AssessmentError, period_rule, period_valid

# The cube's names, re-exported: the assessment's front door is the canonical long table.
__all__ = [
    "HOURLY_PARAMETERS",
    "TZ",
    "VALID_FLAGS",
    "HourlyCube",
    "NetworkAssessment",
    "aqi_day_counts",
    "assess_cube",
    "assess_network",
    "city_daily",
    "city_groups",
    "daily_statistics",
    "hourly_cube",
    "period_table",
    "summary_table",
    "year_on_year",
]

FloatArray = NDArray[np.float64]

#: Daily series, as HJ 633-2012's daily AQI names them.
DAILY_SERIES: Final = ("SO2", "NO2", "CO", "PM10", "PM2.5", "O3_1h", "O3_8h")
#: Which daily series each pollutant's period statistics are computed from (HJ 663-2013).
SERIES_OF: Final = {
    "SO2": "SO2",
    "NO2": "NO2",
    "PM10": "PM10",
    "PM2.5": "PM2.5",
    "CO": "CO",
    "O3": "O3_8h",
}


def daily_statistics(cube: HourlyCube) -> dict[str, Aggregate]:
    """Daily statistics of every site and day (HJ 633-2012 daily AQI inputs).

    - ``SO2, NO2, CO, PM10, PM2.5``: 24-hour means, ≥ 20 hours (GB 3095-2012 Table 4);
    - ``O3_8h``: daily maximum 8-hour mean, ≥ 14 valid windows of ≥ 6 hours (HJ 663-2013);
    - ``O3_1h``: daily maximum 1-hour value (≥ 20 hours, shanshui's choice, see
      :func:`~shanshui.standards.statistics.daily_max_1h`).

    Parameters
    ----------
    cube : HourlyCube

    Returns
    -------
    dict of str to Aggregate, each of shape (n_sites, n_days)
    """
    out: dict[str, Aggregate] = {}
    for p in ("SO2", "NO2", "CO", "PM10", "PM2.5"):
        out[p] = daily_mean(cube.parameter(p))
    o3 = cube.parameter("O3")
    out["O3_1h"] = daily_max_1h(o3)
    out["O3_8h"] = daily_max_8h(o3)
    return out


def city_daily(
    daily: dict[str, Aggregate], groups: NDArray[np.intp], n_groups: int
) -> dict[str, Aggregate]:
    """City daily values: the arithmetic mean of the valid daily values of its stations.

    HJ 663-2013 (城市尺度): a city's daily concentration of each pollutant (and its O3 daily
    maximum 8-hour and 1-hour values) is the mean over its assessment stations (城市点位)
    that have a valid daily value that day; reference/background stations (对照点) take no
    part (give them group -1). Choice: a city day is valid with at least one valid station;
    ``count`` says how many stations it rests on and ``expected`` how many the city has.

    Parameters
    ----------
    daily : dict of str to Aggregate, each (n_sites, n_days)
    groups : NDArray[intp], shape (n_sites,)
        City index 0..n_groups-1 of each site; -1 = not part of any city value.
    n_groups : int

    Returns
    -------
    dict of str to Aggregate, each (n_groups, n_days)
    """
    g = np.asarray(groups, dtype=np.intp)
    inside = np.nonzero(g >= 0)[0]
    order = inside[np.argsort(g[inside], kind="stable")]  # member sites, city by city
    cities, starts = np.unique(g[order], return_index=True)
    size = np.bincount(g[inside], minlength=n_groups).astype(np.int64)
    out: dict[str, Aggregate] = {}
    for key, agg in daily.items():
        n_days = agg.value.shape[-1]
        total = np.zeros((n_groups, n_days))
        count = np.zeros((n_groups, n_days), dtype=np.int64)
        if order.size:
            ok = (agg.valid & ~np.isnan(agg.value))[order]
            total[cities] = np.add.reduceat(np.where(ok, agg.value[order], 0.0), starts, axis=0)
            count[cities] = np.add.reduceat(ok.astype(np.int64), starts, axis=0)
        valid = count >= 1
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(valid, total / np.maximum(count, 1), np.nan)
        expected = np.broadcast_to(size[:, None], count.shape).copy()
        out[key] = Aggregate(value, count, expected, valid)
    return out


def period_table(
    daily: dict[str, Aggregate],
    entities: Sequence[str],
    first_day: dt.date,
    last_day: dt.date,
) -> pd.DataFrame:
    """Period statistics of each entity (station or city) and pollutant, with validity.

    Over the days ``first_day`` .. ``last_day`` (the daily arrays' full length):

    - ``mean``: mean of the valid daily values (GB 3095-2012 §3 月/年平均; for O3 the mean of
      the daily maximum 8-hour values, given for information);
    - ``percentile`` (rank ``percentile_rank``, HJ 663-2013: 98 for SO2, NO2; 95 for PM10,
      PM2.5, CO; 90 for O3) and ``p98``, by HJ 663-2013's percentile formula;
    - ``valid_days``, ``expected_days``, ``minimum_days`` and ``valid`` — GB 3095-2012 Table 4
      (see :func:`~shanshui.standards.validity.period_rule`); an invalid period has NaN
      statistics;
    - ``assessed``: the concentration held against the limit (mean for SO2, NO2, PM10, PM2.5;
      percentile for CO, O3), ``limit_II``, ``exceedance_multiple`` (HJ 663-2013),
      ``compliant_II`` and ``compliant_I`` (HJ 663-2013 年评价);
    - ``days_over_limit`` and ``max_daily``: days whose value exceeds the grade II 24-hour
      (O3: 8-hour) limit, and the largest daily value.

    Parameters
    ----------
    daily : dict of str to Aggregate, each (n_entities, n_days)
    entities : sequence of str
    first_day, last_day : datetime.date

    Returns
    -------
    pandas.DataFrame
        Index (entity, pollutant).
    """
    rule = period_rule(first_day, last_day)
    n_days = rule.expected_days
    frames = []
    for p in POLLUTANTS:
        agg = daily[SERIES_OF[p]]
        if agg.value.shape[-1] != n_days:
            raise AssessmentError(
                f"{p}: {agg.value.shape[-1]} daily values for a period of {n_days} days"
            )
        ok = agg.valid & ~np.isnan(agg.value)
        values = np.where(ok, agg.value, np.nan)
        count = ok.sum(axis=-1)
        total = np.where(ok, agg.value, 0.0).sum(axis=-1)
        good = period_valid(ok, rule, first_day)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(good, total / np.maximum(count, 1), np.nan)
        rank = PERCENTILE[p]
        pct = np.where(good, percentile_hj663(values, rank), np.nan)
        p98 = np.where(good, percentile_hj663(values, 98.0), np.nan)
        assessed = mean if p in ANNUAL_LIMIT else pct
        limit = assessed_limit(p, 2)
        over = (values > DAILY_LIMIT[p][1]).sum(axis=-1)
        peak = np.where(ok, agg.value, -np.inf).max(axis=-1, initial=-np.inf)
        frames.append(
            pd.DataFrame(
                {
                    "entity": list(entities),
                    "pollutant": p,
                    "mean": mean,
                    "percentile_rank": rank,
                    "percentile": pct,
                    "p98": p98,
                    "valid_days": count.astype(np.int64),
                    "expected_days": n_days,
                    "minimum_days": rule.minimum_days,
                    "valid": good,
                    "assessed": assessed,
                    "limit_II": limit,
                    "exceedance_multiple": np.where(
                        good, exceedance_multiple(assessed, limit), np.nan
                    ),
                    "compliant_II": good & compliant(p, mean, pct, 2),
                    "compliant_I": good & compliant(p, mean, pct, 1),
                    "days_over_limit": over.astype(np.int64),
                    "max_daily": np.where(np.isneginf(peak), np.nan, peak),
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    return table.set_index(["entity", "pollutant"]).sort_index()


def aqi_day_counts(daily: dict[str, Aggregate], entities: Sequence[str]) -> pd.DataFrame:
    """Good days (优良天数) and heavily polluted days of each entity, from the daily AQI.

    HJ 633-2012: the daily AQI from the 24-hour means of SO2, NO2, CO, PM10, PM2.5 and the
    daily maxima O3_1h and O3_8h; 优良 = AQI ≤ 100 (levels 1–2), 重度及以上污染 = AQI > 200
    (levels 5–6). The share is over the days with a valid AQI (有效监测天数). Choice: a day
    has a valid AQI when all seven daily inputs are valid (an AQI missing a pollutant would
    understate the day).

    Parameters
    ----------
    daily : dict of str to Aggregate, each (n_entities, n_days)
    entities : sequence of str

    Returns
    -------
    pandas.DataFrame
        Index entity; columns ``aqi_days``, ``good_days``, ``good_days_ratio``,
        ``heavy_days``, ``heavy_days_ratio``.
    """
    # HJ 633-2012 lives in the sibling module shanshui.standards.aqi (imported late so that
    # the period statistics work without it).
    daily_aqi: Callable[[pd.DataFrame], pd.DataFrame] = importlib.import_module(
        "shanshui.standards.aqi"
    ).daily_aqi
    first = daily[DAILY_SERIES[0]]
    n_entities, n_days = first.value.shape
    complete = np.ones((n_entities, n_days), dtype=bool)
    for key in DAILY_SERIES:
        complete &= daily[key].valid
    rows = np.nonzero(complete.ravel())[0]
    inputs = pd.DataFrame({key: daily[key].value.ravel()[rows] for key in DAILY_SERIES})
    aqi = np.full(n_entities * n_days, np.nan)
    if len(inputs):
        aqi[rows] = daily_aqi(inputs)["AQI"].to_numpy(dtype=np.float64)
    aqi2 = aqi.reshape(n_entities, n_days)
    days = complete.sum(axis=1)
    good = (aqi2 <= 100).sum(axis=1)
    heavy = (aqi2 > 200).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame(
            {
                "aqi_days": days.astype(np.int64),
                "good_days": good.astype(np.int64),
                "good_days_ratio": np.where(days > 0, good / np.maximum(days, 1), np.nan),
                "heavy_days": heavy.astype(np.int64),
                "heavy_days_ratio": np.where(days > 0, heavy / np.maximum(days, 1), np.nan),
            },
            index=pd.Index(list(entities), name="entity"),
        )


def summary_table(table: pd.DataFrame, days: pd.DataFrame | None) -> pd.DataFrame:
    """Per entity: composite index (MEP ranking rule) and AQI day counts.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`period_table`.
    days : pandas.DataFrame or None
        From :func:`aqi_day_counts`.

    Returns
    -------
    pandas.DataFrame
        Index entity; single-item indices ``I_*``, ``composite_index`` (NaN unless all six
        pollutants are valid), ``max_index_pollutant``, ``valid_pollutants`` and the day
        counts.
    """
    assessed = table["assessed"].unstack("pollutant")
    out = composite_index(assessed.reindex(columns=list(POLLUTANTS)))
    out["valid_pollutants"] = table["valid"].unstack("pollutant").sum(axis=1).astype(np.int64)
    if days is not None:
        out = out.join(days)
    out.index.name = "entity"
    return out


@dataclass(frozen=True)
class NetworkAssessment:
    """Everything :func:`assess_network` computes for one period.

    Attributes
    ----------
    first_day, last_day : datetime.date
    stations, cities : pandas.DataFrame
        :func:`period_table` of the stations and of the cities.
    station_summary, city_summary : pandas.DataFrame
        :func:`summary_table` of the stations and of the cities.
    members : dict of str to list of str
        The assessment stations of each city (reference stations left out).
    reference : dict of str to list of str
        The reference/background stations of each city (kept, not in the city value).
    """

    first_day: dt.date
    last_day: dt.date
    stations: pd.DataFrame
    cities: pd.DataFrame
    station_summary: pd.DataFrame
    city_summary: pd.DataFrame
    members: dict[str, list[str]]
    reference: dict[str, list[str]]


def city_groups(
    sites: Sequence[str], stations: pd.DataFrame
) -> tuple[NDArray[np.intp], list[str], dict[str, list[str]], dict[str, list[str]]]:
    """Map sites to cities for the city value (HJ 663-2013: assessment stations only).

    Parameters
    ----------
    sites : sequence of str
        Station codes in cube order.
    stations : pandas.DataFrame
        The station list: ``code``, ``city``, ``reference`` (bool, 对照点).

    Returns
    -------
    groups : NDArray[intp]
        City index per site; -1 for reference stations and sites missing from the list.
    cities : list of str
    members, reference : dict of str to list of str
    """
    table = stations.drop_duplicates("code", keep="last").set_index("code")
    city = table["city"].reindex(list(sites))
    ref = table["reference"].reindex(list(sites)).fillna(False).astype(bool)
    cities = sorted(city.dropna().astype(str).unique())
    index = {c: i for i, c in enumerate(cities)}
    groups = np.full(len(sites), -1, dtype=np.intp)
    members: dict[str, list[str]] = {c: [] for c in cities}
    reference: dict[str, list[str]] = {c: [] for c in cities}
    for i, (site, c, r) in enumerate(zip(sites, city.to_numpy(), ref.to_numpy(), strict=True)):
        if not isinstance(c, str):
            continue
        if r:
            reference[c].append(site)
        else:
            groups[i] = index[c]
            members[c].append(site)
    return groups, cities, members, reference


def assess_network(
    frame: pd.DataFrame,
    stations: pd.DataFrame,
    start: dt.date,
    end: dt.date,
    *,
    with_aqi: bool | None = None,
) -> NetworkAssessment:
    """Assess every station and city of a network over ``start`` .. ``end``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Canonical long table (see :func:`hourly_cube`).
    stations : pandas.DataFrame
        Station list with ``code``, ``city``, ``reference`` (see :func:`city_groups`).
    start, end : datetime.date
        First and last natural day (inclusive).
    with_aqi : bool, optional
        Count good and heavily polluted days (needs :mod:`shanshui.standards.aqi`); default:
        when that module is installed.

    Returns
    -------
    NetworkAssessment
    """
    cube = hourly_cube(frame, start, end)
    return assess_cube(cube, stations, end, with_aqi=with_aqi)


def assess_cube(
    cube: HourlyCube, stations: pd.DataFrame, end: dt.date, *, with_aqi: bool | None = None
) -> NetworkAssessment:
    """:func:`assess_network` from a ready :class:`HourlyCube` ending on ``end``."""
    if with_aqi is None:
        with_aqi = importlib.util.find_spec("shanshui.standards.aqi") is not None
    daily = daily_statistics(cube)
    groups, cities, members, reference = city_groups(cube.sites, stations)
    cdaily = city_daily(daily, groups, len(cities))
    st = period_table(daily, cube.sites, cube.first_day, end)
    ct = period_table(cdaily, cities, cube.first_day, end)
    st_days = aqi_day_counts(daily, cube.sites) if with_aqi else None
    ct_days = aqi_day_counts(cdaily, cities) if with_aqi else None
    return NetworkAssessment(
        first_day=cube.first_day,
        last_day=end,
        stations=st,
        cities=ct,
        station_summary=summary_table(st, st_days),
        city_summary=summary_table(ct, ct_days),
        members=members,
        reference=reference,
    )


#: Columns of :func:`period_table` and :func:`summary_table` that are shares (compared in
#: percentage points year on year); every other numeric column is compared in percent.
SHARE_COLUMNS: Final = frozenset({"good_days_ratio", "heavy_days_ratio"})
#: Columns that describe the rule rather than the air (no year-on-year change).
_FIXED_COLUMNS: Final = frozenset(
    {"valid", "percentile_rank", "expected_days", "minimum_days", "limit_II"}
)


def year_on_year(current: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Year-on-year change (同比) of every numeric statistic of two aligned tables.

    For tables from :func:`period_table` or :func:`summary_table` of the same entities over
    a period and the same period one year earlier. Concentrations, indices and counts
    change in percent, (now − before) / before × 100; shares (``good_days_ratio``,
    ``heavy_days_ratio``) in percentage points, as the MEP's monthly reports state them.
    Where a ``valid`` column exists, a row invalid in either period has no change (NaN).

    Parameters
    ----------
    current, previous : pandas.DataFrame
        Same index and columns.

    Returns
    -------
    pandas.DataFrame
        Same index; one ``<column>_change_pct`` or ``<column>_change_points`` per numeric
        column.
    """
    before = previous.reindex(current.index)
    out = pd.DataFrame(index=current.index)
    usable = np.ones(len(current), dtype=bool)
    if "valid" in current.columns and "valid" in before.columns:
        usable = current["valid"].to_numpy(dtype=bool) & before["valid"].fillna(False).to_numpy(
            dtype=bool
        )
    for column in current.columns:
        if column in _FIXED_COLUMNS or not pd.api.types.is_numeric_dtype(current[column]):
            continue
        if pd.api.types.is_bool_dtype(current[column]):
            continue
        now = current[column].to_numpy(dtype=np.float64)
        then = before[column].to_numpy(dtype=np.float64)
        if column in SHARE_COLUMNS:
            out[f"{column}_change_points"] = np.where(usable, change_points(now, then), np.nan)
        else:
            out[f"{column}_change_pct"] = np.where(usable, change_percent(now, then), np.nan)
    return out
