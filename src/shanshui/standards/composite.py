"""Concentration limits, single-item compliance, exceedance, composite index, ranking, change.

Sources:

- GB 3095-2012 Table 1 (basic items, grade I and II concentration limits);
- HJ 663-2013 (年评价 — annual assessment items: the annual mean and a 24-hour percentile for
  SO2, NO2, PM10, PM2.5; the 24-hour 95th percentile for CO; the 90th percentile of the daily
  maximum 8-hour mean for O3; 超标倍数 = (C − S) / S);
- 《城市环境空气质量排名技术规定》 (MEP, 环办监测〔2018〕19号, first issued 2014): the
  环境空气质量综合指数 I_sum = Σ C_i / S_i over the six pollutants, with C the period mean of
  SO2, NO2, PM10, PM2.5 against their grade II annual limits, C the 24-hour 95th percentile
  of CO against 4 mg/m³ and C the 90th percentile of the O3 daily maximum 8-hour mean against
  160 µg/m³; cities are ranked by I_sum ascending (smaller = better), equal indices share a
  rank.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from shanshui.standards.validity import AssessmentError

#: The six basic pollutants of GB 3095-2012 Table 1, in the order shanshui reports them.
POLLUTANTS: Final = ("SO2", "NO2", "PM10", "PM2.5", "CO", "O3")

#: GB 3095-2012 Table 1 — annual mean limits [µg/m³], grade I and II.
ANNUAL_LIMIT: Final[Mapping[str, tuple[float, float]]] = {
    "SO2": (20.0, 60.0),
    "NO2": (40.0, 40.0),
    "PM10": (40.0, 70.0),
    "PM2.5": (15.0, 35.0),
}
#: GB 3095-2012 Table 1 — 24-hour mean limits [µg/m³; CO mg/m³]; for O3 the daily maximum
#: 8-hour mean limit.
DAILY_LIMIT: Final[Mapping[str, tuple[float, float]]] = {
    "SO2": (50.0, 150.0),
    "NO2": (80.0, 80.0),
    "PM10": (50.0, 150.0),
    "PM2.5": (35.0, 75.0),
    "CO": (4.0, 4.0),
    "O3": (100.0, 160.0),
}
#: HJ 663-2013 — the percentile of the daily series each pollutant's annual assessment uses
#: (SO2, NO2: 98th of 24-hour means; PM10, PM2.5, CO: 95th; O3: 90th of the daily max 8 h).
PERCENTILE: Final[Mapping[str, float]] = {
    "SO2": 98.0,
    "NO2": 98.0,
    "PM10": 95.0,
    "PM2.5": 95.0,
    "CO": 95.0,
    "O3": 90.0,
}


def _grade_index(grade: int) -> int:
    if grade not in (1, 2):
        raise AssessmentError(f"GB 3095-2012 has grades 1 and 2, not {grade}")
    return grade - 1


def assessed_limit(pollutant: str, grade: int = 2) -> float:
    """The limit S a pollutant's assessed concentration is held against.

    GB 3095-2012 Table 1 via HJ 663-2013 and the MEP ranking rule: the annual limit for SO2,
    NO2, PM10, PM2.5; the 24-hour limit for CO; the daily maximum 8-hour limit for O3.

    Parameters
    ----------
    pollutant : str
        One of :data:`POLLUTANTS`.
    grade : int, default 2

    Returns
    -------
    float
        [µg/m³; CO mg/m³]
    """
    g = _grade_index(grade)
    if pollutant in ANNUAL_LIMIT:
        return ANNUAL_LIMIT[pollutant][g]
    if pollutant in DAILY_LIMIT:
        return DAILY_LIMIT[pollutant][g]
    raise AssessmentError(f"GB 3095-2012 gives no limit for {pollutant!r}")


def exceedance_multiple(concentration: NDArray[np.float64], limit: float) -> NDArray[np.float64]:
    """超标倍数 (C − S) / S (HJ 663-2013).

    Positive where the limit is exceeded; shanshui also returns the (negative) value for a
    compliant item rather than hiding it — the compliance flag says which is which.

    Parameters
    ----------
    concentration : NDArray[float64]
        Assessed concentration C [µg/m³; CO mg/m³].
    limit : float
        Limit S, same unit.

    Returns
    -------
    NDArray[float64]
        Dimensionless.
    """
    c = np.asarray(concentration, dtype=np.float64)
    out: NDArray[np.float64] = (c - limit) / limit
    return out


def compliant(
    pollutant: str,
    mean: NDArray[np.float64],
    percentile: NDArray[np.float64],
    grade: int = 2,
) -> NDArray[np.bool_]:
    """Single-item annual compliance (单项达标) under HJ 663-2013 (年评价).

    SO2, NO2, PM10, PM2.5 comply when both the period mean meets the annual limit and the
    HJ 663 percentile of the 24-hour means meets the 24-hour limit; CO and O3 comply when
    their percentile meets the 24-hour (O3: daily maximum 8-hour) limit. A NaN statistic
    (invalid) gives ``False`` — compliance cannot be shown from too little data.

    Parameters
    ----------
    pollutant : str
    mean, percentile : NDArray[float64]
        Period mean and HJ 663 percentile [µg/m³; CO mg/m³].
    grade : int, default 2

    Returns
    -------
    NDArray[bool]
    """
    g = _grade_index(grade)
    p = np.asarray(percentile, dtype=np.float64)
    ok: NDArray[np.bool_] = p <= DAILY_LIMIT[pollutant][g]
    if pollutant in ANNUAL_LIMIT:
        ok = ok & (np.asarray(mean, dtype=np.float64) <= ANNUAL_LIMIT[pollutant][g])
    return ok


def composite_index(assessed: pd.DataFrame) -> pd.DataFrame:
    """环境空气质量综合指数 and its single-item indices (MEP ranking rule, 2018).

    I_i = C_i / S_i with C_i the assessed concentration (period mean of SO2, NO2, PM10,
    PM2.5; CO 24-hour 95th percentile; O3 daily max 8-hour 90th percentile) and S_i the
    grade II limit of :func:`assessed_limit`; I_sum = Σ I_i. The sum is NaN when any of the
    six is missing (an index from five pollutants would not be comparable). Choice: the
    concentrations are used unrounded (the rule's rounding of C_i per GB/T 8170 is left to
    presentation).

    Parameters
    ----------
    assessed : pandas.DataFrame
        One row per city or station, one column per pollutant of :data:`POLLUTANTS`
        [µg/m³; CO mg/m³].

    Returns
    -------
    pandas.DataFrame
        Columns ``I_<pollutant>`` for each pollutant, ``composite_index`` and
        ``max_index_pollutant`` (the pollutant with the largest single-item index).
    """
    missing = [p for p in POLLUTANTS if p not in assessed.columns]
    if missing:
        raise AssessmentError(f"composite index needs all six pollutants; missing {missing}")
    out = pd.DataFrame(index=assessed.index)
    for p in POLLUTANTS:
        out[f"I_{p}"] = assessed[p].astype("float64") / assessed_limit(p, 2)
    sub = out[[f"I_{p}" for p in POLLUTANTS]].to_numpy()
    total = sub.sum(axis=1)  # NaN if any single item is NaN
    out["composite_index"] = total
    complete = ~np.isnan(sub).any(axis=1)
    largest = np.where(complete, np.argmax(np.where(np.isnan(sub), -np.inf, sub), axis=1), -1)
    names = np.asarray((*POLLUTANTS, ""), dtype=object)
    out["max_index_pollutant"] = names[largest]
    return out


def rank(composite: pd.Series, decimals: int | None = 2) -> pd.Series:
    """Rank cities by composite index, 1 = best (MEP ranking rule: smaller index is better).

    The rule reports the composite index to two decimals and ranks on what it reports, so
    equal reported indices share the rank (并列, "min" method); ``decimals=None`` ranks the
    unrounded indices. Rounding is GB/T 8170's (round half to even, numpy's). A NaN index is
    not ranked (NaN).

    Parameters
    ----------
    composite : pandas.Series
        Composite index per city.
    decimals : int or None, default 2

    Returns
    -------
    pandas.Series
        Float ranks (NaN for unranked cities).
    """
    key = composite if decimals is None else composite.round(decimals)
    return key.rank(method="min", ascending=True, na_option="keep")


def change_percent(
    current: float | NDArray[np.float64], previous: float | NDArray[np.float64]
) -> NDArray[np.float64]:
    """Year-on-year change (同比) in percent: (current − previous) / previous × 100.

    A previous value of 0 or NaN gives NaN. Use :func:`change_points` for shares (ratios),
    which the MEP's reports compare in percentage points (e.g. 优良天数比例).

    Parameters
    ----------
    current, previous : float or NDArray[float64]
        The statistic now and in the same period one year earlier (same unit).

    Returns
    -------
    NDArray[float64]
        [%]
    """
    cur = np.asarray(current, dtype=np.float64)
    prev = np.asarray(previous, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: NDArray[np.float64] = np.where(prev != 0, (cur - prev) / prev * 100.0, np.nan)
    return out


def change_points(
    current: float | NDArray[np.float64], previous: float | NDArray[np.float64]
) -> NDArray[np.float64]:
    """Year-on-year change of a share in percentage points: (current − previous) × 100.

    Parameters
    ----------
    current, previous : float or NDArray[float64]
        Shares 0..1.

    Returns
    -------
    NDArray[float64]
        [percentage points]
    """
    out: NDArray[np.float64] = (
        np.asarray(current, dtype=np.float64) - np.asarray(previous, dtype=np.float64)
    ) * 100.0
    return out
