"""Journal payloads: the readings of one received chunk, packed for the journal and unpacked
column-wise for the store.

The gateway writes one journal record per chunk a connection delivered (one ``read``), and
the hot path is per frame and per reading, so a record is built with list appends and a few
C-level joins, and read back with Arrow kernels — no per-reading Python on either side.

Record layout, version 2 (all integers little-endian)::

    u8  2 | i64 received [µs UTC] | u32 frames F | u32 readings R
    i64[F] time [µs UTC] of each frame | u32[F] readings of each frame
    7 x (u32 length | UTF-8 text): site, period, MN (F items each), parameter, statistic,
                                   value, flag (R items each); items joined by U+001F

Values stay the text the device sent; the reader keeps only plain decimals (HJ 212-2017
§6.3.3.2, :func:`shanshui.ingest.session.plain_number`, same rule vectorised) and drops the
rest, as the session did before. A chunk whose text contains U+001F, or whose values are
not all text, is written in version 1 instead: compact JSON ``{"r": received, "s": […],
…}`` (the :data:`COLUMNS`, values as numbers), the format of earlier releases, which the
reader keeps accepting (a journal written before an upgrade replays after it).

Version 3, what the gateway writes now: the accepted frames themselves, undecoded, so that
the event loop reads only their headers (:mod:`shanshui.hj212.scan`) and the journal
writer decodes their CP in bulk (:func:`expand_frames`)::

    u8  3 | i64 received [µs UTC] | u32 frames F
    u32[F] segment lengths | u32[F] site lengths | segments | sites (UTF-8)

A data segment is the bytes between a frame's length field and its CRC; the site is that of
the device that sent it (resolved when the frame was authenticated; empty for a device event
of a device without a site). The segments are those of data uploads and of device events
(:data:`shanshui.ingest.events.EVENT_CNS`), which :func:`expand_frames` tells apart by CN.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from array import array
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shanshui.store.api import DeviceEvent

#: Journal payload columns (version 1 and :func:`decode_payload`), in row order: site,
#: parameter, statistic, period, time [µs UTC], value, flag, MN.
COLUMNS: Final = ("s", "p", "k", "d", "t", "v", "f", "m")

_V2: Final = 2
_V3: Final = 3
_HEAD: Final = struct.Struct("<BqII")
_HEAD3: Final = struct.Struct("<BqI")
_LEN: Final = struct.Struct("<I")
_SEP: Final = "\x1f"
_LITTLE: Final = sys.byteorder == "little"
#: HJ 212-2017 §6.3.3.2 plain decimal ``[-]digits[.digits]`` (also ``5.`` and ``.5``; no
#: sign ``+``, no exponent, no ``nan``/``inf``) — the rule of ``plain_number``, vectorised.
PLAIN_DECIMAL: Final = r"^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$"
_TIME: Final = pa.timestamp("us", tz="UTC")


def plain_number(text: object) -> float | None:
    """A plain decimal ``[-]digits[.digits]`` (ASCII) as a float; anything else None.

    HJ 212-2017 §6.3.3.2 values are decimal numbers; text such as ``--1`` or ``1e5`` that a
    device may send is not a reading (choice: no exponents, no ``nan``/``inf``; 310+ digits
    overflow to inf, which the store refuses: not a reading either). Same rule as
    :data:`PLAIN_DECIMAL`.
    """
    if isinstance(text, float):
        return text if math.isfinite(text) else None
    if not isinstance(text, str) or not text.isascii():
        return None
    body = text[1:] if text[:1] == "-" else text
    whole, dot, frac = body.partition(".")
    if (whole.isdigit() or (dot and not whole)) and (not frac or frac.isdigit()):
        if not whole and not frac:
            return None
        value = float(text)
        return value if math.isfinite(value) else None
    return None


class Columns:
    """Readings of one chunk: per frame (``s`` site, ``d`` period, ``t`` time [µs UTC],
    ``m`` MN, ``n`` readings, and ``g`` the data segment as received where
    :func:`expand_frames` decoded it: what a dead-letter line shows of a frame whose
    readings the writer refuses) and per reading (``p`` parameter, ``k`` statistic, ``v``
    value as sent, ``f`` flag)."""

    __slots__ = ("d", "f", "g", "k", "m", "n", "p", "s", "t", "v")

    def __init__(self) -> None:
        self.s: list[str] = []
        self.d: list[str] = []
        self.t: list[int] = []
        self.m: list[str] = []
        self.n: list[int] = []
        self.g: list[bytes] = []
        self.p: list[str] = []
        self.k: list[str] = []
        self.v: list[object] = []
        self.f: list[str] = []

    def __len__(self) -> int:
        return len(self.v)

    def frame(self, site: str, period: str, time_us: int, mn: str, n: int) -> None:
        """Close a frame whose ``n`` readings were appended to ``p``, ``k``, ``v``, ``f``."""
        self.s.append(site)
        self.d.append(period)
        self.t.append(time_us)
        self.m.append(mn)
        self.n.append(n)

    def rows(self) -> list[tuple[str, str, str, str, int, float, str, str]]:
        """The readings as rows (site, parameter, statistic, period, time, value, flag, MN);
        values that are not plain decimals are left out."""
        out = []
        i = 0
        for s, d, t, m, n in zip(self.s, self.d, self.t, self.m, self.n, strict=True):
            for j in range(i, i + n):
                value = plain_number(self.v[j])
                if value is not None:
                    out.append((s, self.p[j], self.k[j], d, t, value, self.f[j], m))
            i += n
        return out


def encode_payload(columns: Columns, received_us: int) -> bytes:
    """A journal record of ``columns`` (see the module docstring)."""
    texts: list[list[Any]] = [
        columns.s, columns.d, columns.m, columns.p, columns.k, columns.v, columns.f
    ]  # fmt: skip
    parts: list[bytes] = []
    try:
        for items in texts:
            joined = _SEP.join(items)  # TypeError if not all text
            if joined.count(_SEP) != len(items) - 1:
                raise TypeError("separator inside an item")
            blob = joined.encode()
            parts.append(_LEN.pack(len(blob)))
            parts.append(blob)
    except TypeError:
        return _encode_v1(columns, received_us)
    t = array("q", columns.t)
    n = array("I", columns.n)
    if not _LITTLE:  # pragma: no cover - big-endian hosts
        t.byteswap()
        n.byteswap()
    head = _HEAD.pack(_V2, received_us, len(columns.t), len(columns.v))
    return b"".join([head, t.tobytes(), n.tobytes(), *parts])


def _encode_v1(columns: Columns, received_us: int) -> bytes:
    rows = columns.rows()
    obj: dict[str, object] = {"r": received_us}
    for i, name in enumerate(COLUMNS):
        obj[name] = [r[i] for r in rows]
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def received_of(payload: bytes) -> int:
    """The received time [µs UTC] of a record, without unpacking the rest."""
    if payload[:1] in (b"\x02", b"\x03"):
        return int(_HEAD.unpack_from(payload)[1])
    return int(json.loads(payload)["r"])


def _split_v2(payload: bytes) -> tuple[int, int, memoryview, memoryview, list[memoryview]]:
    """received, readings, time bytes, count bytes, the 7 text blobs (ValueError if the
    layout is wrong)."""
    view = memoryview(payload)
    try:
        version, received, frames, readings = _HEAD.unpack_from(payload)
        at = _HEAD.size
        times = view[at : at + 8 * frames]
        at += 8 * frames
        counts = view[at : at + 4 * frames]
        at += 4 * frames
        blobs = []
        for _ in range(7):
            (size,) = _LEN.unpack_from(payload, at)
            at += _LEN.size
            blobs.append(view[at : at + size])
            at += size
    except struct.error as exc:
        raise ValueError(f"not a journal record: {exc}") from None
    if version != _V2 or at != len(payload) or len(counts) != 4 * frames:
        raise ValueError("not a journal record: bad layout")
    return received, readings, times, counts, blobs


def decode_payload(payload: bytes) -> tuple[int, dict[str, list[object]]]:
    """A record's received time [µs] and its readings by column (:data:`COLUMNS`; values
    as floats, those that are not plain decimals left out). For tests and tools: the
    writer reads records with :func:`payload_table`."""
    if payload[:1] == b"\x03":
        expanded, _, _ = expand_frames([payload])
        if not expanded:
            return received_of(payload), {c: [] for c in COLUMNS}
        record = expanded[0]
        payload = record.payload() if isinstance(record, FrameRecord) else record
    if payload[:1] != b"\x02":
        obj = json.loads(payload)
        return int(obj.pop("r")), obj
    received, _, times, counts, blobs = _split_v2(payload)
    cols = Columns()
    cols.t = np.frombuffer(times, "<i8").tolist()
    cols.n = np.frombuffer(counts, "<u4").tolist()
    texts = [bytes(b).decode().split(_SEP) for b in blobs]
    cols.s, cols.d, cols.m, cols.p, cols.k, cols.v, cols.f = texts  # type: ignore[assignment]
    out: dict[str, list[object]] = {c: [] for c in COLUMNS}
    for row in cols.rows():
        for name, value in zip(COLUMNS, row, strict=True):
            out[name].append(value)
    return received, out


def _texts(blobs: list[memoryview], count: int, what: str) -> pa.Array:
    """Blobs of U+001F-joined items → one string array of ``count`` items."""
    joined = b"\x1f".join(blobs)
    arr = pc.list_flatten(pc.split_pattern(pa.array([joined], pa.binary()), _SEP))
    if len(arr) != count:
        raise ValueError(f"journal record: {len(arr)} {what} items, expected {count}")
    return arr.cast(pa.string())  # validates UTF-8


def _table_v2(payloads: list[bytes]) -> pa.Table:
    received, per_record, times, counts = [], [], [], []
    blobs: list[list[memoryview]] = [[] for _ in range(7)]
    for payload in payloads:
        r, n, t, c, texts = _split_v2(payload)
        received.append(r)
        per_record.append(n)
        times.append(t)
        counts.append(c)
        for i in range(7):
            blobs[i].append(texts[i])
    n_frame = np.frombuffer(b"".join(counts), "<u4")
    frames, readings = len(n_frame), int(n_frame.sum())
    if readings != sum(per_record):
        raise ValueError("journal record: reading counts do not add up")
    site, period, mn = (_texts(blobs[i], frames, w) for i, w in enumerate(("site", "period", "MN")))
    parameter, statistic, text, flag = (
        _texts(blobs[3 + i], readings, w)
        for i, w in enumerate(("parameter", "statistic", "value", "flag"))
    )
    time = np.repeat(np.frombuffer(b"".join(times), "<i8"), n_frame)
    recv = np.repeat(np.array(received, dtype=np.int64), per_record)
    return _observations(site, period, mn, n_frame, parameter, statistic, text, flag, time, recv)


def _observations(  # noqa: PLR0917 - the columns, in one place
    site: pa.Array, period: pa.Array, mn: pa.Array, n_frame: np.ndarray,
    parameter: pa.Array, statistic: pa.Array, text: pa.Array, flag: pa.Array,
    time: np.ndarray, recv: np.ndarray,
) -> pa.Table:  # fmt: skip
    """The observation table from per-frame (site, period, MN, readings) and per-reading
    columns (value text as sent; time and received [µs UTC] per reading)."""
    of_frame = pa.array(np.repeat(np.arange(len(n_frame), dtype=np.int64), n_frame))
    value = plain_values(text)
    keep = pc.fill_null(pc.is_finite(value), False)  # 310+ digits: inf, not a reading
    table = pa.table(
        {
            "site": pc.take(site, of_frame),
            "parameter": parameter,
            "statistic": statistic,
            "period": pc.take(period, of_frame),
            "time": pa.array(time).cast(_TIME),
            "value": value,
            "flag": flag,
            "received": pa.array(recv).cast(_TIME),
            "source": pc.binary_join_element_wise("hj212:", pc.take(mn, of_frame), ""),
        }
    )
    return table if pc.all(keep).as_py() else table.filter(keep)


_DECIMAL_BYTES: Final = np.zeros(256, dtype=bool)
_DECIMAL_BYTES[list(b"0123456789.-")] = True


def decimal_bytes_only(text: pa.StringArray) -> bool:
    """Whether every value of ``text`` (no nulls) is made of the bytes ``0-9 . -`` only."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[
        text.offset : text.offset + len(text) + 1
    ]
    data = text.buffers()[2]
    if data is None:  # every value empty
        return False
    chars = np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]]
    return bool(_DECIMAL_BYTES[chars].all())


