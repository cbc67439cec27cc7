"""The gateway's write-ahead journal: a reading is acknowledged only once it is on disk.

DESIGN §5 promises that a frame the gateway acknowledged is never lost — not on ``kill -9``,
not while the database is down. The gateway therefore appends each accepted reading to this
journal and answers the device (9014) only after the journal has been ``fsync``-ed. A separate
writer moves journal records into the store and then advances a checkpoint; after a crash,
everything after the checkpoint is replayed. Replaying a record twice is harmless because the
store's writes are idempotent (DESIGN §4).

Layout of a journal directory::

    lock                           held (flock) by the one process that owns the folder
    seg-00000000000000000001.log   segments, appended in order
    seg-00000000000000000002.log
    checkpoint                     "<segment number> <byte offset>" of the first unapplied record
    deadletter.jsonl               dead letters (below), then deadletter-<time>-<n>.jsonl

A journal folder belongs to one process: :class:`Journal` takes an exclusive ``flock`` on
``lock`` when it opens and releases it on close, and a second :class:`Journal` on the same
folder — another process, or another object in this one — gets :class:`JournalBusy`. Two
writers would interleave segments, move each other's checkpoint and rotate each other's dead
letters (review 13b, finding 1).

Each record is ``length (u32, little-endian) | crc32 of payload (u32) | payload``. A record
whose header or payload is incomplete or whose CRC does not match, at the end of the last
segment with no intact record after it, can only be the torn tail of a write that was never
synced, hence never acknowledged: recovery stops there and the next append truncates it away.
Bad bytes *followed* by intact records (a damaged disk block, not a torn write) are not a
tail: the intact records after them were acknowledged, so reading resumes at the next intact
record and the bad bytes are kept in ``deadletter.jsonl`` (reason, segment, offset, base64),
once per journal object. In an earlier segment any bad record is an error (repair by hand).

Dead letters (these bad bytes, and the frames and records the writer cannot store,
:mod:`shanshui.ingest.writer`) were acknowledged: the platform never deletes them. They are
kept, rotated by size, by :mod:`shanshui.ingest.deadletters` (its names are importable from
here too).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
import sys
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from shanshui.errors import StoreError
from shanshui.ingest.deadletters import (
    DEADLETTER,
    DEADLETTER_BYTES,
    DEADLETTER_GLOB,
    TALLY_INLINE_BYTES,
    DeadLetterTally,
    append_dead_letters,
)

__all__ = [  # the dead-letter names are importable from here, as before the split
    "DEADLETTER",
    "DEADLETTER_BYTES",
    "DEADLETTER_GLOB",
    "LOCK",
    "TALLY_INLINE_BYTES",
    "DeadLetterTally",
    "GroupCommitter",
    "Journal",
    "JournalBusy",
    "JournalError",
    "Position",
    "append_dead_letters",
]

if sys.platform != "win32":  # CHOICE: no fcntl on Windows: there, no folder lock is taken
    import fcntl

_HEADER = struct.Struct("<II")
SEGMENT_BYTES = 64 * 1024 * 1024  # rotate segments at 64 MiB
MAX_RECORD = 16 * 1024 * 1024  # a record larger than this is a caller bug
#: Write buffer of a segment file [bytes]: records reach the kernel at each sync (group
#: commit) in one write, not every 8 KiB (each write lets the writer thread take the GIL).
WRITE_BUFFER = 1024 * 1024
#: The file of a journal directory that its owning process holds locked (``flock``).
LOCK = "lock"


class JournalError(StoreError):
    """The journal cannot be read or written."""


class JournalBusy(JournalError):  # noqa: N818 - "busy" says it, as StoreBusy
    """Another process (or another :class:`Journal` in this one) holds the journal folder.

    Attributes: ``directory`` (the folder) and ``pid`` (the holder's process id as it wrote
    it into the lock file, or None when it is not known).
    """

    def __init__(self, directory: Path, pid: int | None) -> None:
        self.directory = directory
        self.pid = pid
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(
            f"the journal folder {os.path.abspath(directory)} is used by another gateway "
            f"({holder}), perhaps a running shanshui serve; a journal folder belongs to one "
            "process. Stop that process, or give this one another folder with --journal PATH"
        )


def _lock_folder(directory: Path) -> BinaryIO | None:
    """Take the folder's exclusive lock (``flock``, not waiting): the open lock file, whose
    closing releases it; None where there is no ``flock`` (Windows)."""
    if sys.platform == "win32":  # pragma: no cover - see the import of fcntl
        return None
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:  # held: by another process, or another Journal here
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        raise JournalBusy(directory, int(text) if text.isdigit() else None) from exc
    except OSError as exc:  # CHOICE: no lock, no journal (ENOLCK on NFS without lockd, …)
        os.close(fd)
        raise JournalError(
            f"cannot lock the journal folder {os.path.abspath(directory)}: {exc.strerror}; "
            "keep the journal on a local file system (--journal PATH)"
        ) from exc
    os.ftruncate(fd, 0)  # for the refused one's message: who holds it
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return os.fdopen(fd, "r+b", buffering=0)


@dataclass(frozen=True, order=True)
class Position:
    """A place in the journal: segment number and byte offset within it."""

    segment: int
    offset: int


def _segment_name(number: int) -> str:
    return f"seg-{number:020d}.log"


class Journal:
    """An append-only, fsync-ed, segmented log of opaque records. Thread-safe.

    Opening one takes its folder's lock (module docstring) until :meth:`close`; a folder
    another process or another open Journal holds raises :class:`JournalBusy`. CHOICE: the
    lock is not re-entrant within a process, because two Journal objects on one folder
    would append to one segment through two buffers, cut each other's "torn tails" and move
    each other's checkpoint, as two processes would; to reopen a folder (a restart), close
    the first Journal. Closing releases the lock, and so does the process's end, ``kill -9``
    included: a lock file left behind holds nothing.
    """

    def __init__(self, directory: str | os.PathLike[str], segment_bytes: int = SEGMENT_BYTES):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        # before anything is read or cut: a torn tail is only a tail to the folder's owner
        self._folder_lock = _lock_folder(self.directory)
        try:
            self._open(segment_bytes)
        except BaseException:
            self._release()
            raise

    def _open(self, segment_bytes: int) -> None:
        self.segment_bytes = segment_bytes
        #: Rotation size of ``deadletter.jsonl`` [bytes] (:func:`append_dead_letters`).
        self.deadletter_bytes = DEADLETTER_BYTES
        self._lock = threading.Lock()
        segments = self.segments()
        self._segment = segments[-1] if segments else 1
        path = self.directory / _segment_name(self._segment)
        # Cut away a torn tail left by a crash before appending after it.
        existed = path.exists()
        end = self._valid_end(path) if existed else 0
        self._file = open(path, "ab", buffering=WRITE_BUFFER)  # noqa: SIM115 - kept open
        if not existed:  # the new segment's name must survive a crash like its records
            self._fsync_directory()
        if self._file.tell() != end:
            self._file.truncate(end)
            self._file.seek(end)
            os.fsync(self._file.fileno())
        self._pos = end  # the write offset, kept here: tell() on a buffered file is slow
        self._dirty = False
        self._dead: set[tuple[int, int]] = set()  # bad bytes dead-lettered (segment, offset)

    # -- writing -------------------------------------------------------------------------

    def append(self, payload: bytes) -> Position:
        """Append one record (not yet durable: call :meth:`sync`). Returns where it starts."""
        if not 0 < len(payload) <= MAX_RECORD:
            raise JournalError(f"a record holds 1 to {MAX_RECORD} bytes, not {len(payload)}")
        record = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            if self._pos + len(record) > self.segment_bytes and self._pos > 0:
                self._rotate()
            position = Position(self._segment, self._pos)
            self._file.write(record)
            self._pos += len(record)
            self._dirty = True
            return position

    def append_many(self, payloads: list[bytes]) -> Position:
        """Append several records; returns the position just after the last one."""
        for payload in payloads:
            self.append(payload)
        return self.end()

    def sync(self) -> None:
        """Make every appended record durable (flush and fsync)."""
        with self._lock:
            if not self._dirty:
                return
            self._file.flush()
            # fsync a duplicate outside the lock (appends go on meanwhile): a rotation may
            # close the segment's own descriptor, never this one (no EBADF, and never an
            # fsync of whatever file reused the number). Rotation fsyncs the old segment.
            fd = os.dup(self._file.fileno())
            self._dirty = False
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def end(self) -> Position:
        """The position after the last appended record."""
        with self._lock:
            return Position(self._segment, self._pos)

    def _rotate(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._segment += 1
        self._file = open(  # noqa: SIM115 - kept open until the next rotation
            self.directory / _segment_name(self._segment), "ab", buffering=WRITE_BUFFER
        )
        self._pos = self._file.tell()
        self._fsync_directory()

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Sync and close the current segment, then release the folder's lock."""
        if not self._file.closed:
            self.sync()  # a failed fsync raises here and keeps the folder locked
            with self._lock:
                self._file.close()
        self._release()

    def _release(self) -> None:
        """Release the folder's lock (closing the lock file releases the ``flock``)."""
        lock, self._folder_lock = getattr(self, "_folder_lock", None), None
        if lock is not None:
            lock.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading and checkpoints ---------------------------------------------------------

    def segments(self) -> list[int]:
        """Segment numbers present, in order."""
        numbers = []
        for path in self.directory.glob("seg-*.log"):
            with contextlib.suppress(ValueError):
                numbers.append(int(path.stem[4:]))
        return sorted(numbers)

    def checkpoint(self) -> Position:
        """The first record not yet applied to the store."""
        path = self.directory / "checkpoint"
        if not path.exists():
            segments = self.segments()
            return Position(segments[0] if segments else 1, 0)
        try:
            segment, offset = path.read_text().split()
            return Position(int(segment), int(offset))
        except ValueError as exc:
            raise JournalError(f"corrupt checkpoint file {path}") from exc

    def set_checkpoint(self, position: Position) -> None:
        """Record that everything before ``position`` is in the store; drop old segments."""
        path = self.directory / "checkpoint"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as handle:
            handle.write(f"{position.segment} {position.offset}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        self._fsync_directory()
        for number in self.segments():
            if number < position.segment:
                (self.directory / _segment_name(number)).unlink(missing_ok=True)

    def read_from(
        self, start: Position, until: Position | None = None
    ) -> Iterator[tuple[bytes, Position]]:
        """Yield ``(payload, position after it)`` for every intact record from ``start``.

        ``until``: a position known to be durable (everything before it was synced); the
        bytes after it may be an append in progress, so bad bytes there end the reading
        without a search for later records. Without it, the whole last segment is judged.

        A bad record at the end of the last segment is a torn tail (never synced, never
        acknowledged) and ends the reading; bad bytes followed by an intact record are
        dead-lettered and skipped (see the module docstring). A bad record in an earlier
        segment cannot be a torn tail: rather than skip the acknowledged records after it,
        this raises.
        """
        segments = [n for n in self.segments() if n >= start.segment]
        for number in segments:
            path = self.directory / _segment_name(number)
            offset = start.offset if number == start.segment else 0
            with open(path, "rb") as handle:
                handle.seek(offset)
                end = offset
                while True:
                    for payload, after in _records(handle, end):
                        end = after
                        yield payload, Position(number, after)
                    if not handle.read(1):
                        break  # the end of the segment
                    if number != segments[-1]:
                        raise JournalError(
                            f"corrupt record in {path.name} at byte {end}; records after it "
                            "would be lost — repair the journal by hand"
                        )
                    if until is not None and Position(number, end) >= until:
                        break  # past the durable point: an append in progress
                    limit = None if until is None or until.segment != number else until.offset
                    found = _resync(handle, end, limit)
                    if found is None:
                        break  # a torn tail
                    self._dead_letter(number, end, handle, found)
                    end = found
                    handle.seek(end)

    def _dead_letter(self, segment: int, offset: int, handle: BinaryIO, after: int) -> None:
        """Keep bad bytes followed by intact records in ``deadletter.jsonl`` (once)."""
        if (segment, offset) in self._dead:
            return
        handle.seek(offset)
        bad = handle.read(after - offset)
        line = {
            "reason": "corrupt journal bytes followed by intact records",
            "journal": {"segment": segment, "offset": offset, "length": len(bad)},
            "payload_b64": base64.b64encode(bad).decode(),
        }
        append_dead_letters(self.directory, [line], max_bytes=self.deadletter_bytes)
        self._dead.add((segment, offset))

    def pending(self) -> Iterator[tuple[bytes, Position]]:
        """Records after the checkpoint (to be applied after a restart)."""
        return self.read_from(self.checkpoint())

    @staticmethod
    def _valid_end(path: Path) -> int:
        """The end of the last intact record of a segment (bad bytes between intact records
        are not a tail: they stay, and readers skip them)."""
        end = 0
        with open(path, "rb") as handle:
            while True:
                for _, after in _records(handle, end):
                    end = after
                found = _resync(handle, end, None)
                if found is None:
                    return end
                end = found
                handle.seek(end)


def _resync(handle: BinaryIO, bad: int, limit: int | None) -> int | None:
    """The offset of the first intact record after the bad bytes at ``bad`` (before
    ``limit`` when given), or None when there is none (a torn tail).

    An intact record: a length of 1 to :data:`MAX_RECORD` bytes, all of them present, whose
    CRC-32 matches (a false match has a chance of 2**-32 per candidate offset).
    """
    handle.seek(bad)
    rest = handle.read() if limit is None else handle.read(max(0, limit - bad))
    size = _HEADER.size
    for k in range(1, len(rest) - size):
        length, crc = _HEADER.unpack_from(rest, k)
        if (
            0 < length <= MAX_RECORD
            and k + size + length <= len(rest)
            and zlib.crc32(rest[k + size : k + size + length]) == crc
        ):
            return bad + k
    return None


def _records(handle: BinaryIO, offset: int) -> Iterator[tuple[bytes, int]]:
    """Intact records from the handle's position (at ``offset``): ``(payload, end offset)``.

    Stops at the end of the file or at the first record that is not intact: incomplete, a
    CRC mismatch, or a zero or oversize length (zeros left by a crash after a file was
    extended would otherwise read as empty records, since the CRC-32 of nothing is 0).
    """
    while True:
        header = handle.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        length, crc = _HEADER.unpack(header)
        if not 0 < length <= MAX_RECORD:
            handle.seek(-len(header), os.SEEK_CUR)
            return
        payload = handle.read(length)
        if len(payload) < length or zlib.crc32(payload) != crc:
            handle.seek(-len(header) - len(payload), os.SEEK_CUR)
            return
        offset += _HEADER.size + length
        yield payload, offset


class GroupCommitter:
    """Batches appends from many connections into one fsync (group commit).

    ``await committer.commit(payloads)`` returns once those records are durable. While one
    fsync runs in a worker thread, new records gather for the next one, so throughput grows
    with the number of concurrent writers rather than being bounded by fsync latency.
    """

    def __init__(self, journal: Journal):
        self.journal = journal
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        #: Set by a failed fsync: nothing is acknowledged any more until a restart.
        self.failed: JournalError | None = None
        #: Everything before this position is on disk (fsync-ed); readers stop here.
        self.durable: Position = journal.end()

    def start(self) -> None:
        """Start the background flusher on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def commit(self, payloads: list[bytes]) -> None:
        """Append ``payloads`` and wait until they are durable."""
        if self._closed:
            raise JournalError("journal is closed")
        if self.failed is not None:
            raise self.failed
        for payload in payloads:
            self.journal.append(payload)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._wake.set()
        await future

    async def _run(self) -> None:
        while not self._closed or self._waiters:
            await self._wake.wait()
            self._wake.clear()
            waiters, self._waiters = self._waiters, []
            if not waiters:
                continue
            end = self.journal.end()
            try:
                await asyncio.to_thread(self.journal.sync)
            except OSError as exc:
                # After a failed fsync the kernel may have dropped the dirty pages and a later
                # fsync can report success without them ("fsyncgate"): never trust this
                # journal again in this process. Nothing more is acknowledged; devices resend
                # and a restart recovers what is really on disk.
                self.failed = JournalError(f"journal sync failed, journal closed: {exc}")
                for future in waiters:
                    if not future.done():
                        future.set_exception(self.failed)
                continue
            self.durable = max(self.durable, end)
            for future in waiters:
                if not future.done():
                    future.set_result(None)

    async def close(self) -> None:
        """Flush what is pending and stop."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            await self._task
