"""National standards as pure, vectorized functions (one module per standard).

- :mod:`shanshui.standards.aqi` — HJ 633-2012 air quality index (IAQI, hourly and daily AQI).
- :mod:`shanshui.standards.statistics`, :mod:`~shanshui.standards.validity`,
  :mod:`~shanshui.standards.assessment`, :mod:`~shanshui.standards.composite` — GB 3095-2012
  and HJ 663-2013: validity, averages and percentiles with counts, station and city
  assessment, composite index, ranking, year-on-year change.
- :mod:`shanshui.standards.emissions`, :mod:`~shanshui.standards.emissions_periods`,
  :mod:`~shanshui.standards.emissions_tables` — HJ 75-2017 / HJ 76-2017 / GB 13223-2011
  stationary-source emissions: reference-oxygen conversion, dry standard flow, emission
  rate, validity, substitution of invalid hours, totals; reference O2 and limit tables.
"""

from shanshui.standards.aqi import aqi_level, daily_aqi, hourly_aqi, iaqi, summarise_iaqi
from shanshui.standards.assessment import NetworkAssessment, assess_network, hourly_cube
from shanshui.standards.composite import composite_index, rank
from shanshui.standards.emissions import (
    FLAG_CASE,
    dry_standard_flow,
    emission_rate,
    reference_oxygen_conversion,
    wastewater_load,
)
from shanshui.standards.emissions_periods import (
    EmissionTotal,
    HourlyMass,
    emission_totals,
    hourly_mass,
)
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
    "FLAG_CASE",
    "Aggregate",
    "AssessmentError",
    "EmissionTotal",
    "HourlyMass",
    "NetworkAssessment",
    "StandardsError",
    "aqi_level",
    "assess_network",
    "composite_index",
    "daily_aqi",
    "daily_max_8h",
    "daily_mean",
    "dry_standard_flow",
    "emission_rate",
    "emission_totals",
    "hourly_aqi",
    "hourly_cube",
    "hourly_mass",
    "iaqi",
    "moving_mean_8h",
    "percentile_hj663",
    "rank",
    "reference_oxygen_conversion",
    "summarise_iaqi",
    "wastewater_load",
]
