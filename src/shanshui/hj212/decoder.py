"""Incremental, sans-IO HJ 212 frame decoder.

Frame (HJ 212-2017 §6.3.2; HJ/T 212-2005 §6.3.2)::

    ## + 4-digit decimal length of the data segment [bytes] + data segment
       + 4 hex digits CRC + CR LF

Feed bytes in any chunks; get :class:`Frame` or :class:`~shanshui.hj212.FrameError` events.
The decoder never raises for any input (only :class:`TypeError` for a non-bytes argument).

Framing rules (choices written down where the standard is silent):

* A frame starts at ``##`` followed by four ASCII digits. Anything else between frames is
  ``garbage``, reported one line at a time (at each LF, at the next frame start, or every
  :data:`GARBAGE_CHUNK` bytes); blank lines (spaces, tabs, CR, LF) are skipped silently.
* Length field above ``max_segment`` → ``too_long`` (raw: the 6 header bytes); the rest of
  that frame is skipped up to the next LF or frame start. Both standards cap the segment at
  1024 bytes, but real devices send more (reference vectors v45, v48, v49), so the default
  is the field's own maximum, 9999; pass ``max_segment=1024`` for the standard's limit.
* The frame ends where the length field says when the segment there ends with ``&&`` and
  four hex digits follow. Otherwise (bytes lost or added in transit: v66, v73, v78, v87) it
  ends at the first LF or the next frame start, and is reported as ``length_mismatch``.
  An LF inside the declared segment always ends the frame (a segment is one text line).
* The line end after the CRC may be CR LF, LF or missing (the next ``##`` follows, or the
  stream pauses): a frame is emitted as soon as its CRC has arrived.
* CRC: HJ 212 CRC (:mod:`shanshui.hj212.crc`), hex digits all upper or all lower case
  (mixed case is damage: ``crc_mismatch``). A device may be configured for the Modbus
  dialect (``modbus_crc_devices``: its MNs); then a frame whose CRC is CRC-16/MODBUS
  printed low byte first is accepted for those MNs only.

Memory is bounded: at most one partial frame (``max_segment`` + 16 bytes) plus the bytes
of the current :meth:`Decoder.feed` call, and :data:`GARBAGE_CHUNK` bytes of pending garbage.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Final, NamedTuple

from shanshui.hj212.crc import crc16, modbus_crc_text
from shanshui.hj212.errors import FrameError
from shanshui.hj212.message import Message, _parse

#: Longest piece of garbage reported in one event [bytes].
GARBAGE_CHUNK: Final = 1024
#: The 4-digit length field's maximum [bytes].
MAX_SEGMENT: Final = 9999
#: The standards' limit on the data segment (HJ 212-2017 §6.3.2; HJ/T 212-2005) [bytes].
STANDARD_MAX_SEGMENT: Final = 1024

_BLANK: Final = b" \t\r\n"
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
_new = tuple.__new__


class Frame(NamedTuple):
    """A valid frame: its bytes (``##`` … CRC, without the line end) and its message."""

    raw: bytes
    message: Message
    #: ``"hj212"``, or ``"modbus"`` for a device configured for the Modbus-CRC dialect.
    crc_dialect: str = "hj212"

    @property
    def over_standard_length(self) -> bool:
        """The data segment exceeds the standards' 1024 bytes (accepted nonetheless)."""
        return len(self.raw) - 10 > STANDARD_MAX_SEGMENT


Event = Frame | FrameError


def _is_hex4(b: bytes | bytearray) -> bool:
    return len(b) == 4 and all(c in _HEX for c in b)


class Decoder:
    """Incremental HJ 212 decoder for one byte stream (one connection or file).

    Parameters
    ----------
    max_segment : int
        Largest accepted data segment [bytes], 1–9999; default 9999 (see module notes).
    modbus_crc_devices : Container[str]
        MNs of devices that send the CRC-16/MODBUS dialect (vectors v47–v49); empty by
        default, so such frames are ``crc_mismatch``.

    Examples
    --------
    >>> dec = Decoder()
    >>> events = dec.feed(data)      # list of Frame | FrameError
    >>> events += dec.close()        # at end of stream
    """

    __slots__ = ("_buf", "_garbage", "_max", "_modbus", "_skipping")

    def __init__(
        self, *, max_segment: int = MAX_SEGMENT, modbus_crc_devices: Container[str] = ()
    ) -> None:
        if not 1 <= max_segment <= MAX_SEGMENT:
            raise ValueError(f"max_segment must be 1..{MAX_SEGMENT}, not {max_segment}")
        self._max = max_segment
        self._modbus = modbus_crc_devices
        self._buf = bytearray()
        self._garbage = bytearray()
        self._skipping = False

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame or line [bytes]."""
        return len(self._buf) + len(self._garbage)

    @property
    def at_rest(self) -> bool:
        """Between frames: no partial frame, no pending garbage, not skipping an oversize
        frame (the next byte is read as if the stream began there)."""
        return not (self._buf or self._garbage or self._skipping)

    # ------------------------------------------------------------------ public API
    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Add received bytes; return the events they complete, in stream order."""
        if type(data) is not bytes:
            data = bytes(data)
        if not (self._buf or self._garbage or self._skipping):
            # Fast path, the usual case: exactly one whole frame and its line end. The
            # checks are those of the general path below.
            n = len(data)
            digits = data[2:6]
            if data.startswith(b"##") and digits.isdigit():
                e = 6 + int(digits)
                if (
                    e - 6 <= self._max
                    and data.endswith(b"\n")
                    and (n == e + 5 or (n == e + 6 and data[e + 4] == 13))  # CR LF or LF
                    and data.endswith(b"&&", 6, e)
                    and data.find(b"\n", 6, e) < 0
                ):
                    seg = data[6:e]
                    crc = data[e : e + 4]
                    if crc == b"%04X" % crc16(seg):  # the usual case, inlined from _frame
                        raw = data[: e + 4]
                        try:
                            return [_new(Frame, (raw, _parse(seg, False), "hj212"))]
                        except FrameError as exc:
                            exc.raw = raw
                            return [exc]
                    if crc.isalnum():
                        return [self._frame(data[: e + 4], seg, crc)]
            events: list[Event] = []
            pos = self._run(data, events, final=False)
            if pos < n:
                self._buf = bytearray(data[pos:])
            return events
        events = []
        if self._buf:
            self._buf += data
            buf = bytes(self._buf)
        else:
            buf = data
        pos = self._run(buf, events, final=False)
        self._buf = bytearray(buf[pos:])
        return events

    def close(self) -> list[Event]:
        """End of stream: report what is left (a cut frame, pending garbage) and reset."""
        events: list[Event] = []
        self._run(bytes(self._buf), events, final=True)
        self._add_garbage(b"", events, flush=True)
        self._buf = bytearray()
        self._skipping = False
        return events

    # ------------------------------------------------------------------ internals
    def _add_garbage(self, chunk: bytes, events: list[Event], *, flush: bool) -> None:
        g = self._garbage
        g += chunk
        while True:
            k = g.find(b"\n")
            if k < 0 or k >= GARBAGE_CHUNK:
                break
            line = bytes(g[: k + 1])
            del g[: k + 1]
            if line.strip(_BLANK):
                events.append(FrameError("garbage", "bytes outside a frame", line))
        while len(g) >= GARBAGE_CHUNK:
            piece = bytes(g[:GARBAGE_CHUNK])
            del g[:GARBAGE_CHUNK]
            if piece.strip(_BLANK):
                events.append(FrameError("garbage", "bytes outside a frame", piece))
        if flush and g:
            piece = bytes(g)
            g.clear()
            if piece.strip(_BLANK):
                events.append(FrameError("garbage", "bytes outside a frame", piece))

    @staticmethod
    def _next_start(buf: bytes, start: int, stop: int) -> int:
        """Index of the next ``##dddd`` in ``buf[start:stop]`` (complete), or -1."""
        i = buf.find(b"##", start, stop)
        while i >= 0:
            digits = buf[i + 2 : i + 6]
            if len(digits) == 4 and digits.isdigit() and i + 6 <= stop:
                return i
            i = buf.find(b"##", i + 1, stop)
        return -1

    def _cut(self, raw: bytes, declared: int) -> FrameError:
        """Classify a frame that does not end where its length field says."""
        raw = raw.rstrip(b"\r")
        body = raw[6:]
        if len(body) >= 4 and body[-6:-4] == b"&&" and _is_hex4(body[-4:]):
            seg = body[:-4]
            crc_ok = body[-4:].upper() == b"%04X" % crc16(seg)
            detail = (
                f"length field says {declared} bytes, the segment has {len(seg)}"
                f" ({'CRC matches the bytes present' if crc_ok else 'CRC does not match'})"
            )
            return FrameError("length_mismatch", detail, raw)
        return FrameError(
            "length_mismatch",
            f"length field says {declared} bytes; the frame is cut after {len(body)} bytes",
            raw,
        )

    def _run(self, buf: bytes, events: list[Event], *, final: bool) -> int:
        """Decode what ``buf`` holds; return how far it was consumed."""
        n = len(buf)
        pos = 0
        gstart = 0  # start of bytes not yet reported as garbage
        while pos < n:
            if self._skipping:
                # Skip the rest of a too-long frame up to an LF or the next frame start.
                k = buf.find(b"\n", pos)
                j = self._next_start(buf, pos, n if k < 0 else k)
                if j >= 0:
                    pos = gstart = j
                    self._skipping = False
                elif k >= 0:
                    pos = gstart = k + 1
                    self._skipping = False
                else:
                    return max(pos, n - 5)  # keep a possible partial "##ddd"
                continue
            i = buf.find(b"##", pos)
            if i < 0:
                # No frame start: garbage, except a last '#' that may begin "##".
                end = n - 1 if buf[n - 1] == 0x23 and not final else n
                self._add_garbage(buf[gstart:end], events, flush=False)
                return end
            digits = buf[i + 2 : i + 6]
            if len(digits) < 4:
                if not final and (not digits or digits.isdigit()):
                    self._add_garbage(buf[gstart:i], events, flush=False)
                    return i  # wait for the rest of the header
                pos = i + 1
                continue
            if not digits.isdigit():
                pos = i + 1  # "##" not followed by four digits: garbage, look further
                continue
            if i > gstart or self._garbage:
                self._add_garbage(buf[gstart:i], events, flush=True)
            declared = int(digits)
            if declared > self._max:
                events.append(
                    FrameError(
                        "too_long",
                        f"length field {declared} exceeds the maximum {self._max} bytes",
                        buf[i : i + 6],
                    )
                )
                pos = gstart = i + 6
                self._skipping = True
                continue
            seg_start = i + 6
            e = seg_start + declared  # where the CRC should start
            lf = buf.find(b"\n", seg_start, e if e < n else n)
            # Plausible end: segment ends with "&&" and 4 letters/digits follow (a non-hex
            # letter then fails the CRC comparison: crc_mismatch).
            if lf < 0 and e + 4 <= n and buf[e - 2 : e] == b"&&" and buf[e : e + 4].isalnum():
                pos = e + 4
                if buf[pos : pos + 2] == b"\r\n":
                    pos += 2
                elif buf[pos : pos + 1] == b"\n":
                    pos += 1
                gstart = pos
                events.append(self._frame(buf[i : e + 4], buf[seg_start:e], buf[e : e + 4]))
                continue
            # The frame does not end where its length field says (or has not arrived yet):
            # it ends at the first LF or the next frame start, whichever comes first.
            limit = seg_start + self._max + 6
            if lf < 0:
                lf = buf.find(b"\n", seg_start, limit)
            if lf < 0 and e + 4 > n and not final:
                return i  # wait for more bytes
            stop = lf if lf >= 0 else min(n, limit)
            j = self._next_start(buf, seg_start, stop)
            if j >= 0:
                events.append(self._cut(buf[i:j], declared))
                pos = gstart = j
            elif lf >= 0:
                events.append(self._cut(buf[i:lf], declared))
                pos = gstart = lf + 1
            elif n >= limit or final:
                events.append(self._cut(buf[i:stop], declared))
                pos = gstart = stop
            else:
                return i  # wait for an LF within the largest possible frame
        if gstart < pos:
            self._add_garbage(buf[gstart:pos], events, flush=False)
        return pos

    def _frame(self, raw: bytes, seg: bytes, crc: bytes) -> Event:
        """Check the CRC of a well-delimited frame and decode its segment.

        The CRC field must be the 4 hex digits all upper case (as the standards print them)
        or all lower case (common); mixed case is reported as ``crc_mismatch``: no device
        prints it, while a flipped case bit is transmission damage the CRC cannot see.
        """
        want = b"%04X" % crc16(seg)
        if crc == want or crc == want.lower():
            try:
                return _new(Frame, (raw, _parse(seg, crc != want), "hj212"))
            except FrameError as exc:
                exc.raw = raw
                return exc
        if self._modbus:
            dialect = modbus_crc_text(seg)
            if crc == dialect or crc == dialect.lower():
                try:
                    message = _parse(seg, crc != dialect)
                except FrameError as exc:
                    exc.raw = raw
                    return exc
                if message.mn is not None and message.mn in self._modbus:
                    return Frame(raw, message, "modbus")
        return FrameError(
            "crc_mismatch",
            f"CRC field {crc.decode('latin-1')!r}, HJ 212 CRC of the segment {want.decode()}",
            raw,
        )


def decode_frame(
    data: bytes, *, max_segment: int = MAX_SEGMENT, modbus_crc_devices: Container[str] = ()
) -> Message:
    """Decode exactly one frame (``##`` … CRC, line end optional).

    Raises
    ------
    FrameError
        The first error found; also ``garbage`` when ``data`` holds anything besides one
        frame, and ``truncated`` when it holds none.
    """
    dec = Decoder(max_segment=max_segment, modbus_crc_devices=modbus_crc_devices)
    events = dec.feed(data) + dec.close()
    frames = [e for e in events if isinstance(e, Frame)]
    for event in events:
        if isinstance(event, FrameError):
            raise event
    if len(frames) != 1:
        raise FrameError("truncated", f"expected one frame, found {len(frames)}", data)
    return frames[0].message
