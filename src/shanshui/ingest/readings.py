"""Readings of HJ 212 data uploads: which frames carry observations and how they map
to the store's rows (site, parameter, statistic, period, time, value, flag).

Mapping of frames to observations (DESIGN §4, HJ 212-2017 Appendix B):

* CN → period: 2011 real-time → ``rt``, 2051 minute → ``minute``, 2061 hourly → ``hour``,
  2031 daily → ``day``; ``DataTime`` is the start of the interval (sampling instant for
  2011), Beijing time (:data:`shanshui.hj212.CST`).
* ST 22 (ambient air): a34004 → PM2.5, a34002 → PM10, a21026 → SO2, a21004 → NO2,
  a05024 → O3, a21005 → CO, a21002 → NOx (µg/m³; CO mg/m³), and meteorology a01001 → TEMP [°C],
  a01007 → WSPM [m/s], a01008 → WD [°]. Other codes (other STs, vendor codes such as
  ``PM25`` or ``DEWP``) are kept under their own code: flue-gas a21026 is SO2 in mg/m³, a
  different quantity, so codes are mapped only where the system code makes them certain.
* Suffix → statistic: Rtd, Avg, Min, Max, Cou and the ``Zs`` forms (lower case). ``-Flag``
  → the flag of every statistic of that code (default ``N``, HJ 212-2017 §6.6 data flags;
  an HJ/T 212-2005 air station's numeric flags are mapped, :data:`FLAGS_2005_AIR`);
  other suffixes (EFlag, SampleTime, SN, vendor ones) are not readings and are skipped, as
  are values that are not plain decimals.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from shanshui.hj212 import CST, Message
from shanshui.ingest.payload import Columns
from shanshui.store.api import STATISTICS

#: CN of data uploads → period (HJ 212-2017 Table C.1: 2011 实时数据, 2051 分钟数据,
#: 2061 小时数据, 2031 日历史数据).
PERIODS: Final[dict[str, str]] = {"2011": "rt", "2051": "minute", "2061": "hour", "2031": "day"}

#: Ambient-air codes (ST 22, HJ 212-2017 Appendix B) → parameter names of the store.
AIR_CODES: Final[dict[str, str]] = {
    "a34004": "PM2.5",
    "a34002": "PM10",
    "a21026": "SO2",
    "a21004": "NO2",
    "a05024": "O3",
    "a21005": "CO",
    "a21002": "NOx",
    "a01001": "TEMP",
    "a01007": "WSPM",
    "a01008": "WD",
}
#: Parameter → ambient-air code (what the simulator sends).
AIR_PARAMETER_CODES: Final[dict[str, str]] = {v: k for k, v in AIR_CODES.items()}

#: Units of codes kept under their own code (HJ 212-2017 Appendix B as summarised in the
#: reference notes); a code not listed is registered with unit ``unknown``.
CODE_UNITS: Final[dict[str, str]] = {
    "a01002": "%",
    "a01006": "kPa",
    "a34001": "µg/m³",
    "a34005": "µg/m³",
    "a21003": "µg/m³",
    # ambient NOx (ST 22) is stored as "NOx" [µg/m³]; the raw codes of SO2, NOx and CO are
    # those of flue gas (ST 31), whose concentrations HJ 212-2017 Appendix B gives in mg/m³
    "NOx": "µg/m³",
    "a21026": "mg/m³",
    "a21002": "mg/m³",
    "a21005": "mg/m³",
    "a00000": "m³/s",
    "a34013": "mg/m³",
    "a19001": "%",
    "a01011": "m/s",
    "a01012": "°C",
    "a01013": "kPa",
    "a01014": "%",
    "w00000": "L/s",
    "w01001": "1",
    "w01018": "mg/L",
    "w21003": "mg/L",
    "w21011": "mg/L",
    "w21001": "mg/L",
    "w01012": "mg/L",
    "w01017": "mg/L",
}

_STATS: Final = {s: s.lower() for s in ("Rtd", "Avg", "Min", "Max", "Cou")} | {
    s: s.lower() for s in ("ZsRtd", "ZsAvg", "ZsMin", "ZsMax")
}
assert set(_STATS.values()) <= STATISTICS
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def parameter_of(st: str, code: str) -> str:
    """The store's parameter name for an HJ 212 code sent with system code ``st``."""
    if st == "22":
        return AIR_CODES.get(code, code)
    return code


_TIMES: dict[datetime, int] = {}