def plain_values(text: pa.StringArray) -> pa.Array:
    """The values of ``text`` as float64, null where a text is no plain decimal
    (HJ 212-2017 §6.3.3.2, :data:`PLAIN_DECIMAL`; see :func:`plain_number`).

    The usual batch holds only the bytes ``0-9 . -`` (one table look-up per byte, far
    cheaper than the pattern): Arrow's number parser then refuses any other arrangement of
    them ("1.2.3", "5-", "-", ""), so a cast that succeeds read only plain decimals; any
    other batch is matched against the pattern first."""
    if not text.null_count and decimal_bytes_only(text):
        try:
            return pc.cast(text, pa.float64())
        except pa.ArrowInvalid:
            pass
    plain = pc.match_substring_regex(text, PLAIN_DECIMAL)
    if not pc.all(plain).as_py():
        text = pc.if_else(plain, text, pa.scalar(None, pa.string()))
    return pc.cast(text, pa.float64())


def _table_v1(payloads: list[bytes]) -> pa.Table:
    cols: dict[str, list[object]] = {name: [] for name in COLUMNS}
    rec: list[int] = []
    for payload in payloads:
        received, part = decode_payload(payload)
        for name in COLUMNS:
            cols[name].extend(part[name])
        rec.extend([received] * len(part["v"]))
    return pa.table(
        {
            "site": pa.array(cols["s"], pa.string()),
            "parameter": pa.array(cols["p"], pa.string()),
            "statistic": pa.array(cols["k"], pa.string()),
            "period": pa.array(cols["d"], pa.string()),
            "time": pa.array(cols["t"], pa.int64()).cast(_TIME),
            "value": pa.array(cols["v"], pa.float64()),
            "flag": pa.array(cols["f"], pa.string()),
            "received": pa.array(rec, pa.int64()).cast(_TIME),
            "source": pc.binary_join_element_wise("hj212:", pa.array(cols["m"], pa.string()), ""),
        }
    )


