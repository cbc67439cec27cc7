"""Errors of the HJ 212 codec.

:class:`FrameError` is the peer's fault (a device or a file sent bytes that are not a valid
frame); the incremental :class:`~shanshui.hj212.Decoder` *returns* it as an event and never
raises it. :func:`~shanshui.hj212.decode_frame` raises it. :class:`EncodeError` is the
caller's fault (a message that cannot be written as a frame).
"""

from __future__ import annotations

from typing import Final, Literal

from shanshui.errors import CallerError, PeerError

Reason = Literal[
    "garbage",
    "too_long",
    "length_mismatch",
    "crc_mismatch",
    "bad_field",
    "truncated",
]
"""Why bytes were rejected.

``garbage``
    bytes outside any frame: no ``##`` followed by four decimal digits (HJ 212-2017 §6.3.2
    frame layout); blank lines between frames are skipped silently and are not garbage.
``too_long``
    the length field exceeds the decoder's ``max_segment``.
``length_mismatch``
    the frame does not end where its length field says (bytes lost or added in transit,
    or a frame cut short).
``crc_mismatch``
    the CRC field is not the HJ 212 CRC of the data segment (HJ 212-2017 Appendix A),
    or not hexadecimal.
``bad_field``
    the CRC is right but the data segment does not parse: a missing or malformed
    ``ST``/``CN``/``QN``/``Flag``/``PNUM``/``PNO``/``DataTime``, control characters,
    no ``CP=&&…&&``, text that is neither UTF-8 nor GBK.
``truncated``
    the stream ended (``Decoder.close``) in the middle of a frame.
"""

REASONS: Final[frozenset[str]] = frozenset(
    ("garbage", "too_long", "length_mismatch", "crc_mismatch", "bad_field", "truncated")
)


class FrameError(PeerError):
    """Bytes from a peer that are not a valid HJ 212 frame.

    Attributes
    ----------
    reason : str
        One of :data:`REASONS` (see :data:`Reason`).
    detail : str
        A human-readable explanation.
    raw : bytes
        The offending bytes as received (for ``too_long``: the header, ``##`` and length).
    """

    __slots__ = ("detail", "raw", "reason")

    def __init__(self, reason: Reason, detail: str, raw: bytes = b"") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail: str = detail
        self.raw: bytes = raw

    def __repr__(self) -> str:
        return f"FrameError({self.reason!r}, {self.detail!r}, {self.raw[:40]!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FrameError):
            return NotImplemented
        return (self.reason, self.detail, self.raw) == (other.reason, other.detail, other.raw)

    def __hash__(self) -> int:
        return hash((self.reason, self.detail, self.raw))


class EncodeError(CallerError):
    """A message that cannot be written as an HJ 212 frame (the caller's mistake)."""
