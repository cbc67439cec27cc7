"""National standards as pure, vectorized functions (one module per standard).

- :mod:`shanshui.standards.aqi` — HJ 633-2012 air quality index (IAQI, hourly and daily AQI).
- :mod:`shanshui.standards.statistics`, :mod:`~shanshui.standards.validity`,
  :mod:`~shanshui.standards.assessment`, :mod:`~shanshui.standards.composite` — GB 3095-2012
  and HJ 663-2013: validity, averages and percentiles with counts, station and city
  assessment, composite index, ranking, year-on-year change.
"""

from shanshui.standards.aqi import aqi_level, daily_aqi, hourly_aqi, iaqi, summarise_iaqi
from shanshui.standards.assessment import NetworkAssessment, assess_network, hourly_cube
from shanshui.standards.composite import composite_index, rank
from shanshui.standards.errors import StandardsError
from shanshui.standards.statistics import (
    Aggregate,
    daily_max_8h,
    daily_mean,
    moving_mean_8h,
    percentile_hj663,
)
from shanshui.standards.validity import AssessmentError

__all__ = [
    "Aggregate",
    "AssessmentError",
    "NetworkAssessment",
    "StandardsError",
    "aqi_level",
    "assess_network",
    "composite_index",
    "daily_aqi",
    "daily_max_8h",
    "daily_mean",
    "hourly_aqi",
    "hourly_cube",
    "iaqi",
    "moving_mean_8h",
    "percentile_hj663",
    "rank",
    "summarise_iaqi",
]
