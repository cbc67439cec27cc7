"""One HJ 212 connection's protocol logic, without sockets: bytes in, answers out.

:class:`Session` splits what a device sends into frames and reads only their headers
(:class:`shanshui.hj212.scan.HeadDecoder`: length, CRC, QN/ST/CN/PW/MN/Flag, DataTime
present), authenticates each frame by MN and password (:class:`DeviceDirectory`), packs the
data uploads of one received chunk, undecoded, into one journal record
(:func:`shanshui.ingest.payload.encode_frames`), makes it durable through a
:class:`Committer` (the journal's group commit) and only then returns the acknowledgements
(HJ 212-2017 §6.5.1: 9014 "数据应答" when the upload's Flag has A = 1). The journal writer
decodes the CP of those frames into readings (:func:`add_readings`, via
:func:`shanshui.ingest.payload.expand_frames`); a frame whose CP does not decode there was
acknowledged and is dead-lettered with its reason (see :mod:`shanshui.hj212.scan`). The
gateway owns the socket; tests feed bytes in-process.

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
  → the flag of every statistic of that code (default ``N``, HJ 212-2017 §6.6 data flags);
  other suffixes (EFlag, SampleTime, SN, vendor ones) are not readings and are skipped, as
  are values that are not plain decimals.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from shanshui.hj212 import CST, FrameError, Message, encode, parse_segment, replies
from shanshui.hj212.scan import Head, HeadDecoder, frame
from shanshui.ingest.metrics import LOG, GatewayMetrics
from shanshui.ingest.payload import (
    COLUMNS,
    Columns,
    decode_payload,
    encode_frames,
    encode_payload,
)
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

#: Answers the platform never answers (HJ 212-2017 §6.5: 9011 请求应答, 9012 执行结果,
#: 9013 通知应答, 9014 数据应答).
ANSWERS: Final = frozenset(("9011", "9012", "9013", "9014"))
#: Notices answered with 9013 (HJ 212-2017 Table C.1: 1013 现场机时间校准请求; HJ/T
#: 212-2005: 2072 报警事件).
NOTICES: Final = frozenset(("1013", "2072"))
#: Edition by the Flag's version bits 2–7 (HJ 212-2017 Table 4 note; HJ 212-2025), as
#: :attr:`shanshui.hj212.Message.version` reads them.
_VERSIONS: Final = {0: "2005", 1: "2017", 2: "2025"}


def version_of(flag: int | None) -> str | None:
    """The edition a Flag says (no Flag: 2005), as :attr:`Message.version`."""
    return "2005" if flag is None else _VERSIONS.get(flag >> 2)


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


Row = tuple[str, str, str, str, int, float, str, str]
"""A reading: site, parameter, statistic, period, time [µs UTC], value, flag, MN."""


def add_readings(columns: Columns, message: Message, site: str) -> int:
    """Append the readings of a data upload (2011/2051/2061/2031; see the module docstring
    for the mapping) to ``columns``; the number added (0 for other CNs, no DataTime).

    Values are kept as sent; :mod:`shanshui.ingest.payload` keeps the plain decimals.
    """
    period = PERIODS.get(message.cn)
    if period is None or message.data_time is None:
        return 0
    air = message.st == "22"
    stats = _STATS
    pars, ks, vs, fs = columns.p, columns.k, columns.v, columns.f
    n = 0
    for code, entries in message.items.items():
        flag = entries.get("Flag", "N")
        if not isinstance(flag, str) or not flag:
            flag = "N"
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


def ack_frame(message: Message) -> bytes:
    """The 9014 data answer to ``message`` in its edition (HJ 212-2017 §6.5.1, Table C.24).

    Same bytes as :func:`shanshui.hj212.replies.data_ack` (the tests check it): 2017/2025
    ``QN=<its QN>;ST=91;CN=9014;PW;MN;Flag=<version bits, A=0>;CP=&&&&`` — Flag 4 for 2017,
    8 for 2025 — written directly, because building and re-parsing a :class:`Message` per
    acknowledgement would cost as much as decoding the upload. 2005 (no Flag or version
    bits 0): ``ST=91;CN=9014;CP=&&QN=<qn>;CN=<acknowledged CN>&&`` via the codec.
    """
    version_bits = (message.flag or 0) & 0xFC
    if version_bits == 0 or message.qn is None:
        return encode(replies.data_ack(message))
    # the header is ASCII in every encoding (parse_fields refuses anything else there), so
    # the answer's bytes are the same in UTF-8 and GBK
    return head_ack(message.qn, message.pw, message.mn, version_bits)


#: ``;ST=91;CN=9014;PW=…;MN=…;Flag=…;CP=&&&&`` by (PW, MN, version bits): the same for
#: every answer to a device (bounded: cleared when full).
_ACK_TAILS: dict[tuple[str | None, str | None, int], str] = {}


def answers(message: Message) -> list[bytes]:
    """What the platform sends back (:func:`shanshui.hj212.replies.platform_replies`):
    nothing unless Flag bit A is set, never anything to an answer (9011–9014) or without a
    QN; 9013 to a notice (1013, 2072), 9014 to everything else (one per sub-packet)."""
    if not message.ack_required or message.cn in ANSWERS or message.qn is None:
        return []
    if message.cn in NOTICES:
        return [encode(m) for m in replies.platform_replies(message)]
    return [ack_frame(message)]


def head_ack(qn: str, pw: str | None, mn: str | None, version_bits: int) -> bytes:
    """The 9014 of a 2017/2025 upload from its header fields alone, ASCII text (the bytes
    of :func:`ack_frame`, HJ 212-2017 Table C.24)."""
    key = (pw, mn, version_bits)
    tail = _ACK_TAILS.get(key)
    if tail is None:
        parts = ["ST=91", "CN=9014"]
        if pw is not None:
            parts.append(f"PW={pw}")
        if mn is not None:
            parts.append(f"MN={mn}")
        parts.append(f"Flag={version_bits}")
        tail = ";" + ";".join(parts) + ";CP=&&&&"
        if len(_ACK_TAILS) >= 65536:
            _ACK_TAILS.clear()
        _ACK_TAILS[key] = tail
    return frame(("QN=" + qn + tail).encode())


#: Shortest interval between two sightings of a connection's device noted [s].
SEEN_EVERY: Final = 1.0


@dataclass(frozen=True)
class Limits:
    """Per-connection limits (DESIGN §5: bad input changes nothing; memory stays bounded)."""

    #: Largest data segment accepted [bytes]; the standards say 1024, devices send more.
    max_segment: int = 4096
    #: Bytes read from the socket at once [bytes].
    read_size: int = 65536
    #: Close a connection that sent nothing for this long [s]. CHOICE: two hours, so that a
    #: logger reporting hourly data (CN 2061) without heartbeats keeps its connection between
    #: two records (an idle connection costs ~30 KiB: 10,000 held in ~314 MiB).
    idle_timeout: float = 7200.0
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
        self.decoder = HeadDecoder(max_segment=self.limits.max_segment)
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
        # The MN and password last authenticated on this connection, and its device entry:
        # valid while the directory returns that same (immutable) entry for the MN, i.e.
        # until a refresh changed or dropped the device. Sightings of it are noted at most
        # every SEEN_EVERY seconds.
        self._last: tuple[str, str | None, DeviceEntry] | None = None
        self._seen_at = now

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

    def _take_tokens(self, now: float, n: int) -> int:
        """Take up to ``n`` tokens at ``now``; how many were taken."""
        lim = self.limits
        tokens = min(lim.burst, self._tokens + (now - self._refill) * lim.frames_per_second)
        self._refill = now
        taken = min(n, max(0, int(tokens)))
        self._tokens = tokens - taken
        return taken

    async def _authenticate(self, mn: str, pw: str | None, flag: int | None) -> DeviceEntry | None:
        """The active device ``mn`` if the frame's password is its own (noted as seen);
        None (counted, logged, noted) otherwise."""
        directory = self.directory
        device = directory.lookup(mn)
        if device is None or device.status != "active":
            reason = "unknown_device" if device is None else f"{device.status}_device"
            if device is None:
                directory.note_unknown(mn, self.peer, version_of(flag))
            self._reject(reason, mn, logging.WARNING)
            return None
        ok = directory.password_known(device, pw or "")
        if ok is None:
            ok = await directory.verify(device, pw or "")
        if not ok:
            self.refused += 1
            directory.note_refused(mn, self.peer)
            self._reject("bad_password", mn, logging.WARNING)
            return None
        directory.note_seen(mn, self.peer)
        return device

    async def handle(self, data: bytes) -> list[bytes]:
        """Process received bytes; the answers to send once their readings are durable."""
        now = self._now()
        self.last_activity = now
        events = self.decoder.feed(data)
        if not self.decoder.buffered:
            self.partial_since = None
        elif events or self.partial_since is None:
            # the frame now partly buffered began in this chunk: the slow-read limit is on
            # one frame's arrival, not on a stream that never drains (a long back-fill)
            self.partial_since = now
        if not events:
            return []
        return await self._events(events, now)

    def close(self) -> None:
        """End of stream: count a frame cut short."""
        for event in self.decoder.close():
            if isinstance(event, FrameError):
                self._reject(event.reason)

    def _bad_frame(self, error: FrameError) -> bool:
        """Count a bad frame; True when the connection must close (too many)."""
        self.errors += 1
        self._reject(error.reason, detail=error.detail)
        if self.errors >= self.limits.max_errors:
            self.closing = "too_many_errors"
            return True
        return False

    async def _events(self, events: list[Head | FrameError], now: float) -> list[bytes]:
        out: list[bytes] = []
        segments: list[bytes] = []
        sites: list[str] = []
        latest = b""  # the latest DataTime accepted, made on the first data upload
        metrics = self.metrics
        # The frames of one device in a row are looked up, checked and noted as seen once
        # (see __init__); the entry is checked against the directory once per chunk.
        last = self._last
        if last is not None:
            if self.directory.lookup(last[0]) is not last[2]:
                last = None
            elif now - self._seen_at >= SEEN_EVERY:
                self._seen_at = now
                self.directory.note_seen(last[0], self.peer)
        # Token bucket: every frame of the chunk is taken at the same instant, so the first
        # ``allowed`` frames pass and the rest are rate limited (as one by one).
        allowed = self._take_tokens(now, len(events))
        for i, event in enumerate(events):
            if i >= allowed:
                self._reject("rate_limited", level=logging.WARNING)
                continue
            if isinstance(event, FrameError):
                if self._bad_frame(event):
                    break
                continue
            segment, qn, _st, cn, pw, mn, flag, has_time, message = event
            if cn in ANSWERS:  # a device's answer: never answered (no loops)
                metrics.accept(cn)
                continue
            if not mn:
                self._reject("no_mn")
                continue
            if last is not None and mn == last[0] and pw == last[1]:
                device = last[2]
            else:
                found = await self._authenticate(mn, pw, flag)
                if found is None:
                    if self.refused >= self.limits.max_refused:
                        self.closing = "refused_logins"
                        break
                    continue
                device = found
                last = self._last = (mn, pw, device)
                self._seen_at = now
            answer: list[bytes] = []
            if flag is not None and flag & 1 and qn is not None:  # Flag bit A (Table 4)
                if message is None and (cn in NOTICES or not flag & 0xFC):
                    # 2005 answers and notices are built from the whole message (rare)
                    try:
                        message = parse_segment(segment)
                    except FrameError as exc:
                        exc.raw = segment
                        if self._bad_frame(exc):
                            break
                        continue
                if message is not None:
                    answer = answers(message)
                else:
                    answer = [head_ack(qn, pw, mn, flag & 0xFC)]
            if cn in PERIODS:
                if device.site is None:
                    self._reject("no_site", mn, logging.WARNING)
                    continue
                if not has_time:
                    self._reject("no_datatime", mn)
                    continue
                latest = latest or _latest_datatime()
                at = segment.find(b"DataTime=")
                if segment[at + 9 : at + 23] > latest:  # same-width digits: order of time
                    self._reject("future_datatime", mn, logging.WARNING)
                    continue
                segments.append(segment)
                sites.append(device.site)
            metrics.accept(cn)
            out.extend(answer)
        if segments:
            received = int(time.time() * 1_000_000)
            await self.committer.commit([encode_frames(segments, sites, received)])
        if out:
            metrics.ack(len(out))
        return out


#: How far a data upload's DataTime may lie ahead of the gateway's clock (a logger's clock
#: running fast). CHOICE: as the HTTP ingest (:data:`shanshui.ingest.http_ingest.
#: FUTURE_SLACK`), 10 minutes. Further ahead the frame is refused, not acknowledged, and
#: counted as ``future_datatime``: stored, it would stand as the site's latest value until
#: the real time caught up with it.
FUTURE_SLACK_S = 600


def _latest_datatime() -> bytes:
    """The latest DataTime accepted now: Beijing time (DataTime, :data:`shanshui.hj212.CST`) plus
    :data:`FUTURE_SLACK_S`, as the 14 digits ``YYYYMMDDhhmmss``."""
    latest = datetime.now(CST) + timedelta(seconds=FUTURE_SLACK_S)
    return latest.strftime("%Y%m%d%H%M%S").encode()


__all__ = [
    "COLUMNS",
    "Columns",
    "Committer",
    "DeviceEntry",
    "Limits",
    "Session",
    "ack_frame",
    "add_readings",
    "answers",
    "decode_payload",
    "encode_frames",
    "encode_payload",
    "head_ack",
    "to_rows",
    "version_of",
]
