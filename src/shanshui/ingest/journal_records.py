"""The journal's on-disk record format, its errors and the scans of a segment file.

Each record is ``length (u32, little-endian) | crc32 of payload (u32) | payload`` (see
:mod:`shanshui.ingest.journal`, which writes them). The functions here read a segment: its
intact records, the next intact record after bad bytes, and its record boundaries.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from shanshui.errors import StoreError

#: A record's header: payload length and the payload's CRC-32, both u32 little-endian.
HEADER = struct.Struct("<II")
MAX_RECORD = 16 * 1024 * 1024  # a record larger than this is a caller bug


class JournalError(StoreError):
    """The journal cannot be read or written."""


class JournalFull(JournalError):  # noqa: N818 - as JournalBusy: the state it names
    """A journal write was refused for lack of space (ENOSPC, EDQUOT): the records not yet
    written were dropped, unacknowledged (their devices resend); later appends try again."""


class JournalFailed(JournalError):  # noqa: N818 - as JournalBusy: the state it names
    """The journal cannot be trusted any more in this process (a failed fsync, or a write
    that failed otherwise than for space): nothing more is acknowledged until a restart."""


@dataclass(frozen=True, order=True)
class Position:
    """A place in the journal: segment number and byte offset within it."""

    segment: int
    offset: int


def segment_name(number: int) -> str:
    return f"seg-{number:020d}.log"


def boundaries(path: Path) -> Iterator[int]:
    """The record boundaries of a segment after 0, in order: the end of each intact record
    and each offset where reading resumes after bad bytes (:func:`resync`); the last one is
    the segment's valid end (bad bytes after it are a tail)."""
    end = 0
    with open(path, "rb") as handle:
        while True:
            for _, after in read_records(handle, end):
                end = after
                yield end
            found = resync(handle, end, None)
            if found is None:
                return
            end = found
            yield end
            handle.seek(end)


def boundary_problem(path: Path, offset: int) -> str | None:
    """None when ``offset`` (> 0) is a record boundary of the segment at ``path``; else what
    it is instead ("past the valid end N", "between records")."""
    last = 0
    for last in boundaries(path):
        if last >= offset:
            return None if last == offset else "between records"
    return f"past the segment's valid end {last}"


def resync(handle: BinaryIO, bad: int, limit: int | None) -> int | None:
    """The offset of the first intact record after the bad bytes at ``bad`` (before
    ``limit`` when given), or None when there is none (a torn tail).

    An intact record: a length of 1 to :data:`MAX_RECORD` bytes, all of them present, whose
    CRC-32 matches (a false match has a chance of 2**-32 per candidate offset).
    """
    handle.seek(bad)
    rest = handle.read() if limit is None else handle.read(max(0, limit - bad))
    size = HEADER.size
    for k in range(1, len(rest) - size):
        length, crc = HEADER.unpack_from(rest, k)
        if (
            0 < length <= MAX_RECORD
            and k + size + length <= len(rest)
            and zlib.crc32(rest[k + size : k + size + length]) == crc
        ):
            return bad + k
    return None


def read_records(handle: BinaryIO, offset: int) -> Iterator[tuple[bytes, int]]:
    """Intact records from the handle's position (at ``offset``): ``(payload, end offset)``.

    Stops at the end of the file or at the first record that is not intact: incomplete, a
    CRC mismatch, or a zero or oversize length (zeros left by a crash after a file was
    extended would otherwise read as empty records, since the CRC-32 of nothing is 0).
    """
    while True:
        header = handle.read(HEADER.size)
        if len(header) < HEADER.size:
            return
        length, crc = HEADER.unpack(header)
        if not 0 < length <= MAX_RECORD:
            handle.seek(-len(header), os.SEEK_CUR)
            return
        payload = handle.read(length)
        if len(payload) < length or zlib.crc32(payload) != crc:
            handle.seek(-len(header) - len(payload), os.SEEK_CUR)
            return
        offset += HEADER.size + length
        yield payload, offset