def data_time_us(dt: datetime) -> int:
    """Naive Beijing-time ``DataTime`` → microseconds since the Unix epoch (UTC)."""
    us = _TIMES.get(dt)
    if us is None:
        delta = dt.replace(tzinfo=CST) - _EPOCH
        us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        if len(_TIMES) >= 4096:  # many devices send the same hours: a small cache
            _TIMES.clear()
        _TIMES[dt] = us
    return us


#: The length of each period's interval [µs]; real-time data (``rt``) are instants.
_PERIOD_US: Final[dict[str, int]] = {"minute": 60_000_000, "hour": 3_600_000_000}
#: Beijing time's offset and a day [µs]: daily data are labelled by the Beijing day.
_CST_US, _DAY_US = 8 * 3_600_000_000, 86_400_000_000


def period_start(us: int, period: str) -> int:
    """The start of the ``period`` interval holding the instant ``us`` [µs UTC]: the label
    of a minute, hourly or daily datum (HJ 212-2017: DataTime of CN 2051/2061/2031 is the
    start of the interval; a day is Beijing's natural day, ``shanshui.hj212.CST``).
    CHOICE: a logger that stamps its hourly record ``hh:00:07`` labels the hour ``hh:00``:
    it is stored there, under the hour's key, so that an upload of the same hour stamped
    ``hh:00:00`` replaces it (a resend or a correction) instead of being a second reading of
    that hour (which a daily mean would count twice, GB 3095-2012 Table 4)."""
    if period == "day":
        return (us + _CST_US) // _DAY_US * _DAY_US - _CST_US
    step = _PERIOD_US.get(period)
    return us if step is None else us - us % step


#: HJ/T 212-2005's data flags of ambient-air stations → the HJ 212-2017 flags (§6.6) the store
#: keeps and the validity rules read (``N`` valid; anything else keeps a value out of
#: averages). The 2005 air flags (reference notes, ``shared/reference/hj212/README.md``):
#: 0 calibration data, 1 meteorological data, 2 abnormal, 3 normal. CHOICES: 1 names the kind
#: of datum (meteorology), not a fault, so it is ``N`` like 3 (a station's meteorological codes
#: a01001… tell the two apart); 0 is 2017's ``C`` (校准); 2017 has no bare "abnormal": 2 is
#: ``D`` (故障), which keeps the value out as 2005 meant. Only frames of the 2005 edition
#: (no Flag, or its version bits 0) with ST 22 are mapped; 2005's letter flags (P, F, C, M, T,
#: D, S, N) are kept as sent.
FLAGS_2005_AIR: Final[dict[str, str]] = {"0": "C", "1": "N", "2": "D", "3": "N"}

Row = tuple[str, str, str, str, int, float, str, str]
"""A reading: site, parameter, statistic, period, time [µs UTC], value, flag, MN."""


def add_readings(columns: Columns, message: Message, site: str) -> int:
    """Append the readings of a data upload (2011/2051/2061/2031; see the module docstring
    for the mapping) to ``columns``; the number added (0 for other CNs, no DataTime).

    Values are kept as sent; :mod:`shanshui.ingest.payload` keeps the plain decimals. The
    numeric flags of HJ/T 212-2005 air stations become 2017 letters (:data:`FLAGS_2005_AIR`).
    """
    period = PERIODS.get(message.cn)
    if period is None or message.data_time is None:
        return 0
    air = message.st == "22"
    old_air = air and message.version == "2005"
    stats = _STATS
    pars, ks, vs, fs = columns.p, columns.k, columns.v, columns.f
    n = 0
    for code, entries in message.items.items():
        flag = entries.get("Flag", "N")
        if not isinstance(flag, str) or not flag:
            flag = "N"
        elif old_air:
            flag = FLAGS_2005_AIR.get(flag, flag)
        parameter = AIR_CODES.get(code, code) if air else code
        for suffix, value in entries.items():
            stat = stats.get(suffix)
            if stat is not None:
                pars.append(parameter)
                ks.append(stat)
                vs.append(value)
                fs.append(flag)
                n += 1
    if n:
        us = period_start(data_time_us(message.data_time), period)
        columns.frame(site, period, us, message.mn or "", n)
    return n


def to_rows(message: Message, site: str) -> list[Row]:
    """Readings of a data upload (2011/2051/2061/2031) as rows; see the module docstring.

    Returns an empty list for other CNs and for uploads without ``DataTime``; values that
    are not plain decimals (:func:`~shanshui.ingest.payload.plain_number`) are left out.
    """
    cols = Columns()
    add_readings(cols, message, site)
    return cols.rows()
