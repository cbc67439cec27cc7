"""One HJ 212 connection's protocol logic, without sockets: bytes in, answers out.

:class:`Session` decodes what a device sends (:class:`shanshui.hj212.Decoder`),
authenticates each frame by MN and password (:class:`DeviceDirectory`), turns data uploads
into observations (:func:`to_rows`), makes them durable through a :class:`Committer` (the
journal's group commit) and only then returns the acknowledgements (HJ 212-2017 §6.5.1:
9014 "数据应答" when the upload's Flag has A = 1). The gateway owns the socket; tests feed
bytes in-process.

Mapping of frames to observations (DESIGN §4, HJ 212-2017 Appendix B):

* CN → period: 2011 real-time → ``rt``, 2051 minute → ``minute``, 2061 hourly → ``hour``,
  2031 daily → ``day``; ``DataTime`` is the start of the interval (sampling instant for
  2011), Beijing time (:data:`shanshui.hj212.CST`).
* ST 22 (ambient air): a34004 → PM2.5, a34002 → PM10, a21026 → SO2, a21004 → NO2,
  a05024 → O3, a21005 → CO (µg/m³; CO mg/m³), and meteorology a01001 → TEMP [°C],
  a01007 → WSPM [m/s], a01008 → WD [°]. Other codes (other STs, vendor codes such as
  ``PM25`` or ``DEWP``) are kept under their own code: flue-gas a21026 is SO2 in mg/m³, a
  different quantity, so codes are mapped only where the system code makes them certain.
* Suffix → statistic: Rtd, Avg, Min, Max, Cou and the ``Zs`` forms (lower case). ``-Flag``
  → the flag of every statistic of that code (default ``N``, HJ 212-2017 §6.6 data flags);
  other suffixes (EFlag, SampleTime, SN, vendor ones) are not readings and are skipped, as
  are values that are not plain decimals.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

from shanshui.hj212 import CST, Decoder, Frame, FrameError, Message, frame_segment
from shanshui.ingest.metrics import LOG, GatewayMetrics
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
    "a21002": "µg/m³",
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

#: Answers the platform never answers (HJ 212-2017 §6.5: 9011 请求应答, 9012 执行结果,
#: 9013 通知应答, 9014 数据应答).
ANSWERS: Final = frozenset(("9011", "9012", "9013", "9014"))
#: Notices answered with 9013 (HJ 212-2017 Table C.1: 1013 现场机时间校准请求; HJ/T
#: 212-2005: 2072 报警事件).
NOTICES: Final = frozenset(("1013", "2072"))

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


def data_time_us(dt: datetime) -> int:
    """Naive Beijing-time ``DataTime`` → microseconds since the Unix epoch (UTC)."""
    delta = dt.replace(tzinfo=CST) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


Row = tuple[str, str, str, str, int, float, str, str]
"""A journal row: site, parameter, statistic, period, time [µs UTC], value, flag, MN."""


def to_rows(message: Message, site: str) -> list[Row]:
    """Observations of a data upload (2011/2051/2061/2031) as journal rows; see module doc.

    Returns an empty list for other CNs and for uploads without ``DataTime``.
    """
    period = PERIODS.get(message.cn)
    if period is None or message.data_time is None:
        return []
    t = data_time_us(message.data_time)
    st = message.st
    mn = message.mn or ""
    rows: list[Row] = []
    stats = _STATS
    for code, entries in message.items.items():
        flag = entries.get("Flag", "N")
        if not isinstance(flag, str) or not flag:
            flag = "N"
        parameter = parameter_of(st, code)
        for suffix, value in entries.items():
            stat = stats.get(suffix)
            if stat is None:
                continue
            number = value if isinstance(value, float) else _number(value)
            if number is not None:
                rows.append((site, parameter, stat, period, t, number, flag, mn))
    return rows


def _number(text: object) -> float | None:
    """A plain decimal ``[-]digits[.digits]`` (ASCII) as a float; anything else None.

    HJ 212-2017 §6.3.3.2 values are decimal numbers; text such as ``--1`` or ``1e5`` that a
    device may send is not a reading (choice: no exponents, no ``nan``/``inf``).
    """
    if not isinstance(text, str) or not text.isascii():
        return None
    digits = text.replace(".", "", 1)
    if digits.isdigit() or (digits[:1] == "-" and digits[1:].isdigit()):
        return float(text)
    return None


def ack_frame(message: Message, cn: str = "9014") -> bytes:
    """The platform's answer to ``message`` in its edition (HJ 212-2017 §6.5.1, Table C.1).

    2017/2025 (Flag version bits 1/2): ``QN=<its QN>;ST=91;CN=9014;PW;MN;Flag=<version
    bits, A=0>;CP=&&&&`` — Flag 4 for 2017, 8 for 2025. 2005 (no Flag or bits 0):
    ``ST=91;CN=9014;CP=&&QN=<qn>;CN=<acknowledged CN>&&`` (HJ/T 212-2005 Appendix C,
    example 6). A missing QN is left out (2005 uploads often omit it).
    """
    version_bits = (message.flag or 0) & 0xFC
    if version_bits == 0:
        cp = f"QN={message.qn};CN={message.cn}" if message.qn else f"CN={message.cn}"
        seg = f"ST=91;CN={cn};CP=&&{cp}&&"
    else:
        head = [f"QN={message.qn}"] if message.qn else []
        head += ["ST=91", f"CN={cn}"]
        if message.pw is not None:
            head.append(f"PW={message.pw}")
        if message.mn is not None:
            head.append(f"MN={message.mn}")
        head.append(f"Flag={version_bits}")
        seg = ";".join(head) + ";CP=&&&&"
    return frame_segment(seg.encode(message.encoding))


@dataclass(frozen=True)
class Limits:
    """Per-connection limits (DESIGN §5: bad input changes nothing; memory stays bounded)."""

    #: Largest data segment accepted [bytes]; the standards say 1024, devices send more.
    max_segment: int = 4096
    #: Bytes read from the socket at once [bytes].
    read_size: int = 65536
    #: Close a connection that sent nothing for this long [s].
    idle_timeout: float = 1800.0
    #: Close a connection whose partial frame has been pending this long [s].
    slow_timeout: float = 30.0
    #: Token bucket: sustained frames per second, and burst [frames].
    frames_per_second: float = 200.0
    burst: float = 2000.0
    #: Close after this many bad frames / refused logins in one connection.
    max_errors: int = 200
    max_refused: int = 20


@dataclass(frozen=True)
class DeviceEntry:
    """What a session needs to know of a registered device."""

    mn: str
    status: str
    password_hash: str | None
    site: str | None


class DeviceDirectory(Protocol):
    """Device lookups and the side effects of authentication (cached by the gateway)."""

    def lookup(self, mn: str) -> DeviceEntry | None: ...

    def password_known(self, device: DeviceEntry, password: str) -> bool | None:
        """True/False when the answer is cached, None when it must be verified."""

    async def verify(self, device: DeviceEntry, password: str) -> bool: ...

    def note_unknown(self, mn: str, peer: str, protocol: str | None) -> None: ...

    def note_refused(self, mn: str, peer: str) -> None: ...

    def note_seen(self, mn: str, peer: str) -> None: ...


class Committer(Protocol):
    """The journal's group commit: returns once the payloads are durable."""

    async def commit(self, payloads: list[bytes]) -> None: ...


