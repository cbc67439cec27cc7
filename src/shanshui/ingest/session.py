"""One HJ 212 connection's protocol logic, without sockets: bytes in, answers out.

:class:`Session` splits what a device sends into frames and reads only their headers
(:class:`shanshui.hj212.scan.HeadDecoder`: length, CRC, QN/ST/CN/PW/MN/Flag, DataTime
present), authenticates each frame by MN and password (:class:`DeviceDirectory`), packs the
data uploads of one received chunk, undecoded, into one journal record
(:func:`shanshui.ingest.payload.encode_frames`) — with the device events among them
(:data:`shanshui.ingest.events.EVENT_CNS`: state, run time, restart, information, alarm and
clock messages, stored as ``device_event`` rows) — makes it durable through a
:class:`Committer` (the journal's group commit) and only then returns the acknowledgements
(HJ 212-2017 §6.5.1: 9014 "数据应答" when the upload's Flag has A = 1; built by
:mod:`shanshui.ingest.control`). The journal writer
decodes the CP of those frames into readings (:func:`~shanshui.ingest.readings.add_readings`, via
:func:`shanshui.ingest.payload.expand_frames`); a frame whose CP does not decode there was
acknowledged and is dead-lettered with its reason (see :mod:`shanshui.hj212.scan`). The
gateway owns the socket; tests feed bytes in-process. Which frames carry readings and how they
map to rows is :mod:`shanshui.ingest.readings`.

History requests (补数, :mod:`shanshui.ingest.recalls`) waiting for a device are sent after
the answers of a durable chunk holding its data upload; the device's 9011 and 9012 answers
to them (HJ 212-2017 §6.5: QnRtn, ExeRtn; the request's QN in the header, or inside CP in
2005) are handed to the directory once the chunk is durable (like the requests: a failed
commit hands nothing), which matches them by MN and QN; when the connection ends
(:meth:`Session.ended`) the directory hears which requests it carried.

Device input never makes :meth:`Session.handle` raise (DESIGN §5): each frame is answered,
or counted as a reject / FrameError, and the session goes on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from shanshui.formats import validity
from shanshui.hj212 import CST, EncodeError, FrameError, Message, encode, parse_segment, replies
from shanshui.hj212.scan import Head, HeadDecoder
from shanshui.ingest.control import (
    ANSWERS,
    NOTICES,
    RESULTS,
    ST_SYSTEM,
    ack_frame,
    answer_code,
    answers,
    head_ack,
    next_qn,
    valid_qn,
    version_of,
)
from shanshui.ingest.events import EVENT_CNS
from shanshui.ingest.metrics import LOG, GatewayMetrics
from shanshui.ingest.payload import (
    COLUMNS,
    Columns,
    decode_payload,
    encode_frames,
    encode_payload,
)
from shanshui.ingest.readings import PERIODS
from shanshui.ingest.recalls import request_frames

#: Shortest interval between two sightings of a connection's device noted [s].
SEEN_EVERY: Final = 1.0
#: Most devices (MNs) one connection keeps a system code or a clock setting for, and most
#: requests it remembers having carried (bounded whatever a device sends).
PER_CONNECTION: Final = 64
MAX_CARRIED: Final = 1024


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
    """Device lookups and the side effects of authentication (cached by the gateway).

    A directory may also hold history requests waiting for their devices
    (:class:`shanshui.ingest.gateway.DeviceRegistry`): a dict ``recalls`` by MN (the same
    object for the directory's life) and ``take_recalls(mn)``, which hands them out once;
    ``recall_answer(mn, qn, cn, code) -> bool`` takes a device's 9011/9012 (False: it matched
    no request) and ``recalls_closed(pairs, release=False)`` the (MN, QN) of the requests a
    connection carried when it ended (``release``: the gateway shut it down); and
    ``control_sent(mn, qn)`` the QN of each clock setting (1012) sent, whose 9011/9012 are
    then expected answers.
    """

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
        # History requests waiting for their devices, by MN (see DeviceDirectory): checked
        # for each frame's MN, sent after the chunk's answers.
        self._waiting: dict[str, object] = getattr(directory, "recalls", {})
        self._recall_answer = getattr(directory, "recall_answer", None)
        # (MN, QN) of the requests sent on this connection (insertion order: oldest first)
        self._carried: dict[tuple[str, str], None] = {}
        # MN → the system code (ST) of its own frames (not 91), and MN → a clock setting
        # waiting for it (a 1013 sent with ST=91 before any such frame)
        self._station_st: dict[str, str] = {}
        self._clock_waiting: dict[str, tuple[Message | None, bytes, str, int | None]] = {}

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

    def ended(self, *, release: bool = False) -> None:
        """The connection is gone (any reason): tell the directory which requests it carried,
        so that those not answered yet are asked again (``recalls_closed``); ``release``: the
        gateway closed it to shut down, the attempt is given back."""
        carried, self._carried = self._carried, {}
        closed = getattr(self.directory, "recalls_closed", None)
        if carried and closed is not None:
            closed(list(carried), release=release)

    def _result(
        self, segment: bytes, message: Message | None, mn: str, cn: str
    ) -> tuple[str, str, str, int | None] | None:
        """Device ``mn``'s 9011/9012 as (MN, QN, CN, code) for the directory: the QN it
        answers (the header's, or 2005's inside CP: :attr:`Message.ref_qn`, ASCII digits
        only) and its QnRtn/ExeRtn (HJ 212-2017 Tables 7 and 8, strictly:
        :func:`~shanshui.ingest.control.answer_code`; unreadable: None). None (counted) when
        it does not decode or names no QN."""
        if message is None:
            try:
                message = parse_segment(segment)
            except FrameError as exc:
                self._reject(exc.reason, mn, detail=exc.detail)
                return None
        qn = message.ref_qn
        if not valid_qn(qn):
            self._reject("unmatched_answer", mn)
            return None
        assert isinstance(qn, str)
        code = answer_code(message.fields.get("QnRtn" if cn == "9011" else "ExeRtn"))
        if code is None:
            self._reject("unreadable_answer", mn)  # the directory asks again (its choice)
        return (mn, qn, cn, code)

    def _hand_results(self, results: list[tuple[str, str, str, int | None]]) -> None:
        """Hand the chunk's 9011/9012 to the directory (after its commit); one that matches
        no request sent is counted (``unmatched_answer``) and logged once, not an error."""
        for mn, qn, cn, code in results:
            if not self._recall_answer(mn, qn, cn, code):  # type: ignore[misc]
                self._reject("unmatched_answer", mn)

    def _bad_frame(self, error: FrameError) -> bool:
        """Count a bad frame; True when the connection must close (too many)."""
        self.errors += 1
        self._reject(error.reason, detail=error.detail)
        if self.errors >= self.limits.max_errors:
            self.closing = "too_many_errors"
            return True
        return False

    def _set_time(
        self, segment: bytes, message: Message | None, *, st: str, pw: str, mn: str,
        flag: int | None,
    ) -> list[bytes]:  # fmt: skip
        """The 1012 that sets the clock of a device which asked with 1013 (HJ 212-2017
        Table C.1: 1013 现场机时间校准请求, 1012 设置现场机时间), to the gateway's time, for the
        instrument its PolId names; nothing if its CP does not decode (it is journaled, and
        dead-lettered by the writer).

        ``st``: the station's system code. The 1012 is a request, not an answer: HJ 212-2017
        Table 5 reserves 91 (系统交互) for the answers 9011–9014, and its Appendix C writes the
        platform's requests with the device's own system code (as
        :func:`~shanshui.hj212.replies.history_request`); the caller passes the ST of the
        device's own frames (see :meth:`_events`)."""
        if message is None:
            try:
                message = parse_segment(segment)
            except FrameError:
                return []
        pol_id = message.fields.get("PolId")
        qn = next_qn()  # the process's one QN source: never a history request's QN
        try:
            setting = encode(
                replies.set_time(
                    st=st, pw=pw, mn=mn, now=datetime.now(CST), version=version_of(flag) or "2017",
                    pol_id=pol_id if isinstance(pol_id, str) and pol_id else None, qn=qn,
                )
            )  # fmt: skip
        except EncodeError:  # a PolId (device input) the codec would not write back
            self._reject("bad_clock_request", mn)
            return []
        control_sent = getattr(self.directory, "control_sent", None)
        if control_sent is not None:  # its 9011/9012 are expected answers
            control_sent(mn, qn)
        return [setting]

    async def _events(self, events: list[Head | FrameError], now: float) -> list[bytes]:
        out: list[bytes] = []
        requests: list[bytes] = []  # 1012 clock settings and history requests
        asking: dict[str, tuple[str, str, int | None]] = {}  # MN → its upload's ST, PW, Flag
        results: list[tuple[str, str, str, int | None]] = []  # 9011/9012, handed after commit
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
                if cn not in RESULTS or self._recall_answer is None or not mn:
                    continue
                # a 9011/9012 to a request sent: from the device itself (its MN and password,
                # as its data), matched by QN (rare: parsed whole)
                if last is None or mn != last[0] or pw != last[1]:
                    found = await self._authenticate(mn, pw, flag)
                    if found is None:
                        if self.refused >= self.limits.max_refused:
                            self.closing = "refused_logins"
                            break
                        continue
                    last = self._last = (mn, pw, found)
                    self._seen_at = now
                result = self._result(segment, message, mn, cn)
                if result is not None:
                    results.append(result)
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
            station = self._station_st
            if (
                _st and _st != ST_SYSTEM and station.get(mn) != _st
                and (len(station) < PER_CONNECTION or mn in station)
            ):  # fmt: skip
                station[mn] = _st  # the station's system code (for the 1012)
            # Flag bit A (Table 4); a 2005 notice may carry its QN inside CP (v65)
            if flag is not None and flag & 1 and (qn is not None or cn in NOTICES):
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
                    if not answer and cn in NOTICES and message.qn is None:
                        self._reject("bad_qn", mn)  # a 2005 notice's QN inside CP: not echoed
                elif qn is not None:  # a 2017/2025 upload (a notice was parsed above)
                    answer = [head_ack(qn, pw, mn, flag & 0xFC)]
            # HJ 212-2017 Table C.1: a clock-calibration request → 1012. CHOICE: sent with
            # the station's ST (see _set_time); a 1013 sent with ST=91 (v65) waits for the
            # first frame of the device's that names its ST (one per MN, the latest)
            if cn == "1013" and (
                len(self._clock_waiting) < PER_CONNECTION or mn in self._clock_waiting
            ):
                self._clock_waiting[mn] = (message, segment, pw or "", flag)
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
                if self._waiting and mn in self._waiting:
                    asking[mn] = (_st, pw or "", flag)
            elif cn in EVENT_CNS:
                # a device event (state, restart, information, alarm, clock request): journaled
                # with the chunk's data, so its answer too goes out once it is durable (DESIGN
                # §5). CHOICES: a device without a site may send them (stored without one);
                # no future-DataTime check (a logger whose clock runs fast asks for the time
                # with 1013, and its state reports are still worth keeping)
                segments.append(segment)
                sites.append(device.site or "")
            metrics.accept(cn)
            out.extend(answer)
        if segments:
            received = int(time.time() * 1_000_000)
            await self.committer.commit([encode_frames(segments, sites, received)])
        if out:
            metrics.ack(len(out))
        if results:  # the chunk is durable: the 9012 that ends a request may be noted now
            self._hand_results(results)
        # History requests waiting for the devices whose data came in this chunk, taken only
        # now that the chunk is durable (a failed commit sends, and so notes, nothing); the
        # ST and edition are those of the device's own data upload (not of a heartbeat or an
        # ST=91 answer), after the answers: the device spoke first
        for who in [m for m in self._clock_waiting if m in self._station_st]:
            message_, segment_, pw_, flag_ = self._clock_waiting.pop(who)
            requests += self._set_time(
                segment_, message_, st=self._station_st[who], pw=pw_, mn=who, flag=flag_
            )
        for who, (st, pw_, flag_) in asking.items():
            recalls = self.directory.take_recalls(who)  # type: ignore[attr-defined]
            requests += request_frames(recalls, st=st, pw=pw_, mn=who, version=version_of(flag_))
            for recall in recalls:
                if recall.qn is not None:
                    if len(self._carried) >= MAX_CARRIED:  # the oldest: the timeout asks it
                        del self._carried[next(iter(self._carried))]
                    self._carried[(who, recall.qn)] = None
        return out + requests if requests else out


