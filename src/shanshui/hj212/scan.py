"""The gateway's ack path: split frames, check CRC and length, read only the header.

A gateway must answer (HJ 212-2017 §6.5.1, 9014) once a frame is durable, but it needs
only the header to do so: who sent it (``MN``, ``PW``), what it is (``ST``, ``CN``), how to
answer (``QN``, ``Flag``) and, for data uploads, that it carries a ``DataTime``. Reading the
whole CP (every value) can wait for the journal writer. :class:`HeadDecoder` gives, for each
frame, a :data:`Head` tuple::

    (segment, qn, st, cn, pw, mn, flag, has_data_time, message)

``segment`` is the data segment's bytes (between the length field and the CRC; the writer
decodes it in full with :func:`~shanshui.hj212.parse_segment`), ``message`` the decoded
:class:`~shanshui.hj212.Message` when the frame went through the full decoder, else None.

**Clean frames** are scanned by :func:`scan_frames` (C, ``_scan.c``, where built; else its
pure-Python twin :func:`scan_frames_py`, the source of truth — ``tests/test_hj212_scan.py``
holds the two equal). A frame is clean when all of these hold, and the scan stops at the
first byte where one does not:

* ``##`` + 4 digits ≤ ``max_segment`` + segment + CRC + optional CR LF / LF
  (HJ 212-2017 §6.3.2), the whole frame in the buffer, blank bytes (space, tab, CR, LF)
  allowed before it;
* the segment is printable ASCII (0x20–0x7E: no line end inside it) and ends with ``&&``;
* the CRC is the HJ 212 CRC (Appendix A) printed as 4 upper-case hex digits;
* the header is exactly ``[QN=d{1,20};]ST=an{1,4};CN=d{1,6};PW=…;MN=…;[Flag=d{1,3};]``
  (values without ``;``, at most 64 characters; Flag ≤ 255) followed by the segment's first
  ``CP=&&``, and CP holds at least ``&&`` after it (the fast path of
  :func:`~shanshui.hj212.segment.parse_fields`, the same rules);
* CP has no space and no ``//`` (the layouts whose keys the general parser reads differently),
  and at most one ``DataTime=`` key (at the start of CP or after ``;`` / ``,``), whose value
  is 14 or 17 digits (HJ 212-2017 Table 6; a malformed one goes to the full decoder, which
  refuses the frame as before).

Everything else — a partial frame, garbage, a bad CRC or length, lower-case CRC, other header
layouts (PNUM/PNO, reordered keys), non-ASCII text — is handed, from the stop position, to the
full :class:`~shanshui.hj212.Decoder`, so its events (frames and errors) are exactly the
decoder's: the scan changes no framing rule, it only skips the CP parse of clean frames.

Choice (written down): a clean frame whose CP turns out undecodable (an entry without ``=``,
an impossible date such as month 13) has been acknowledged once durable; the journal writer
finds it, counts it and keeps it in the dead-letter file with its reason (never dropped
silently). Frames the platform must refuse (bad CRC, oversize, unknown MN, bad password, no
MN, no DataTime) are still refused at once.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from typing import Final

from shanshui.hj212.decoder import MAX_SEGMENT, Decoder, Frame
from shanshui.hj212.errors import FrameError
from shanshui.hj212.message import Message

Head = tuple[bytes, str | None, str, str, str | None, str | None, int | None, bool, Message | None]
"""segment, qn, st, cn, pw, mn, flag, has_data_time, message (None when only scanned)."""

ScanResult = tuple[list[Head], int]

# The header of parse_fields' fast path (HJ 212-2017 Table 4 order), on bytes.
_HEADER: Final = re.compile(
    rb"(?:QN=([0-9]{1,20});)?ST=([0-9A-Za-z]{1,4});CN=([0-9]{1,6});PW=([^;]{0,64});"
    rb"MN=([^;]{0,64});(?:Flag=([0-9]{1,3});)?"
)
_BLANK: Final = b" \t\r\n"
_CP: Final = b"CP=&&"
_DATA_TIME: Final = b"DataTime="


def _crc_upper(segment: bytes) -> bytes:
    from shanshui.hj212.crc import crc16  # noqa: PLC0415 - compiled module, imported once

    return b"%04X" % crc16(segment)


def _data_time(cp: bytes) -> bool | None:
    """Whether CP has a well-formed ``DataTime`` key; None when the scan must stop."""
    found = False
    k = cp.find(_DATA_TIME)
    while k >= 0:
        if k == 0 or cp[k - 1] in b";,":
            if found:
                return None  # twice: the full decoder keeps the last
            j = k + len(_DATA_TIME)
            end = j
            while end < len(cp) and cp[end] not in b";,":
                end += 1
            value = cp[j:end]
            if not (value.isdigit() and len(value) in (14, 17)):
                return None
            found = True
        k = cp.find(_DATA_TIME, k + 1)
    return found


def scan_frames_py(data: bytes, pos: int = 0, max_segment: int = MAX_SEGMENT) -> ScanResult:
    """Clean frames of ``data[pos:]`` and where the scan stopped (see the module docstring).

    The stop position is just after the last clean frame's line end (CR LF or LF): blank
    bytes after it are left to the decoder unless a clean frame follows them.
    """
    heads: list[Head] = []
    n = len(data)
    stop = min(max(pos, 0), n)
    while True:
        q = stop
        while q < n and data[q] in _BLANK:
            q += 1
        if q + 6 > n or data[q : q + 2] != b"##":
            break
        digits = data[q + 2 : q + 6]
        if not digits.isdigit():
            break
        declared = int(digits)
        seg_start = q + 6
        e = seg_start + declared
        if declared > max_segment or e + 4 > n:
            break
        segment = data[seg_start:e]
        if not segment.endswith(b"&&") or not segment.isascii():
            break
        text = segment.decode("ascii")
        if not text.isprintable():
            break
        if data[e : e + 4] != _crc_upper(segment):
            break
        match = _HEADER.match(segment)
        if match is None:
            break
        cpi = match.end()
        if segment.find(_CP) != cpi or declared < cpi + 7:
            break
        qn, st, cn, pw, mn, flag_text = match.groups()
        flag = None if flag_text is None else int(flag_text)
        if flag is not None and flag > 255:
            break
        cp = segment[cpi + 5 : -2]
        if b" " in cp or b"//" in cp:
            break
        has_time = _data_time(cp)
        if has_time is None:
            break
        end = e + 4
        if data[end : end + 2] == b"\r\n":
            end += 2
        elif data[end : end + 1] == b"\n":
            end += 1
        heads.append(
            (
                segment,
                None if qn is None else qn.decode(),
                st.decode(),
                cn.decode(),
                pw.decode(),
                mn.decode(),
                flag,
                has_time,
                None,
            )
        )
        stop = end
    return heads, stop


def frame_py(segment: bytes) -> bytes:
    """``##`` + length + segment + CRC + CR LF: :func:`~shanshui.hj212.frame_segment` with
    its defaults (the twin of the C ``frame``, for the gateway's answers)."""
    from shanshui.hj212.encode import frame_segment  # noqa: PLC0415

    return frame_segment(segment)


CpReadings = tuple[str, str, str | None, list[str], list[str], list[str], list[str]]
"""cn, mn, DataTime as sent, and the readings' parameters, statistics, values, flags."""
CpReader = Callable[[bytes, Mapping[str, str], Mapping[str, str]], CpReadings | None]


def _load_c() -> (
    tuple[Callable[[bytes, int, int], ScanResult], Callable[[bytes], bytes], CpReader] | None
):
    """The C scan, framing and CP reader of ``_scan.c``, or None where they were not built."""
    try:
        module = importlib.import_module("shanshui.hj212._scan")
    except ImportError:  # no C compiler at install time: setup.py left it out
        return None
    scan: Callable[[bytes, int, int], ScanResult] = module.scan_frames
    frame: Callable[[bytes], bytes] = module.frame
    cp_readings: CpReader = module.cp_readings
    return scan, frame, cp_readings


_C: Final = _load_c()
#: The C reader of a plain segment's readings (``cp_readings`` in ``_scan.c``), or None:
#: ``CP_READINGS_C(segment, air_codes, stats)`` gives what
#: :func:`shanshui.ingest.readings.add_readings` takes from ``parse_segment(segment)``
#: (parameters mapped by ``air_codes`` when ST is 22, statistics by ``stats``, each code's
#: Flag or ``N``), or None for a segment outside the plain layout (decode it in full).
CP_READINGS_C: Final = None if _C is None else _C[2]
#: The compiled scan, or None (then :func:`scan_frames` is :func:`scan_frames_py`).
SCAN_C: Final = None if _C is None else _C[0]
#: The compiled framing, or None (then :func:`frame` is :func:`frame_py`).
FRAME_C: Final = None if _C is None else _C[1]
scan_frames: Final[Callable[[bytes, int, int], ScanResult]] = SCAN_C or scan_frames_py
frame: Final[Callable[[bytes], bytes]] = FRAME_C or frame_py


def head_of(frame: Frame) -> Head:
    """The :data:`Head` of a frame the full decoder decoded (its message kept)."""
    m = frame.message
    segment = frame.raw[6:-4]
    return (segment, m.qn, m.st, m.cn, m.pw, m.mn, m.flag, m.data_time is not None, m)


class HeadDecoder:
    """Incremental decoder for the ack path: :data:`Head` tuples and
    :class:`~shanshui.hj212.FrameError` events, in stream order (module docstring).

    Clean frames are scanned; the rest of a chunk from the first byte that is not, and every
    chunk while the full decoder holds a partial frame or garbage, go to :attr:`decoder`.
    """

    __slots__ = ("_max", "decoder")

    def __init__(self, *, max_segment: int = MAX_SEGMENT) -> None:
        self.decoder = Decoder(max_segment=max_segment)
        self._max = max_segment

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame or line [bytes]."""
        return self.decoder.buffered

    def _full(self, data: bytes) -> list[Head | FrameError]:
        return [head_of(e) if isinstance(e, Frame) else e for e in self.decoder.feed(data)]

    def feed(self, data: bytes) -> list[Head | FrameError]:
        """Add received bytes; return the events they complete, in stream order."""
        if not self.decoder.at_rest:
            return self._full(data)
        heads, stop = scan_frames(data, 0, self._max)
        if stop == len(data):
            return heads  # type: ignore[return-value]
        events: list[Head | FrameError] = list(heads)
        events += self._full(data[stop:])
        return events

    def close(self) -> list[Head | FrameError]:
        """End of stream: what the decoder still holds (a cut frame, pending garbage)."""
        return [head_of(e) if isinstance(e, Frame) else e for e in self.decoder.close()]


__all__ = [
    "CP_READINGS_C",
    "FRAME_C",
    "SCAN_C",
    "Head",
    "HeadDecoder",
    "frame",
    "frame_py",
    "head_of",
    "scan_frames",
    "scan_frames_py",
]
