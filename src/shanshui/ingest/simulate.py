"""``shanshui simulate``: replay a dataset as HJ 212 devices over TCP, like real data loggers.

One connection per station (one device: MN and password as registered by
:func:`register_devices`). Each device sends its hourly data as CN 2061 frames with Flag=5
(HJ 212-2017, A = 1: answer required), in data-time order, in real time or accelerated
(``speed``; 0 = as fast as the acknowledgements allow), keeps at most ``window`` frames
unacknowledged, resends a frame whose 9014 has not come after ``ack_timeout`` seconds, and
reconnects when the connection drops, resending everything unacknowledged (as data loggers
do after a platform restart). Resends carry the same QN and bytes, so the platform can store
them once.

History requests (补数): a device reads every frame the platform sends. A 2031/2041/2051/2061
request with ``BeginTime``/``EndTime`` (HJ 212-2017 Table C.1;
:func:`shanshui.hj212.replies.history_request` writes them) addressed to it — its MN and
password — is answered in the request's edition: 9011 ``QnRtn=1``, then the frames it holds
under the request's CN whose ``DataTime`` lies in ``[BeginTime, EndTime]``, each as it was
first sent (its own QN, Flag A = 1, so each gets its 9014), under the same window and resend
rules as the replay and ahead of its not yet sent frames, then, once all are acknowledged,
9012 ``ExeRtn=1``; both answers echo the request's QN (HJ 212-2017 §6.5, Tables 7–8). A
device holds only frames whose time has come (with ``speed`` > 0 the later ones are not yet
measured). A request for data it does not hold (a PRSA/CNEMC device has only hourly 2061
frames, so every 2031/2041/2051) gets 9011 ``QnRtn=1`` then 9012 ``ExeRtn=100`` (Table 8:
100 没有数据, "no data"); one whose times are missing, malformed or reversed 9011 ``QnRtn=1``
then 9012 ``ExeRtn=3`` (命令请求条件错误, "the request's condition is wrong"). Choices: a
request with another MN or a wrong password, or without QN, is ignored and counted
(:attr:`ReplayStats.ignored`) rather than answered with ``QnRtn`` 3/4, which would tell a
prober which MN exists; ``ST`` and the request's Flag bit A are not checked (the device
answers a history request in any case). A frame sent as history is not sent again by the
replay once acknowledged. ``linger`` keeps a device connected after its last frame is
acknowledged, to answer requests.

Identity: :func:`device_identity` derives a device's MN (24 hex digits, HJ 212-2017) from
its site code and its 6-digit password from a shared secret (HMAC-SHA-256), so
registration and replay agree without a file between them.

Synthetic load: :func:`synthetic_frames` builds N devices × H hours of plausible air data.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from shanshui import formats
from shanshui.hj212 import CST, Decoder, Frame, FrameError, Message, decode_frame, encode
from shanshui.hj212.replies import HISTORY_CNS, execution_result, request_ack
from shanshui.hj212.values import parse_time
from shanshui.ingest.readings import AIR_PARAMETER_CODES
from shanshui.store import seed
from shanshui.store.api import Device, Parameter, Site, Store
from shanshui.store.passwords import hash_password


def device_identity(site: str, secret: str = "shanshui") -> tuple[str, str]:
    """(MN, password) of the simulated device of ``site``: MN = 24 upper-case hex digits of
    SHA-256(site); password = 6 digits of HMAC-SHA-256(secret, MN)."""
    mn = hashlib.sha256(f"shanshui-sim:{site}".encode()).hexdigest()[:24].upper()
    digest = hmac.new(secret.encode(), mn.encode(), hashlib.sha256).digest()
    return mn, f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


@dataclass(frozen=True)
class OutFrame:
    """One frame a simulated device sends: its QN, bytes and data time."""

    qn: str
    data: bytes
    time: datetime


@dataclass
class SimDevice:
    """A simulated data logger: identity and its frames in sending order."""

    site: str
    mn: str
    password: str
    frames: list[OutFrame] = field(default_factory=list)


def hourly_frame(
    mn: str, password: str, when: datetime, values: dict[str, float], *, flag: int = 5,
    st: str = "22", flags: dict[str, str] | None = None,
) -> OutFrame:  # fmt: skip
    """A CN 2061 hourly frame (HJ 212-2017 Table C.1): ``values`` by parameter name, each
    sent as ``<code>-Avg`` and ``<code>-Flag`` (air codes for known parameters, the name
    itself otherwise). ``when`` is the start of the hour (aware or Beijing-naive)."""
    local = when.astimezone(CST).replace(tzinfo=None) if when.tzinfo else when
    qn = local.strftime("%Y%m%d%H%M%S") + "000"
    items: dict[str, dict[str, object]] = {}
    for parameter, value in values.items():
        code = AIR_PARAMETER_CODES.get(parameter, parameter)
        items[code] = {"Avg": float(value), "Flag": (flags or {}).get(parameter, "N")}
    msg = Message.build(
        st=st, cn="2061", qn=qn, pw=password, mn=mn, flag=flag, data_time=local, items=items
    )
    return OutFrame(qn, encode(msg), local)


def load_table(
    files: Iterable[str | Path], *, start: datetime | None = None, end: datetime | None = None
) -> pd.DataFrame:
    """PRSA or CNEMC files (detected per file) as one canonical long table, limited to
    ``start <= time < end``; read file by file so memory follows the period kept."""
    parts = []
    for path in files:
        kind = formats.detect_format(path)
        table = formats.read_prsa(path) if kind == "prsa" else formats.read_any(path)
        if start is not None:
            table = table[table["time"] >= pd.Timestamp(start)]
        if end is not None:
            table = table[table["time"] < pd.Timestamp(end)]
        parts.append(pd.DataFrame({c: table[c].to_numpy() for c in table.columns}))
    if not parts:
        return formats.empty_frame()
    return pd.concat(parts, ignore_index=True)


def devices_from_table(
    table: pd.DataFrame,
    *,
    secret: str = "shanshui",
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[SimDevice]:
    """Devices and their hourly frames from a canonical long table (site, time, parameter,
    value, flag), limited to ``start <= time < end`` (aware datetimes)."""
    if start is not None:
        table = table[table["time"] >= pd.Timestamp(start)]
    if end is not None:
        table = table[table["time"] < pd.Timestamp(end)]
    out = []
    table = table.sort_values(["site", "time"], kind="stable")
    for site, rows in table.groupby("site", sort=True):
        mn, password = device_identity(str(site), secret)
        device = SimDevice(str(site), mn, password)
        for t, hour in rows.groupby("time", sort=True):
            values = dict(zip(hour["parameter"], hour["value"].astype(float), strict=True))
            flags = dict(zip(hour["parameter"], hour["flag"], strict=True))
            when = cast(pd.Timestamp, t).to_pydatetime()
            device.frames.append(hourly_frame(mn, password, when, values, flags=flags))
        out.append(device)
    return out


def synthetic_devices(
    n: int, hours: int, *, start: datetime, secret: str = "shanshui", seed: int = 212
) -> list[SimDevice]:
    """``n`` devices (sites ``SYN00001``…) with ``hours`` hourly frames of the six
    pollutants each, values drawn from a log-normal around typical Beijing levels."""
    rng = np.random.default_rng(seed)
    typical = {"PM2.5": 60.0, "PM10": 90.0, "SO2": 10.0, "NO2": 45.0, "O3": 60.0, "CO": 1.0}
    out = []
    for i in range(n):
        site = f"SYN{i + 1:05d}"
        mn, password = device_identity(site, secret)
        device = SimDevice(site, mn, password)
        draws = rng.lognormal(0.0, 0.5, size=(hours, len(typical)))
        for h in range(hours):
            values = {
                p: round(base * draws[h, j], 1 if p != "CO" else 3)
                for j, (p, base) in enumerate(typical.items())
            }
            device.frames.append(hourly_frame(mn, password, start + timedelta(hours=h), values))
        out.append(device)
    return out


def register_devices(
    store: Store,
    devices: Iterable[SimDevice],
    *,
    parameters: Iterable[Parameter] = (),
    hash_cost: int = 14,
    actor: str = "simulate",
) -> int:
    """Register the simulated devices (active, attached to their sites) in ``store``.

    Sites missing from the store are seeded from the national station list
    (:func:`shanshui.store.seed`) or, failing that, created as bare air sites.
    ``hash_cost``: log2 of scrypt's N (14 = RFC 7914's interactive figure; lower only for
    load tests).
    """
    devices = list(devices)
    known = {s.code for s in store.sites()}
    missing = {d.site for d in devices} - known
    if missing:
        seed(store)
        known = {s.code for s in store.sites()}
        bare = sorted({d.site for d in devices} - known)
        if bare:
            store.upsert_sites(Site(code, code, "air") for code in bare)
    store.upsert_parameters(parameters)
    return store.upsert_devices(
        [
            Device(d.mn, "active", hash_password(d.password, n=2**hash_cost), "2017", d.site)
            for d in devices
        ],
        actor=actor,
        reason="simulated device",
    )


# ------------------------------------------------------------------------------ replay
@dataclass
class ReplayStats:
    """What a replay did.

    ``acked`` counts the dataset's frames acknowledged (each once, sent by the replay or as
    history); ``requests`` the history requests answered, ``recalled`` the frames sent in
    answer to them (resends of those count in ``resent``), ``ignored`` the history requests
    not addressed to the device (another MN, a wrong password) or without QN.
    """

    frames: int = 0
    sent: int = 0
    resent: int = 0
    acked: int = 0
    connects: int = 0
    failed_connects: int = 0
    requests: int = 0
    recalled: int = 0
    ignored: int = 0

    def add(self, other: ReplayStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class _Recall:
    """A history request being answered: frames still to send, QNs awaiting their 9014."""

    request: Message
    queue: deque[OutFrame]
    waiting: set[str] = field(default_factory=set)


#: 9012 ``ExeRtn`` values (HJ 212-2017 Table 8): 1 success, 3 the request's condition is
#: wrong, 100 no data.
_EXE_DONE, _EXE_BAD_CONDITION, _EXE_NO_DATA = 1, 3, 100


def _span(request: Message) -> tuple[datetime, datetime] | None:
    """``[BeginTime, EndTime]`` of a history request as naive Beijing times, or ``None``
    when one is missing, is not ``YYYYMMDDhhmmss[zzz]`` or begins after it ends."""
    try:
        begin = parse_time(request.fields["BeginTime"])
        end = parse_time(request.fields["EndTime"])
    except (KeyError, FrameError):
        return None
    return (begin, end) if begin <= end else None


class _Logger:
    """One device's connection loop (see the module docstring)."""

    def __init__(
        self,
        device: SimDevice,
        host: str,
        port: int,
        *,
        speed: float,
        window: int,
        ack_timeout: float,
        t0: datetime | None,
        wall0: float,
        linger: float = 0.0,
    ) -> None:
        self.device = device
        self.host, self.port = host, port
        self.speed, self.window, self.ack_timeout = speed, window, ack_timeout
        self.t0, self.wall0 = t0, wall0
        self.linger = linger
        self.idle_until: float | None = None
        self.stats = ReplayStats(frames=len(device.frames))
        self.outstanding: dict[str, tuple[OutFrame, float]] = {}
        self.acked: set[str] = set()
        self.wake = asyncio.Event()
        self.requests: list[Message] = []
        self.recalls: list[_Recall] = []
        #: QNs sent as history (the replay does not send them again)
        self.recalled: set[str] = set()
        #: (CN, DataTime) of each frame, read on the first history request
        self.index: list[tuple[str, datetime | None]] | None = None
        #: when the device first wrote a frame (monotonic [s]); None before
        self.first_sent: float | None = None

    def _due(self, frame: OutFrame) -> float:
        if self.speed <= 0 or self.t0 is None:
            return 0.0
        return self.wall0 + (frame.time - self.t0).total_seconds() / self.speed

    def _working(self, nxt: int) -> bool:
        """Frames to send or acknowledge, or requests to answer; else linger ``linger`` s."""
        if nxt < len(self.device.frames) or self.outstanding or self.recalls or self.requests:
            self.idle_until = None
            return True
        if self.linger <= 0:
            return False
        now = time.monotonic()
        if self.idle_until is None:
            self.idle_until = now + self.linger
        return now < self.idle_until

    async def _read(self, reader: asyncio.StreamReader) -> None:
        """Read the platform's frames: 9014 acknowledgements and history requests."""
        decoder = Decoder()
        while True:
            data = await reader.read(65536)
            if not data:
                break
            for event in decoder.feed(data):
                if not isinstance(event, Frame):
                    continue
                cn = event.message.cn
                if cn == "9014":
                    qn = event.message.ref_qn
                    if qn is not None and self.outstanding.pop(qn, None) is not None:
                        if qn not in self.acked:
                            self.acked.add(qn)
                            self.stats.acked += 1
                        for recall in self.recalls:
                            recall.waiting.discard(qn)
                elif cn in HISTORY_CNS:
                    self.requests.append(event.message)
            self.wake.set()
        self.wake.set()

    def _held(self, cn: str, begin: datetime, end: datetime, now: float) -> list[OutFrame]:
        """The frames under ``cn`` with ``begin <= DataTime <= end`` whose time has come."""
        frames = self.device.frames
        if self.index is None:
            messages = (decode_frame(f.data) for f in frames)
            self.index = [(m.cn, m.data_time) for m in messages]
        return [
            f
            for f, (fcn, t) in zip(frames, self.index, strict=True)
            if fcn == cn and t is not None and begin <= t <= end and self._due(f) <= now
        ]

    def _answer_requests(self, now: float) -> list[bytes]:
        """9011 to each request addressed to this device (and 9012 at once when there is
        nothing to upload); the uploads are queued as a :class:`_Recall`."""
        out = []
        for request in self.requests:
            if (
                request.mn != self.device.mn
                or request.pw != self.device.password
                or request.qn is None
            ):
                self.stats.ignored += 1
                continue
            self.stats.requests += 1
            out.append(encode(request_ack(request, 1)))
            span = _span(request)
            if span is None:
                out.append(encode(execution_result(request, _EXE_BAD_CONDITION)))
                continue
            held = self._held(request.cn, *span, now)
            if not held:
                out.append(encode(execution_result(request, _EXE_NO_DATA)))
                continue
            self.recalls.append(_Recall(request, deque(held)))
        self.requests.clear()
        return out

    def _send_recalled(self, now: float, batch: list[bytes]) -> None:
        """Move history frames into flight within the window; 9012 for each finished
        request (all its frames acknowledged)."""
        for recall in self.recalls:
            while recall.queue and len(self.outstanding) < self.window:
                f = recall.queue.popleft()
                recall.waiting.add(f.qn)
                if f.qn in self.outstanding:
                    continue  # in flight already: its 9014 serves both
                self.outstanding[f.qn] = (f, now)
                self.recalled.add(f.qn)
                batch.append(f.data)
                self.stats.recalled += 1
        done = [r for r in self.recalls if not r.queue and not r.waiting]
        for recall in done:
            self.recalls.remove(recall)
            batch.append(encode(execution_result(recall.request, _EXE_DONE)))

    async def run(self, deadline: float) -> ReplayStats:
        frames = self.device.frames
        nxt = 0
        backoff = 0.1
        while self._working(nxt) and time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), 5
                )
            except (OSError, TimeoutError):
                self.stats.failed_connects += 1
                await asyncio.sleep(backoff)
                backoff = min(2.0, backoff * 2)
                continue
            backoff = 0.1
            self.stats.connects += 1
            acks = asyncio.get_running_loop().create_task(self._read(reader))
            try:
                # After (re)connecting, resend everything unacknowledged, oldest first.
                now = time.monotonic()
                resend = [f for f, _ in self.outstanding.values()]
                for f in resend:
                    self.outstanding[f.qn] = (f, now)
                if resend:
                    writer.write(b"".join(f.data for f in resend))
                    self.stats.resent += len(resend)
                while self._working(nxt) and not acks.done():
                    now = time.monotonic()
                    if now >= deadline:
                        break
                    batch: list[bytes] = []
                    if self.requests:
                        batch.extend(self._answer_requests(now))
                    if self.recalls:
                        self._send_recalled(now, batch)
                    before = len(batch)
                    while (
                        nxt < len(frames)
                        and len(self.outstanding) < self.window
                        and self._due(frames[nxt]) <= now
                    ):
                        f = frames[nxt]
                        nxt += 1
                        if self.recalled and f.qn in self.recalled:
                            continue  # sent as history already (in flight or acknowledged)
                        self.outstanding[f.qn] = (f, now)
                        batch.append(f.data)
                    self.stats.sent += len(batch) - before
                    late = [
                        f for f, sent in self.outstanding.values()
                        if now - sent >= self.ack_timeout
                    ]  # fmt: skip
                    for f in late:
                        self.outstanding[f.qn] = (f, now)
                        batch.append(f.data)
                    self.stats.resent += len(late)
                    if batch:
                        writer.write(b"".join(batch))
                        if self.first_sent is None:
                            self.first_sent = now
                        await writer.drain()
                    if not self._working(nxt):
                        break  # the last 9012 went out: nothing left to wait for
                    wait = self.ack_timeout
                    if nxt < len(frames) and len(self.outstanding) < self.window:
                        wait = min(wait, max(0.0, self._due(frames[nxt]) - now))
                    if self.outstanding:
                        oldest = min(sent for _, sent in self.outstanding.values())
                        wait = min(wait, max(0.0, oldest + self.ack_timeout - now))
                    if self.idle_until is not None:
                        wait = min(wait, max(0.0, self.idle_until - now))
                    self.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), max(wait, 0.001))
            except (OSError, ConnectionError):
                pass
            finally:
                acks.cancel()
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
            if self._working(nxt):
                await asyncio.sleep(0.05)  # connection lost: reconnect
        return self.stats


