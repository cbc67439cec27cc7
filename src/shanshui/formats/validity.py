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
- **Plausibility bounds** (:data:`PARAMETER_BOUNDS`, :func:`bounds`): a value above its
  parameter's ceiling is a fault, not a reading (``PM2.5 = 99999`` or ``1e308`` would publish
  AQI 500 and turn every mean it enters into nonsense). A pollutant's ceiling is
  :data:`CEILING_MARGIN` × its highest concentration in HJ 633-2012 Table 1, the AQI's is
  500, meteorology has physical bounds on both sides; other concentrations are bounded by
  the density of their medium (:data:`UNIT_CEILINGS`). Every way readings enter applies
  them: the file readers (a bad cell, like a negative one) and the HTTP ingest (a 422).
  Like the negative rule, whatever the flag.
- **Times**: a value is labelled by the **start** of its period (DESIGN §4; HJ 212-2017
  DataTime of CN 2051/2061/2031 is the start of the interval), so an hourly value's time is
  on the hour, a daily one's at 00:00 of the natural day (自然日, GB 3095-2012 §3.11), a
  minute value's on a whole minute; real-time (``rt``) values are instants. The HTTP ingest
  (``ingest/http_checks.py``, ``misaligned_time``) refuses the same times with the same
  words.
  CHOICE: the day is Beijing's (UTC+8), the time zone every reader returns
  (:data:`~shanshui.formats.canonical.TZ`; the importer creates sites from the national
  list, all in UTC+8); a whole-hour offset changes only where a day starts.
- **Time range** (:func:`time_out_of_range`): a reading's time lies between
  :data:`EARLIEST_UTC_US` and :data:`FUTURE_SLACK_S` past the clock. Before, a placeholder
  date of an export (``0001-01-01``, ``0`` of an unset logger clock) that no read face can
  show (the API's first day is 1970-01-01, :data:`shanshui.api.common.FIRST_DAY`) and
  Python's ``datetime`` cannot even hold in UTC (0001-01-01 00:00 Beijing time is year 0 in
  UTC); after, a value that would stand as the site's latest until the real time caught up
  with it. The HJ 212 gateway (``future_datatime``) and the HTTP ingest apply the same
  slack.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Final, NamedTuple

import numpy as np

from shanshui.formats.canonical import UTC_OFFSET_US  # Beijing time, UTC+8

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


#: The earliest time a reading may carry [µs since 1970-01-01 00:00 UTC]. CHOICE: the Unix
#: epoch, the first day the read API serves (:data:`shanshui.api.common.FIRST_DAY`); online
#: monitoring in China began decades later, so a time before it is a placeholder or a fault.
EARLIEST_UTC_US: Final = 0
#: How far a reading's time may lie ahead of the clock [s] (a logger's clock running fast).
#: CHOICE: 10 minutes, as the HJ 212 gateway (``future_datatime``) and the HTTP ingest.
FUTURE_SLACK_S: Final = 600


def time_out_of_range(local_us: np.ndarray, now_s: float | None = None) -> np.ndarray:
    """Which times lie before :data:`EARLIEST_UTC_US` or more than :data:`FUTURE_SLACK_S`
    after ``now_s`` (default: the clock) [POSIX s].

    ``local_us``: Beijing local times as µs since 1970-01-01 00:00 local (as the readers
    compute them before localising, as :func:`misaligned` takes them).
    """
    now = time.time() if now_s is None else now_s
    latest = int((now + FUTURE_SLACK_S) * 1_000_000)
    utc = np.asarray(local_us, dtype=np.int64) - UTC_OFFSET_US
    out: np.ndarray = (utc < EARLIEST_UTC_US) | (utc > latest)
    return out


def time_range_reason(local_us: int, text: str) -> str:
    """The bad-row reason for a time ``text`` that :func:`time_out_of_range` refuses."""
    if int(local_us) - UTC_OFFSET_US < EARLIEST_UTC_US:
        return f"time {text} is before 1970-01-01 00:00 UTC (a placeholder date?)"
    return (
        f"time {text} lies more than {FUTURE_SLACK_S // 60} minutes in the future "
        "(the clock of the source runs fast?)"
    )


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


# -- plausibility bounds --------------------------------------------------------------------


class Bounds(NamedTuple):
    """The plausible range of a parameter's values, in ``unit``; ``why`` names its source."""

    unit: str
    low: float
    """Least plausible value (``-inf``: none beyond the negative rule above)."""
    high: float
    """Most plausible value: a value above it is a fault, not a reading."""
    why: str

    def in_unit(self, unit: str, factor: float) -> Bounds:
        """The same bounds in ``unit`` (``factor``: one of ``self.unit`` in ``unit``, e.g.
        1000 for mg/m³ → µg/m³)."""
        return Bounds(unit, self.low * factor, self.high * factor, self.why)