def encode_frames(segments: list[bytes], sites: list[str], received_us: int) -> bytes:
    """A version 3 journal record: data segments as received, with their devices' sites."""
    site_bytes = [site.encode() for site in sites]
    seg_len = array("I", map(len, segments))
    site_len = array("I", map(len, site_bytes))
    if not _LITTLE:  # pragma: no cover - big-endian hosts
        seg_len.byteswap()
        site_len.byteswap()
    head = _HEAD3.pack(_V3, received_us, len(segments))
    return b"".join([head, seg_len.tobytes(), site_len.tobytes(), *segments, *site_bytes])


def frames_of(payload: bytes) -> tuple[int, list[bytes], list[str]]:
    """A version 3 record's received time [µs UTC], data segments and sites (ValueError if
    the layout is wrong)."""
    try:
        version, received, frames = _HEAD3.unpack_from(payload)
        at = _HEAD3.size
        lengths = struct.unpack_from(f"<{2 * frames}I", payload, at)
    except (struct.error, ValueError) as exc:
        raise ValueError(f"not a journal record: {exc}") from None
    seg_len, site_len = lengths[:frames], lengths[frames:]
    at += 8 * frames
    if version != _V3 or at + sum(seg_len) + sum(site_len) != len(payload):
        raise ValueError("not a journal record: bad layout")
    segments = []
    for n in seg_len:
        segments.append(payload[at : at + n])
        at += n
    sites = []
    try:
        for n in site_len:
            sites.append(payload[at : at + n].decode())
            at += n
    except UnicodeDecodeError as exc:
        raise ValueError(f"not a journal record: {exc}") from None
    return received, segments, sites


