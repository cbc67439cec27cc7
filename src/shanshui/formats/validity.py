"""What a value and its time must be to be imported: the rules every reader applies, once.

- **Values**: a value must be finite (every reader: ``inf``, ``1e400`` are bad cells). A
  concentration cannot be negative: HJ 633-2012 Table 1's breakpoints start at
  ``C = 0`` (IAQI 0), GB 3095-2012 Table 1 limits are mass concentrations, and a mass per
  volume below 0 has no meaning. The same rule as ``shanshui aqi hourly FILE`` applies to
  its pollutant cells (``cli/aqi.py``: "not a non-negative number": not finite or < 0).
  Which parameters it binds: those whose unit is a mass concentration
  (:data:`CONCENTRATION_UNITS`: the six pollutants of GB 3095-2012, CNEMC's rolling means
  of them, a long CSV's own parameters in µg/m³, mg/m³, mg/L …) and the ``AQI`` (HJ
  633-2012 §4: the maximum of IAQIs, each ≥ 0). Meteorology (TEMP, DEWP, PRES, …; °C, hPa)
  may be negative and is not bound. CHOICE: a negative concentration is a bad cell whatever
  its flag (a calibration reading below zero too): it is not a concentration.
- **Times**: a value is labelled by the **start** of its period (DESIGN §4; HJ 212-2017
  DataTime of CN 2051/2061/2031 is the start of the interval), so an hourly value's time is
  on the hour, a daily one's at 00:00 of the natural day (自然日, GB 3095-2012 §3.11), a
  minute value's on a whole minute; real-time (``rt``) values are instants. The HTTP ingest
  (``ingest/http_ingest.py``, ``_misaligned``) refuses the same times with the same words.
  CHOICE: the day is Beijing's (UTC+8), the time zone every reader returns
  (:data:`~shanshui.formats.canonical.TZ`; the importer creates sites from the national
  list, all in UTC+8); a whole-hour offset changes only where a day starts.
"""

from __future__ import annotations

import numpy as np

#: Units of mass concentration (canonical spellings, as
#: :func:`shanshui.formats.longcsv.normalise_unit` writes them): a value in one of them
#: cannot be negative.
CONCENTRATION_UNITS: frozenset[str] = frozenset(
    {"µg/m³", "mg/m³", "ng/m³", "µg/L", "mg/L", "mg/l", "µg/l"}
)

#: Dimensionless parameters that cannot be negative: the air quality index (HJ 633-2012
#: §4.2: AQI = max of the IAQIs, which Table 1 maps from 0 upwards).
NON_NEGATIVE_PARAMETERS: frozenset[str] = frozenset({"AQI"})


def cannot_be_negative(parameter: str, unit: str | None) -> bool:
    """Whether values of ``parameter`` (in ``unit``) must be ≥ 0: a concentration or the AQI
    (see the module docstring)."""
    return parameter in NON_NEGATIVE_PARAMETERS or unit in CONCENTRATION_UNITS


def negative(values: np.ndarray) -> np.ndarray:
    """Which values are below 0 (NaN is not) — the cells a concentration must not hold."""
    with np.errstate(invalid="ignore"):
        out: np.ndarray = values < 0
    return out


def negative_reason(where: str, value: float) -> str:
    """The bad-row reason for a negative concentration (``where``: ``column PM2.5``)."""
    return (
        f"{where}: {value:g} is negative "
        "(a concentration cannot be below 0; HJ 633-2012 Table 1 starts at 0)"
    )


#: Length of the periods whose values are labelled by the start of an interval [µs of local
#: time]; ``rt`` values are instants.
_STEP_US: dict[str, int] = {"minute": 60_000_000, "hour": 3_600_000_000, "day": 86_400_000_000}
_MINUTE_US = 60_000_000


def misaligned(local_us: np.ndarray, period: str) -> np.ndarray:
    """Which times do not start a ``period`` interval (``rt``, ``minute``, ``hour``, ``day``).

    ``local_us``: Beijing local times as µs since 1970-01-01 00:00 local (as the readers
    compute them before localising). A day starts at 00:00 local time (自然日).
    """
    step = _STEP_US.get(period)
    if step is None:
        return np.zeros(len(local_us), dtype=bool)
    out: np.ndarray = local_us % step != 0
    return out


def misaligned_reason(local_us: int, period: str, text: str) -> str:
    """The bad-row reason for a time ``text`` (``local_us`` as :func:`misaligned` takes it)
    that does not start its ``period``; the HTTP ingest's words."""
    value = {"minute": "a minute value", "hour": "an hourly value"}.get(period, "a daily value")
    if local_us % _MINUTE_US:
        rule = f"{value} starts on a whole minute"
    elif period != "day" or local_us % _STEP_US["hour"]:
        rule = f"{value} starts on the hour"
    else:
        rule = "a daily value starts at 00:00 of the natural day (Beijing time)"
    return f"time {text!r} does not start its {period}: {rule} (DESIGN §4)"