#: CHOICE of margin: a pollutant's ceiling is 20 × the highest concentration of its columns
#: in HJ 633-2012 Table 1 (the largest value an IAQI can express, IAQI 500; above it the
#: AQI says only "beyond 500"). Real hours do exceed Table 1: the CNEMC files of January 2025
#: (``../shared/data/cnemc``) hold PM2.5 1,907 µg/m³ (3.8 × 500), PM10 2,471 (4.1 × 600) and
#: SO2 1,035 µg/m³; dust storms were reported above 8,000 µg/m³ of PM10 in Beijing on
#: 2021-03-15 (13 × 600). 20 keeps all of them and still refuses the fault values devices and
#: files carry (99999, 1e308), one of which turns every mean it enters into nonsense.
CEILING_MARGIN: Final = 20.0

_PM25 = f"{CEILING_MARGIN:g} × 500 µg/m³, HJ 633-2012 Table 1 PM2.5 24-hour at IAQI 500"
_PM10 = f"{CEILING_MARGIN:g} × 600 µg/m³, HJ 633-2012 Table 1 PM10 24-hour at IAQI 500"
_SO2 = f"{CEILING_MARGIN:g} × 2620 µg/m³, HJ 633-2012 Table 1 SO2 24-hour at IAQI 500"
_NO2 = f"{CEILING_MARGIN:g} × 3840 µg/m³, HJ 633-2012 Table 1 NO2 1-hour at IAQI 500"
_CO = f"{CEILING_MARGIN:g} × 150 mg/m³, HJ 633-2012 Table 1 CO 1-hour at IAQI 500"
_O3 = f"{CEILING_MARGIN:g} × 1200 µg/m³, HJ 633-2012 Table 1 O3 1-hour at IAQI 500"
_INF = float("inf")

#: Plausible ranges by parameter, in the unit the store keeps it in
#: (:data:`shanshui.formats.canonical.UNITS`). Pollutants: :data:`CEILING_MARGIN` × the
#: highest concentration of any of the pollutant's columns in HJ 633-2012 Table 1, for its
#: 1-hour values and its rolling means alike (a mean cannot exceed the largest hour it
#: averages; SO2's 1-hour column stops at 800 and Table 1 sends higher hours to the 24-hour
#: column, whose top is 2620); their lower bound is the negative rule above. Meteorology:
#: physical bounds, the extremes on record (WMO's archive of weather and climate extremes)
#: rounded outwards (CHOICE: a value beyond the record is a fault before it is a record).
PARAMETER_BOUNDS: Final[Mapping[str, Bounds]] = {
    "PM2.5": Bounds("µg/m³", -_INF, CEILING_MARGIN * 500.0, _PM25),
    "PM2.5_24h": Bounds("µg/m³", -_INF, CEILING_MARGIN * 500.0, _PM25),
    "PM10": Bounds("µg/m³", -_INF, CEILING_MARGIN * 600.0, _PM10),
    "PM10_24h": Bounds("µg/m³", -_INF, CEILING_MARGIN * 600.0, _PM10),
    "SO2": Bounds("µg/m³", -_INF, CEILING_MARGIN * 2620.0, _SO2),
    "SO2_24h": Bounds("µg/m³", -_INF, CEILING_MARGIN * 2620.0, _SO2),
    "NO2": Bounds("µg/m³", -_INF, CEILING_MARGIN * 3840.0, _NO2),
    "NO2_24h": Bounds("µg/m³", -_INF, CEILING_MARGIN * 3840.0, _NO2),
    "CO": Bounds("mg/m³", -_INF, CEILING_MARGIN * 150.0, _CO),
    "CO_24h": Bounds("mg/m³", -_INF, CEILING_MARGIN * 150.0, _CO),
    "O3": Bounds("µg/m³", -_INF, CEILING_MARGIN * 1200.0, _O3),
    "O3_24h": Bounds("µg/m³", -_INF, CEILING_MARGIN * 1200.0, _O3),
    "O3_8h": Bounds("µg/m³", -_INF, CEILING_MARGIN * 1200.0, _O3),  # Table 1 O3 8h stops at 800
    "O3_8h_24h": Bounds("µg/m³", -_INF, CEILING_MARGIN * 1200.0, _O3),
    # no margin: HJ 633-2012 formula (1) (§4.2) interpolates IAQIs between Table 1's
    # breakpoints, the last of which is IAQI 500, and the AQI is the largest IAQI (formula
    # (2)): a larger AQI is no HJ 633 AQI (CHOICE; CNEMC's files top out at 500 too)
    "AQI": Bounds("1", -_INF, 500.0, "HJ 633-2012 Table 1 ends at IAQI 500"),
    # record low −89.2 °C (Vostok, 1983), record high 56.7 °C (Furnace Creek, 1913)
    "TEMP": Bounds("°C", -100.0, 60.0, "beyond the air temperatures on record"),
    # a dew point cannot exceed the air temperature: the same bounds
    "DEWP": Bounds("°C", -100.0, 60.0, "beyond the air temperatures on record"),
    # station pressure: highest sea-level pressure on record 1083.8 hPa (Agata, 1968); the
    # air at Everest's summit (8,849 m) is about 330 hPa
    "PRES": Bounds("hPa", 300.0, 1100.0, "beyond the surface pressures on Earth"),
    # precipitation cannot be negative; the most on record in 24 hours is 1,825 mm
    # (Foc-Foc, La Réunion, 1966), so no hourly or daily total exceeds it
    "RAIN": Bounds("mm", 0.0, 2000.0, "beyond the 24-hour rainfall on record"),
    # a speed cannot be negative; the strongest gust on record is 113.2 m/s (Barrow Island, 1996)
    "WSPM": Bounds("m/s", 0.0, 120.0, "beyond the wind gusts on record"),
    # a bearing clockwise from north (0 and 360 are both north)
    "WD": Bounds("°", 0.0, 360.0, "a bearing is 0-360°"),
}