BadFrame = tuple[bytes, str, str, int]
"""A frame the writer could not decode: data segment, site, reason, received [µs UTC]."""


class FrameRecord(NamedTuple):
    """A version 3 record decoded: its received time [µs UTC], readings and device events
    (:mod:`shanshui.ingest.events`)."""

    received: int
    columns: Columns
    events: tuple[DeviceEvent, ...] = ()

    def payload(self) -> bytes:
        """The readings as a version 2 (or 1) record (dead-letter lines, tools)."""
        return encode_payload(self.columns, self.received)


Record = bytes | FrameRecord
"""What :func:`payload_table` reads: journal records, or version 3 ones decoded."""


def expand_frames(payloads: list[bytes]) -> tuple[list[Record], list[BadFrame], int]:
    """Decode the frames of version 3 records: the records (v3 ones as :class:`FrameRecord`,
    others unchanged, in order), the frames whose CP does not decode, and the number of
    readings decoded.

    Each segment is decoded in full (:func:`shanshui.hj212.parse_segment`) and mapped to
    readings by :func:`shanshui.ingest.readings.add_readings`, exactly as the session did
    before it journaled frames undecoded; a segment whose CN is a device event's
    (:data:`shanshui.ingest.events.EVENT_CNS`: the C reader returns its CN, with no readings)
    becomes a :class:`~shanshui.store.DeviceEvent` of the record
    (:func:`shanshui.ingest.events.event_of`), never readings. A frame that fails (an entry
    without ``=``, an impossible DataTime) has been acknowledged already: it is returned in
    the second list (the writer counts and dead-letters it, never drops it); where only some
    CP entries cannot be read, the readings of the others are kept as well
    (:func:`shanshui.ingest.salvage.salvage`) and the dead-letter reason says so. A v3 record
    left without readings and events is left out. ValueError if a v3 record's layout is
    wrong.
    """
    from shanshui.hj212 import FrameError, parse_segment, parse_time  # noqa: PLC0415
    from shanshui.hj212.scan import CP_READINGS_C  # noqa: PLC0415
    from shanshui.ingest.events import EVENT_CNS, event_of  # noqa: PLC0415
    from shanshui.ingest.readings import (  # noqa: PLC0415 - readings imports this module
        _STATS,
        AIR_CODES,
        PERIODS,
        add_readings,
        data_time_us,
        period_start,
    )
    from shanshui.ingest.salvage import salvage  # noqa: PLC0415

    out: list[Record] = []
    bad: list[BadFrame] = []
    readings = 0
    times: dict[str, int] = {}  # DataTime text → µs: many frames share an hour
    for payload in payloads:
        if payload[:1] != b"\x03":
            out.append(payload)
            continue
        received, segments, sites = frames_of(payload)
        columns = Columns()
        events: list[DeviceEvent] = []
        for segment, site in zip(segments, sites, strict=True):
            # The C reader: add_readings' readings of a plain segment (tests hold them
            # equal); None for any other segment, decoded in full below, as is a device
            # event (its CN says so; rare: a state or restart message now and then)
            got = None if CP_READINGS_C is None else CP_READINGS_C(segment, AIR_CODES, _STATS)
            if got is not None and got[0] not in EVENT_CNS:
                cn, mn, raw_time, p, k, v, f = got
                if raw_time is None:
                    bad.append((segment, site, "bad_field: no DataTime", received))
                    continue
                us = times.get(raw_time)
                if us is None:
                    try:
                        us = times[raw_time] = data_time_us(parse_time(raw_time))
                    except FrameError as exc:
                        bad.append((segment, site, f"{exc.reason}: {exc.detail}", received))
                        continue
                period = PERIODS.get(cn)
                if period is not None and p:
                    columns.p += p
                    columns.k += k
                    columns.v += v
                    columns.f += f
                    columns.frame(site, period, period_start(us, period), mn, len(p))
                    columns.g.append(segment)
                continue
            try:
                message = parse_segment(segment)
            except FrameError as exc:
                reason = f"{exc.reason}: {exc.detail}"
                kept = salvage(segment)  # the readable entries of an acknowledged frame
                if kept is None:
                    bad.append((segment, site, reason, received))
                    continue
                message, dropped = kept
                n = 0 if message.cn in EVENT_CNS else add_readings(columns, message, site)
                if n == 0:  # nothing to keep: the frame as before
                    bad.append((segment, site, reason, received))
                    continue
                columns.g.append(segment)
                left_out = ", ".join(repr(e) for e in dropped)
                bad.append((segment, site, f"{reason} ({n} readings kept; left out: {left_out})",
                            received))  # fmt: skip
                continue
            if message.cn in EVENT_CNS:
                try:
                    events.append(event_of(message, site, received))
                except (ValueError, OverflowError) as exc:  # acknowledged: kept, not retried
                    bad.append((segment, site, f"bad_field: {exc}", received))
            else:
                n = add_readings(columns, message, site)
                if n:
                    columns.g.append(segment)
                elif message.data_time is None:
                    bad.append((segment, site, "bad_field: no DataTime", received))
        if len(columns) or events:
            readings += len(columns)
            out.append(FrameRecord(received, columns, tuple(events)))
    return out, bad, readings