async def replay(
    devices: Sequence[SimDevice],
    host: str,
    port: int,
    *,
    speed: float = 0.0,
    window: int = 32,
    ack_timeout: float = 10.0,
    max_seconds: float = 3600.0,
    linger: float = 0.0,
    progress: Callable[[ReplayStats, list[SimDevice]], None] | None = None,
    every: float = 10.0,
) -> ReplayStats:
    """Send every device's frames until all are acknowledged (or ``max_seconds`` pass).

    ``speed``: data seconds per wall second (3600 = an hour a second); 0 = no pacing.
    ``linger`` [s]: how long a device stays connected after its last frame is acknowledged
    (or its last history request answered), answering history requests (module docstring).
    ``progress``: called every ``every`` [s] with the replay's counts so far and the
    devices newly found silent (:func:`silent_devices`), each reported once.
    """
    times = [f.time for d in devices for f in d.frames[:1]]
    t0 = min(times) if times else None
    wall0 = time.monotonic()
    deadline = wall0 + max_seconds
    loggers = [
        _Logger(
            d, host, port, speed=speed, window=window, ack_timeout=ack_timeout, t0=t0,
            wall0=wall0, linger=linger,
        )
        for d in devices
    ]  # fmt: skip
    runs = asyncio.gather(*(lg.run(deadline) for lg in loggers))
    watch = None
    if progress is not None:
        watch = asyncio.get_running_loop().create_task(
            _watch(loggers, progress, every, ack_timeout)
        )
    try:
        results = await runs
    finally:
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
    total = ReplayStats()
    for r in results:
        total.add(r)
    return total