#: How far a data upload's DataTime may lie ahead of the gateway's clock (a logger's clock
#: running fast): the one slack of every way in (:data:`shanshui.formats.validity.
#: FUTURE_SLACK_S`, 10 minutes). Further ahead the frame is refused, not acknowledged, and
#: counted as ``future_datatime``: stored, it would stand as the site's latest value until
#: the real time caught up with it.
FUTURE_SLACK_S = validity.FUTURE_SLACK_S


#: (whole POSIX second, its latest DataTime): the text is made once a second, not per chunk
#: (``datetime.now`` and ``strftime`` were ~4 µs of every data chunk's ack path).
_LATEST: list[tuple[int, bytes]] = [(-1, b"")]


def _latest_datatime() -> bytes:
    """The latest DataTime accepted now: Beijing time (DataTime, :data:`shanshui.hj212.CST`) plus
    :data:`FUTURE_SLACK_S`, as the 14 digits ``YYYYMMDDhhmmss`` (whole seconds: DataTime has
    no finer digit, so one text serves a whole second)."""
    second = int(time.time())
    cached = _LATEST[0]
    if cached[0] == second:
        return cached[1]
    latest = datetime.fromtimestamp(second + FUTURE_SLACK_S, CST)
    text = latest.strftime("%Y%m%d%H%M%S").encode()
    _LATEST[0] = (second, text)
    return text


__all__ = [
    "COLUMNS",
    "Columns",
    "Committer",
    "DeviceEntry",
    "Limits",
    "Session",
    "ack_frame",
    "answers",
    "decode_payload",
    "encode_frames",
    "encode_payload",
    "head_ack",
    "version_of",
]
