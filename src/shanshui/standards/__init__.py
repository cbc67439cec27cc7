"""National standards as pure, vectorized functions (one module per standard).

- :mod:`shanshui.standards.aqi` — HJ 633-2012 air quality index (IAQI, hourly and daily AQI).
"""

from shanshui.standards.aqi import aqi_level, daily_aqi, hourly_aqi, iaqi, summarise_iaqi
from shanshui.standards.errors import StandardsError

__all__ = [
    "StandardsError",
    "aqi_level",
    "daily_aqi",
    "hourly_aqi",
    "iaqi",
    "summarise_iaqi",
]