#: Sends of its first frames without any acknowledgement after which a device is reported
#: silent: the first send and two resends (``SILENT_AFTER`` × ``ack_timeout``).
SILENT_AFTER = 3


def silent_devices(loggers: Sequence[_Logger], now: float, ack_timeout: float) -> list[SimDevice]:
    """The devices that have sent frames for ``SILENT_AFTER`` acknowledgement timeouts and
    had none acknowledged: the gateway does not know them (it lists them as pending and
    answers nothing), refuses their password, or is not an HJ 212 gateway. A data logger
    keeps resending (its data stay in flight); the operator must be told why nothing lands.
    """
    return [
        lg.device
        for lg in loggers
        if lg.stats.acked == 0
        and lg.first_sent is not None
        and now - lg.first_sent >= SILENT_AFTER * ack_timeout
    ]


async def _watch(
    loggers: Sequence[_Logger],
    progress: Callable[[ReplayStats, list[SimDevice]], None],
    every: float,
    ack_timeout: float,
) -> None:
    reported: set[str] = set()
    while True:
        await asyncio.sleep(every)
        total = ReplayStats()
        for lg in loggers:
            total.add(lg.stats)
        silent = [
            d for d in silent_devices(loggers, time.monotonic(), ack_timeout)
            if d.mn not in reported
        ]  # fmt: skip
        reported.update(d.mn for d in silent)
        progress(total, silent)


def jitter(devices: list[SimDevice], seed: int = 0) -> list[SimDevice]:
    """Devices in a random order (load spreads over the connections)."""
    out = list(devices)
    random.Random(seed).shuffle(out)
    return out
