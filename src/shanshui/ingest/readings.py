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
* HJ/T 212-2005 flue gas (ST 31) and waste water (ST 32): a 2005 code is stored under its
  HJ 212-2017 code (``02`` → a21026, ``011`` → w01018, :data:`CODES_2005`) where the two
  editions use the same unit, so that permits, rules and bounds written for the 2017 codes
  see a 2005 logger's readings too.
* Suffix → statistic: Rtd, Avg, Min, Max, Cou and the ``Zs`` forms (lower case). ``-Flag``
  → the flag of every statistic of that code (default ``N``, HJ 212-2017 §6.6 data flags;
  an HJ/T 212-2005 air station's numeric flags are mapped, :data:`FLAGS_2005_AIR`);
  other suffixes (EFlag, SampleTime, SN, vendor ones) are not readings and are skipped, as
  are values that are not plain decimals.
* Plausibility (:func:`implausible_readings`): a reading outside its parameter's bounds —
  those of :mod:`shanshui.formats.validity`, in the unit of :func:`unit_of` — is no
  measurement; the journal writer dead-letters it instead of storing it.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Final, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shanshui.formats.canonical import UNITS
from shanshui.formats.validity import (
    Bounds,
    bounds,
    cannot_be_negative,
    implausible,
    implausible_reason,
    negative_reason,
)
from shanshui.hj212 import CST, Message
from shanshui.hj212.codes import CODES_2005_TO_2017
from shanshui.ingest.payload import PLAIN_DECIMAL, Columns, decimal_bytes_only
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

#: HJ/T 212-2005 codes whose 2005 unit is not the 2017 one (reference notes,
#: ``shared/reference/hj212/README.md`` "Codes"): S02 flue-gas velocity ("m³/h" in 2005, m/s
#: in 2017), S04/S08 pressures (MPa, kPa in 2017), B01 waste-water flow (its Cou in t, m³
#: in 2017). CHOICE: they keep their 2005 code, unconverted — loggers differ in what they
#: really send, so a blind rescaling could make a right value wrong.
UNIT_CHANGED_2005: Final = frozenset({"S02", "S04", "S08", "B01"})
#: HJ/T 212-2005 code → HJ 212-2017 code by system code, for frames of the 2005 edition
#: (:data:`shanshui.hj212.codes.CODES_2005_TO_2017`, less :data:`UNIT_CHANGED_2005`).
CODES_2005: Final[dict[str, dict[str, str]]] = {
    st: {old: new for old, new in table.items() if old not in UNIT_CHANGED_2005}
    for st, table in CODES_2005_TO_2017.items()
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
    # a 2005 source's codes → their 2017 codes (None: nothing to map)
    old_codes = CODES_2005.get(message.st or "") if message.version == "2005" else None
    stats = _STATS
    pars, ks, vs, fs = columns.p, columns.k, columns.v, columns.f
    n = 0
    for code, entries in message.items.items():
        flag = entries.get("Flag", "N")
        if not isinstance(flag, str) or not flag:
            flag = "N"
        elif old_air:
            flag = FLAGS_2005_AIR.get(flag, flag)
        if air:
            parameter = AIR_CODES.get(code, code)
        elif old_codes and code in old_codes and old_codes[code] not in message.items:
            # CHOICE: a frame that also sends the 2017 twin (02 and a21026) keeps the 2005
            # code, so that neither reading replaces the other unseen (DESIGN §4: only a
            # correction replaces a value, and it is audited)
            parameter = old_codes[code]
        else:
            parameter = code
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


# -- plausibility bounds of the gateway's readings -----------------------------------------

#: Statistics whose values are in the parameter's own unit and are held to its plausibility
#: bounds (:mod:`shanshui.formats.validity`, the rule of the file readers and the HTTP
#: ingest): ``rtd`` (实时值), ``min``/``avg``/``max`` over the interval and their ``zs``
#: (折算, converted to the reference oxygen: still a concentration in the same unit, HJ
#: 212-2017 Appendix B; HJ 75-2017 §6.1) forms. ``cou`` is not among them: HJ 212-2017's
#: Cou (累计值) is the amount over the interval — kg of a pollutant, m³ of flue gas or water
#: (Appendix B; ``cems_model``: Cou = C × Q × 10⁻⁶) — another quantity than the
#: concentration the bounds are written for, so no ceiling applies to it (CHOICE); only the
#: negative rule does, for a pollutant (an amount emitted cannot be below 0, and a negative
#: one would lower the annual totals counted against a permit's cap).
BOUNDED_STATISTICS: Final = frozenset(
    {"rtd", "avg", "min", "max", "zsrtd", "zsavg", "zsmin", "zsmax"}
)
_SUFFIX_OF: Final = {v: k for k, v in _STATS.items()}
_INF: Final = float("inf")


def unit_of(parameter: str) -> str | None:
    """The unit of a parameter the gateway stores (None: not known): the canonical unit of
    a mapped one (:data:`shanshui.formats.UNITS`) or that of a code kept under its own name
    (:data:`CODE_UNITS`) — the unit :func:`shanshui.ingest.writer.parameter_for` registers.

    CHOICE: the gateway's own mapping, not a store look-up, so that the writer refuses the
    same readings whether the store is up or down (it dead-letters readings once, possibly
    while the store is down, and filters them at every write: both must agree, or a refused
    reading would be neither stored nor dead-lettered)."""
    return UNITS.get(parameter) or CODE_UNITS.get(parameter)


class _Limits(NamedTuple):
    low: float  # least plausible value of a bounded statistic
    high: float  # most plausible value of a bounded statistic
    cou_low: float  # least plausible Cou (0 for a pollutant, else -inf)
    bounds: Bounds | None
    negative: bool  # the negative rule binds (a concentration)


_LIMITS: dict[str, _Limits] = {}


def _limits(parameter: str) -> _Limits:
    """The bounds of ``parameter``'s readings, cached (few parameters, many readings)."""
    got = _LIMITS.get(parameter)
    if got is None:
        unit = unit_of(parameter)
        b = bounds(parameter, unit)  # formats.validity: HJ 633-2012 Table 1 × margin, …
        negative = cannot_be_negative(parameter, unit)  # a concentration is ≥ 0 (Table 1)
        low = -_INF if b is None else b.low
        got = _Limits(
            max(low, 0.0) if negative else low,
            _INF if b is None else b.high,
            0.0 if negative else -_INF,
            b,
            negative,
        )
        if len(_LIMITS) < 4096:  # vendor codes are unbounded in number: a bounded cache
            _LIMITS[parameter] = got
    return got


_PLAIN: Final = re.compile(PLAIN_DECIMAL)


def is_plain(text: object) -> bool:
    """Whether ``text`` is a plain decimal (HJ 212-2017 §6.3.3.2): a reading at all."""
    return isinstance(text, str) and text.isascii() and _PLAIN.match(text) is not None


def implausible_readings(
    parameters: list[str], statistics: list[str], texts: list[object]
) -> np.ndarray:
    """Which readings (values as sent) the store must not take as measurements,
    vectorised over a batch: a value of a bounded statistic (:data:`BOUNDED_STATISTICS`)
    outside its parameter's plausibility bounds (:func:`shanshui.formats.validity.bounds`)
    or negative where the parameter is a concentration
    (:func:`~shanshui.formats.validity.cannot_be_negative`), a negative Cou of a pollutant,
    any infinite value (310+ digits: no number), and any text that is no plain decimal
    (:func:`_read`).

    CHOICE (data flags, HJ 212-2017 §6.6): the bounds apply whatever the flag, as in the
    file readers and the HTTP ingest (:mod:`shanshui.formats.validity`: "whatever the flag").
    A calibration (C) or maintenance (M) value may be odd, but a PM2.5 of 99999 or 1e299 is
    a fault code, not a measurement, under any flag; a zero check's reading below 0 is no
    concentration either (the files refuse it too), and a value stored as C can later be
    re-flagged valid by an audit and enter the means. Nothing is lost: the writer keeps the
    refused readings, their flags and their frame in the dead-letter file.
    """
    if not texts:
        return np.zeros(0, dtype=bool)
    values, odd = _read(texts)
    # fast path: values within the narrowest bounds of the parameters present (a Cou's
    # bounds hold those of its parameter) are plausible whatever their parameter
    present = [_limits(p) for p in set(parameters)]
    inside = (max(x.low for x in present), min(x.high for x in present))
    if not (implausible(values, *inside).any() or np.isinf(values).any() or odd.any()):
        return np.zeros(len(values), dtype=bool)
    par = pa.array(parameters, pa.string()).dictionary_encode()
    index = par.indices.to_numpy(zero_copy_only=False)
    limits = [_limits(p) for p in par.dictionary.to_pylist()]
    low = np.array([x.low for x in limits])[index]
    high = np.array([x.high for x in limits])[index]
    if "cou" in statistics:  # a Cou: only the negative rule of a pollutant
        cou = pc.equal(pa.array(statistics, pa.string()), "cou").to_numpy(zero_copy_only=False)
        low = np.where(cou, np.array([x.cou_low for x in limits])[index], low)
        high = np.where(cou, _INF, high)
    # what is no plain decimal (odd) is refused as such: its value is NaN here
    out: np.ndarray = implausible(values, low, high) | np.isinf(values) | odd
    return out


def _read(texts: list[object]) -> tuple[np.ndarray, np.ndarray]:
    """The values as sent, as float64 (NaN where no plain decimal), and which of them are
    no reading: text that is not a plain decimal (HJ 212-2017 §6.3.3.2: ``[-]digits
    [.digits]``), such as `` 35``, ``1e5``, ``+35`` or ``abc``. One Arrow array; the
    plain-decimal pattern runs only over a batch holding other bytes than ``0-9 . -``.

    CHOICE: such a value is refused and dead-lettered with its frame (it was acknowledged:
    DESIGN §5), not read leniently (a space or an exponent is no decimal of the standard)
    and not silently left out. An empty value (``a34004-Avg=``) or none says nothing and is
    not refused."""
    text = pa.array(texts, pa.string())
    if not text.null_count and decimal_bytes_only(text):
        # the usual batch: only the bytes 0-9 . - (one table look-up per byte, far cheaper
        # than the pattern); Arrow's number parser then refuses any other arrangement of
        # them ("1.2.3", "5-", "-", ""), so a cast that succeeds read only plain decimals
        try:
            values: np.ndarray = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            pass
        else:
            return values, np.zeros(len(texts), dtype=bool)
    plain = pc.match_substring_regex(text, PLAIN_DECIMAL)
    values = pc.cast(pc.if_else(plain, text, pa.scalar(None, pa.string())), pa.float64())
    values = values.to_numpy(zero_copy_only=False)
    said = pc.greater(pc.utf8_length(text), 0)
    odd: np.ndarray = pc.fill_null(pc.and_(pc.invert(plain), said), False).to_numpy(
        zero_copy_only=False
    )
    return values, odd


def refusal_reason(parameter: str, statistic: str, text: str, value: float) -> str:
    """Why one reading :func:`implausible_readings` refused is no measurement: its code and
    statistic as sent (``a34004-Avg (PM2.5)``), its value, and the bound with its source."""
    code = AIR_PARAMETER_CODES.get(parameter)
    suffix = _SUFFIX_OF.get(statistic, statistic)
    where = f"{code}-{suffix} ({parameter})" if code else f"{parameter}-{suffix}"
    shown = text if len(text) <= 24 else f"{text[:12]}…({len(text)} characters)"
    if math.isinf(value):
        return f"{where}: {shown} is not a finite number (HJ 212-2017 §6.3.3.2: a decimal)"
    if not is_plain(text):
        return f"{where}: {shown!r} is not a plain decimal (HJ 212-2017 §6.3.3.2)"
    limits = _limits(parameter)
    if statistic == "cou":
        return (
            f"{where}: {value:g} is negative (Cou is the amount over the interval, kg of a "
            "pollutant per HJ 212-2017 Appendix B: it cannot be below 0)"
        )
    b = limits.bounds
    if b is not None and not b.low <= value <= b.high:
        return implausible_reason(where, value, parameter, b)
    return negative_reason(where, value)
