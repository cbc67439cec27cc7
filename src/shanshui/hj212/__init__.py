"""``shanshui.hj212`` — a sans-IO codec for HJ 212 (HJ/T 212-2005, HJ 212-2017, HJ 212-2025).

Bytes in, messages out, and back; no sockets, no storage.

* :class:`Decoder` — incremental: ``feed(bytes) -> list[Frame | FrameError]``, ``close()``.
* :func:`decode_frame` — one frame to a :class:`Message` (raises :class:`FrameError`).
* :class:`Message` — the data segment, typed and immutable; :meth:`Message.build`.
* :func:`encode` — a message to frame bytes; :mod:`~shanshui.hj212.replies` builds the
  server's answers (9011–9014) and the device uploads (2011, 2051, 2061, 2031, heartbeat).
* :func:`crc16` — the standard's CRC; :mod:`~shanshui.hj212.codes` — code tables.
"""

from shanshui.hj212.crc import crc16, crc_text, modbus_crc16
from shanshui.hj212.decoder import (
    MAX_SEGMENT,
    STANDARD_MAX_SEGMENT,
    Decoder,
    Event,
    Frame,
    decode_frame,
)
from shanshui.hj212.encode import encode, frame_segment
from shanshui.hj212.errors import REASONS, EncodeError, FrameError, Reason
from shanshui.hj212.jsonview import event_json, message_from_json, message_json
from shanshui.hj212.message import Message, parse_segment
from shanshui.hj212.replies import (
    data_ack,
    execution_result,
    heartbeat,
    make_qn,
    notice_ack,
    platform_replies,
    request_ack,
    split_upload,
    upload,
)
from shanshui.hj212.values import CST, TEXT_SUFFIXES, format_value, parse_time, typed_value

__all__ = [
    "CST",
    "MAX_SEGMENT",
    "REASONS",
    "STANDARD_MAX_SEGMENT",
    "TEXT_SUFFIXES",
    "Decoder",
    "EncodeError",
    "Event",
    "Frame",
    "FrameError",
    "Message",
    "Reason",
    "crc16",
    "crc_text",
    "data_ack",
    "decode_frame",
    "encode",
    "event_json",
    "execution_result",
    "format_value",
    "frame_segment",
    "heartbeat",
    "make_qn",
    "message_from_json",
    "message_json",
    "modbus_crc16",
    "notice_ack",
    "parse_segment",
    "parse_time",
    "platform_replies",
    "request_ack",
    "split_upload",
    "typed_value",
    "upload",
]