#: Ceilings by unit, for parameters :data:`PARAMETER_BOUNDS` does not list (a long CSV's
#: own parameters, flue gas and water codes): a mass per volume cannot exceed the density of
#: the medium it is measured in. CHOICE (no standard bounds it): 10 kg per m³ of gas (above
#: any flue or ambient gas at standard conditions; dry air is 1.293 kg/m³ at 0 °C and
#: 101.325 kPa) and 2 kg per litre of liquid (above brine's 1.2 kg/L).
UNIT_CEILINGS: Final[Mapping[str, float]] = {
    "ng/m³": 1e13,
    "µg/m³": 1e10,
    "mg/m³": 1e7,
    "µg/L": 2e9,
    "µg/l": 2e9,
    "mg/L": 2e6,
    "mg/l": 2e6,
}
_DENSITY = "the density of the medium"


def bounds(parameter: str, unit: str | None) -> Bounds | None:
    """The plausible range of ``parameter``'s values in ``unit`` (None: none known).

    :data:`PARAMETER_BOUNDS` where it lists ``parameter`` in ``unit``, else the density
    ceiling of ``unit`` (:data:`UNIT_CEILINGS`; a parameter kept in another unit than the
    table's falls back to it too)."""
    known = PARAMETER_BOUNDS.get(parameter)
    if known is not None and known.unit == unit:
        return known
    if unit is not None and unit in UNIT_CEILINGS:
        return Bounds(unit, -_INF, UNIT_CEILINGS[unit], _DENSITY)
    return None


def bound_arrays(
    parameters: Sequence[str], units: Mapping[str, str], codes: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds [``units[p]``] per parameter of ``parameters`` (``-inf`` /
    ``inf`` where none), or per row if ``codes`` indexes ``parameters`` row by row."""
    found = [bounds(p, units.get(p)) for p in parameters]
    low = np.array([-_INF if b is None else b.low for b in found], dtype=np.float64)
    high = np.array([_INF if b is None else b.high for b in found], dtype=np.float64)
    if codes is None:
        return low, high
    return low[codes], high[codes]


def implausible(
    values: np.ndarray, low: np.ndarray | float, high: np.ndarray | float
) -> np.ndarray:
    """Which values lie outside ``[low, high]`` (NaN does not) — faults, not readings."""
    with np.errstate(invalid="ignore"):
        out: np.ndarray = (values > high) | (values < low)
    return out


def implausible_reason(where: str, value: float, parameter: str, b: Bounds) -> str:
    """The bad-row reason (and the HTTP ingest's message) for a ``value`` of ``parameter``
    outside ``b`` (``where``: ``column PM2.5``; both in ``b.unit``)."""
    unit = "" if b.unit == "1" else f" {b.unit}"
    if value > b.high:
        bound = f"exceeds {b.high:g}{unit}, the ceiling"
    else:
        bound = f"is below {b.low:g}{unit}, the floor"
    return f"{where}: {value:g}{unit} {bound} of {parameter} ({b.why})"
