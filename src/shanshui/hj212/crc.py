"""The HJ 212 CRC (HJ 212-2017 §6.3.2 and Appendix A; HJ/T 212-2005 Appendix A).

The standard's algorithm, applied to the bytes of the data segment::

    crc = 0xFFFF
    for byte in segment:
        crc = (crc >> 8) ^ byte
        repeat 8 times:
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1

No final XOR; printed as 4 hex digits, high byte first. This is *not* CRC-16/MODBUS
(which does ``crc ^= byte``): only the high byte ``h`` of the register survives from one
byte to the next, and the step ``h' = M(h ^ byte)`` (``M`` = high byte of 8 shift rounds)
is linear over GF(2) with ``M**8 == identity`` (checked at import). Hence the CRC of
``b[0..n-1]`` is::

    T[ M**(n-1)(0xFF) ^ XOR_j M**(j mod 8)(b[n-1-j]) ]

with ``T`` the 8-round table (linear too). Bytes whose distance from the end agree
modulo 8 can be XORed together first; :func:`crc16` does that XOR fold with Python's big
integers (C speed) and finishes with eight table look-ups. :func:`crc16_reference` is the
standard's loop, kept to check it.
"""

from __future__ import annotations

from typing import Final

_POLY: Final = 0xA001  # reflected x^16 + x^15 + x^2 + 1, HJ 212-2017 Appendix A


def _rounds(value: int) -> int:
    """Eight shift rounds of the standard's inner loop on a register ``value`` [16 bit]."""
    crc = value
    for _ in range(8):
        crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
    return crc


_T: Final[tuple[int, ...]] = tuple(_rounds(x) for x in range(256))
_M: Final[tuple[int, ...]] = tuple(t >> 8 for t in _T)


def _m_pow(x: int, k: int) -> int:
    for _ in range(k):
        x = _M[x]
    return x


if any(_m_pow(x, 8) != x for x in range(256)):  # pragma: no cover - a property of 0xA001
    raise AssertionError("HJ 212 CRC state map is not of order 8")

# _C[r][x] = T(M**r(x)); _Q[k] = T(M**k(0xFF)) (the initial register's contribution).
_C: Final[tuple[tuple[int, ...], ...]] = tuple(
    tuple(_T[_m_pow(x, r)] for x in range(256)) for r in range(8)
)
_Q: Final[tuple[int, ...]] = tuple(_T[_m_pow(0xFF, k)] for k in range(8))

_FOLDS: dict[int, tuple[tuple[int, int], ...]] = {}


def _folds(words: int) -> tuple[tuple[int, int], ...]:
    """Shift/mask pairs that XOR-fold a ``words``-word integer down to one 64-bit word."""
    steps = []
    while words > 1:
        half = (words + 1) // 2
        steps.append((64 * half, (1 << (64 * half)) - 1))
        words = half
    return tuple(steps)


def crc16(data: bytes) -> int:
    """HJ 212 CRC of ``data`` (the data segment's bytes) [0..0xFFFF].

    Equal to :func:`crc16_reference` for every input; the Appendix A check value is
    ``crc16(b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
    b"Flag=5;CP=&&RtdInterval=30&&") == 0x1C80``.
    """
    n = len(data)
    if not n:
        return 0xFFFF
    x = int.from_bytes(data, "big")
    words = (n + 7) >> 3
    steps = _FOLDS.get(words)
    if steps is None:
        steps = _folds(words)
        if words <= 2048:  # bounded cache: one entry per 8-byte length step up to 16 KiB
            _FOLDS[words] = steps
    for shift, mask in steps:
        x = (x >> shift) ^ (x & mask)
    b0, b1, b2, b3, b4, b5, b6, b7 = x.to_bytes(8, "little")
    c0, c1, c2, c3, c4, c5, c6, c7 = _C
    return _Q[(n - 1) & 7] ^ c0[b0] ^ c1[b1] ^ c2[b2] ^ c3[b3] ^ c4[b4] ^ c5[b5] ^ c6[b6] ^ c7[b7]


def crc16_reference(data: bytes) -> int:
    """HJ 212 CRC computed literally as HJ 212-2017 Appendix A writes it (slow; for tests)."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
    return crc


def crc_text(data: bytes, *, lower: bool = False) -> bytes:
    """The 4 hex digits the frame carries for ``data``, high byte first (upper case by default)."""
    return (b"%04x" if lower else b"%04X") % crc16(data)


_MODBUS: Final[tuple[int, ...]] = tuple(_rounds(x) for x in range(256))


def modbus_crc16(data: bytes) -> int:
    """CRC-16/MODBUS (init 0xFFFF, ``crc ^= byte``, reflected 0xA001) — a device dialect.

    Some data loggers send this instead of the HJ 212 CRC, printed low byte first
    (reference vectors v47–v49); accept it only for devices configured for it.
    """
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _MODBUS[(crc ^ byte) & 0xFF]
    return crc


def modbus_crc_text(data: bytes, *, lower: bool = False) -> bytes:
    """The 4 hex digits of the Modbus dialect: CRC-16/MODBUS printed low byte first."""
    crc = modbus_crc16(data)
    return (b"%02x%02x" if lower else b"%02X%02X") % (crc & 0xFF, crc >> 8)