def _table_frames(records: list[FrameRecord]) -> pa.Table:
    """Decoded version 3 records → observations, straight from their Python lists."""
    s: list[str] = []
    d: list[str] = []
    m: list[str] = []
    t: list[int] = []
    n: list[int] = []
    p: list[str] = []
    k: list[str] = []
    v: list[object] = []
    f: list[str] = []
    recv: list[int] = []
    for record in records:
        received, c = record.received, record.columns
        s += c.s
        d += c.d
        m += c.m
        t += c.t
        n += c.n
        p += c.p
        k += c.k
        v += c.v
        f += c.f
        recv += [received] * len(c.v)
    n_frame = np.array(n, dtype=np.int64)
    text = pa.array(v, pa.string())
    return _observations(
        pa.array(s, pa.string()), pa.array(d, pa.string()), pa.array(m, pa.string()), n_frame,
        pa.array(p, pa.string()), pa.array(k, pa.string()), text, pa.array(f, pa.string()),
        np.repeat(np.array(t, dtype=np.int64), n_frame), np.array(recv, dtype=np.int64),
    )  # fmt: skip


def _kind(record: Record) -> int:
    if isinstance(record, FrameRecord):
        return 3
    return 2 if record[:1] == b"\x02" else 1


def payload_table(payloads: Sequence[Record]) -> pa.Table:
    """Journal records → one Arrow table of observations, in record order (site, parameter,
    statistic, period, time, value, flag, received, source ``hj212:<MN>``).

    ValueError if a record does not decode (the writer then takes the records one by one).
    Version 3 records are decoded first (:func:`expand_frames`; frames that do not decode
    are left out: the writer expands them itself to dead-letter those).
    """
    if any(isinstance(p, bytes) and p[:1] == b"\x03" for p in payloads):
        decoded: list[Record] = []
        for p in payloads:
            if isinstance(p, bytes) and p[:1] == b"\x03":
                decoded += expand_frames([p])[0]
            else:
                decoded.append(p)
        payloads = decoded
    tables = []
    run: list[Record] = []
    for payload in [*payloads, None]:
        if run and (payload is None or _kind(payload) != _kind(run[0])):
            kind = _kind(run[0])
            if kind == 3:
                tables.append(_table_frames(run))  # type: ignore[arg-type]
            elif kind == 2:
                tables.append(_table_v2(run))  # type: ignore[arg-type]
            else:
                tables.append(_table_v1(run))  # type: ignore[arg-type]
            run = []
        if payload is not None:
            run.append(payload)
    if len(tables) == 1:
        return tables[0]
    if not tables:
        return _table_v1([])
    return pa.concat_tables(tables)


__all__ = [
    "COLUMNS",
    "PLAIN_DECIMAL",
    "BadFrame",
    "Columns",
    "FrameRecord",
    "Record",
    "decode_payload",
    "encode_frames",
    "encode_payload",
    "expand_frames",
    "frames_of",
    "payload_table",
    "plain_number",
    "received_of",
]