def encode_payload(rows: Iterable[Row], received_us: int) -> bytes:
    """A journal record: ``{"r": received [µs], "o": [row, …]}`` as compact JSON."""
    return json.dumps({"r": received_us, "o": list(rows)}, separators=(",", ":")).encode()


def decode_payload(payload: bytes) -> tuple[int, list[list[object]]]:
    """Inverse of :func:`encode_payload`."""
    obj = json.loads(payload)
    return int(obj["r"]), obj["o"]


class Session:
    """The protocol state of one device connection.

    ``await session.handle(data)`` returns the bytes to send back, in order, once every
    reading in ``data`` is durable. ``session.closing`` names why the connection should be
    closed (``None`` while it may stay open).
    """

    def __init__(
        self,
        peer: str,
        directory: DeviceDirectory,
        committer: Committer,
        metrics: GatewayMetrics,
        limits: Limits | None = None,
        *,
        clock: object = time.monotonic,
    ) -> None:
        self.peer = peer
        self.directory = directory
        self.committer = committer
        self.metrics = metrics
        self.limits = limits or Limits()
        self.decoder = Decoder(max_segment=self.limits.max_segment)
        self._clock = clock
        now = self._now()
        self.last_activity = now
        self.partial_since: float | None = None
        self.closing: str | None = None
        self.errors = 0
        self.refused = 0
        self._tokens = self.limits.burst
        self._refill = now
        self._logged: set[tuple[str, str]] = set()

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def _log_once(self, reason: str, mn: str, level: int, **extra: object) -> None:
        if (reason, mn) in self._logged or len(self._logged) > 64:
            return
        self._logged.add((reason, mn))
        LOG.log(level, reason, extra={"peer": self.peer, "mn": mn or None, **extra})

    def _reject(
        self, reason: str, mn: str = "", level: int = logging.INFO, **extra: object
    ) -> None:
        self.metrics.reject(reason)
        self._log_once(reason, mn, level, **extra)

    def _take_token(self, now: float) -> bool:
        lim = self.limits
        tokens = min(lim.burst, self._tokens + (now - self._refill) * lim.frames_per_second)
        self._refill = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True

    async def handle(self, data: bytes) -> list[bytes]:
        """Process received bytes; the answers to send once their readings are durable."""
        now = self._now()
        self.last_activity = now
        events = self.decoder.feed(data)
        self.partial_since = None if not self.decoder.buffered else (self.partial_since or now)
        if not events:
            return []
        return await self._events(events, now)

    def close(self) -> None:
        """End of stream: count a frame cut short."""
        for event in self.decoder.close():
            if isinstance(event, FrameError):
                self._reject(event.reason)

    async def _events(self, events: list[Frame | FrameError], now: float) -> list[bytes]:
        replies: list[bytes] = []
        rows: list[Row] = []
        metrics = self.metrics
        directory = self.directory
        for event in events:
            if not self._take_token(now):
                self._reject("rate_limited", level=logging.WARNING)
                continue
            if isinstance(event, FrameError):
                self.errors += 1
                self._reject(event.reason, detail=event.detail)
                if self.errors >= self.limits.max_errors:
                    self.closing = "too_many_errors"
                    break
                continue
            msg = event.message
            cn = msg.cn
            if cn in ANSWERS:  # a device's answer: never answered (no loops)
                metrics.accept(cn)
                continue
            mn = msg.mn
            if not mn:
                self._reject("no_mn")
                continue
            device = directory.lookup(mn)
            if device is None or device.status != "active":
                reason = "unknown_device" if device is None else f"{device.status}_device"
                if device is None:
                    directory.note_unknown(mn, self.peer, msg.version)
                self._reject(reason, mn, logging.WARNING)
                continue
            ok = directory.password_known(device, msg.pw or "")
            if ok is None:
                ok = await directory.verify(device, msg.pw or "")
            if not ok:
                self.refused += 1
                directory.note_refused(mn, self.peer)
                self._reject("bad_password", mn, logging.WARNING)
                if self.refused >= self.limits.max_refused:
                    self.closing = "refused_logins"
                    break
                continue
            directory.note_seen(mn, self.peer)
            if cn in PERIODS:
                if device.site is None:
                    self._reject("no_site", mn, logging.WARNING)
                    continue
                if msg.data_time is None:
                    self._reject("no_datatime", mn)
                    continue
                rows.extend(to_rows(msg, device.site))
            metrics.accept(cn)
            if cn in NOTICES:
                replies.append(ack_frame(msg, "9013"))
            elif msg.ack_required:
                replies.append(ack_frame(msg))
        if rows:
            received = int(time.time() * 1_000_000)
            await self.committer.commit([encode_payload(rows, received)])
            metrics.journaled.inc(len(rows))
        if replies:
            metrics.ack(len(replies))
        return replies
