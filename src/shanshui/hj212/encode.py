"""Writing messages as HJ 212 frames (HJ 212-2017 §6.3.2)."""

from __future__ import annotations

from typing import Literal

from shanshui.hj212.crc import crc_text, modbus_crc_text
from shanshui.hj212.decoder import MAX_SEGMENT
from shanshui.hj212.errors import EncodeError
from shanshui.hj212.message import Message


def frame_segment(
    segment: bytes,
    *,
    lower_crc: bool = False,
    crc_dialect: Literal["hj212", "modbus"] = "hj212",
    max_segment: int = MAX_SEGMENT,
) -> bytes:
    """``##`` + 4-digit length [bytes] + segment + CRC (4 hex) + CR LF (HJ 212-2017 §6.3.2).

    Raises
    ------
    EncodeError
        The segment is longer than ``max_segment`` (the length field holds at most 9999;
        the standards allow 1024 — pass ``max_segment=1024`` to enforce that).
    """
    if len(segment) > min(max_segment, MAX_SEGMENT):
        raise EncodeError(
            f"data segment of {len(segment)} bytes exceeds {min(max_segment, MAX_SEGMENT)};"
            " split it into sub-packets (PNUM/PNO)"
        )
    if crc_dialect == "hj212":
        crc = crc_text(segment, lower=lower_crc)
    elif crc_dialect == "modbus":
        crc = modbus_crc_text(segment, lower=lower_crc)
    else:
        raise EncodeError(f"unknown CRC dialect {crc_dialect!r}")
    return b"##%04d%b%b\r\n" % (len(segment), segment, crc)


def encode(
    message: Message,
    *,
    lower_crc: bool | None = None,
    crc_dialect: Literal["hj212", "modbus"] = "hj212",
    max_segment: int = MAX_SEGMENT,
) -> bytes:
    """The frame of ``message``, CR LF included.

    The segment is written from the message's layout (:attr:`Message.header`,
    :attr:`Message.cp`) in its text encoding, so a decoded frame re-encodes to its own
    bytes. ``lower_crc`` defaults to the case the message was received with (upper case
    for built messages, as the standards print it).
    """
    try:
        segment = message.segment().encode(message.encoding)
    except (UnicodeEncodeError, LookupError) as exc:
        raise EncodeError(f"message text cannot be written as {message.encoding}") from exc
    return frame_segment(
        segment,
        lower_crc=message.crc_lower if lower_crc is None else lower_crc,
        crc_dialect=crc_dialect,
        max_segment=max_segment,
    )
