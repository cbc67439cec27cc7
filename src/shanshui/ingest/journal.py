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
once per journal object. A segment that is not the last was fsync-ed whole at its rotation,
so bad bytes there are damage, never a torn tail: they are dead-lettered the same way (up to
the next intact record, or to the segment's end) and reading goes on (review 16b, finding 1).

Opening a journal checks what is on disk (review 16b, findings 2 and 4): the bytes cut from
the last segment (a torn tail, or a damaged last record: the two cannot always be told
apart) are dead-lettered before the cut, with a WARNING; a gap in the segment numbers is an
ERROR naming the missing numbers; a checkpoint that names a missing segment, points past its
segment's valid end or between records, or does not read, is an ERROR and reading starts
from the oldest segment present (a replay is idempotent, DESIGN §4). The damage found is
counted (:attr:`Journal.damaged_bytes`, :attr:`Journal.missing_segments`) for ``/metrics``.

Storage faults (review 16b, findings 3 and 5): a write refused for lack of space (ENOSPC,
EDQUOT) raises :class:`JournalFull`; the journal cuts the segment back to where that write
began and drops the records not yet written (bumping :attr:`Journal.generation`, so that
their commits are not acknowledged), and later appends are tried again. Any failed fsync
(sync, the rotation's fsync of the old segment, a directory fsync, the checkpoint's) or any
other failed write makes the journal :attr:`Journal.failed` for the rest of the process
(:class:`JournalFailed`): after a failed fsync the kernel may have dropped the dirty pages and
a later fsync can report success without them ("fsyncgate"), so nothing more is acknowledged
and ``serve`` stops for its supervisor to restart it; the restart recovers what is on disk.

Dead letters (these bad bytes, and the frames and records the writer cannot store,
:mod:`shanshui.ingest.writer`) were acknowledged: the platform never deletes them. They are
kept, rotated by size, by :mod:`shanshui.ingest.deadletters` (its names are importable from
here too). The record format, the journal's errors and the scans of a segment are in
:mod:`shanshui.ingest.journal_records`, the group commit in :mod:`shanshui.ingest.group_commit`
(both importable from here too).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from shanshui.ingest.deadletters import (
    DEADLETTER,
    DEADLETTER_BYTES,
    DEADLETTER_GLOB,
    TALLY_INLINE_BYTES,
    DeadLetterTally,
    append_dead_letters,
)
from shanshui.ingest.group_commit import GroupCommitter
from shanshui.ingest.journal_records import HEADER as _HEADER
from shanshui.ingest.journal_records import (
    MAX_RECORD,
    JournalError,
    JournalFailed,
    JournalFull,
    Position,
)
from shanshui.ingest.journal_records import boundaries as _boundaries
from shanshui.ingest.journal_records import boundary_problem as _boundary
from shanshui.ingest.journal_records import read_records as _records
from shanshui.ingest.journal_records import resync as _resync
from shanshui.ingest.journal_records import segment_name as _segment_name
from shanshui.ingest.metrics import LOG

__all__ = [  # the dead-letter names are importable from here, as before the split
    "DEADLETTER",
    "DEADLETTER_BYTES",
    "DEADLETTER_GLOB",
    "LOCK",
    "MAX_RECORD",
    "TALLY_INLINE_BYTES",
    "DeadLetterTally",
    "GroupCommitter",
    "Journal",
    "JournalBusy",
    "JournalError",
    "JournalFailed",
    "JournalFull",
    "Position",
    "append_dead_letters",
]

if sys.platform != "win32":  # CHOICE: no fcntl on Windows: there, no folder lock is taken
    import fcntl

SEGMENT_BYTES = 64 * 1024 * 1024  # rotate segments at 64 MiB
#: Write buffer of a segment file [bytes]: records reach the kernel at each sync (group
#: commit) in one write, or when this much is buffered, not every 8 KiB (each write lets the
#: writer thread take the GIL).
WRITE_BUFFER = 1024 * 1024
#: The errors of a write refused for lack of space: recovered in-process (:class:`JournalFull`).
#: The journal folder's file of damage already dead-lettered, ``segment offset`` per line.
DAMAGE_NOTED = "damage-noted"
NO_SPACE = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
#: The file of a journal directory that its owning process holds locked (``flock``).
LOCK = "lock"


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
            fd = getattr(self, "_fd", None)
            if fd is not None:  # opened before the failure (a cut at open that failed)
                os.close(fd)
            self._release()
            raise

    def _open(self, segment_bytes: int) -> None:
        self.segment_bytes = segment_bytes
        #: Rotation size of ``deadletter.jsonl`` [bytes] (:func:`append_dead_letters`).
        self.deadletter_bytes = DEADLETTER_BYTES
        self._lock = threading.Lock()
        # bad bytes dead-lettered (segment, offset), also by earlier runs (DAMAGE_NOTED)
        self._dead: set[tuple[int, int]] = set()
        #: Journal bytes found damaged and dead-lettered by this object (bad records, cut
        #: tails), and the segment numbers found missing at open: ``/metrics``.
        self.damaged_bytes = 0
        self.missing_segments: list[int] = []
        #: Bumped whenever appended records are dropped (a write refused for lack of space):
        #: a commit whose records were appended under an older generation is not acknowledged.
        self.generation = 0
        #: Set by a failed fsync or write: nothing is acknowledged any more in this process.
        self.failed: JournalFailed | None = None
        segments = self.segments()
        self._report_gaps(segments)
        self._dead = self._damage_noted(segments)
        self._segment = segments[-1] if segments else 1
        path = self.directory / _segment_name(self._segment)
        existed = path.exists()
        end = self._valid_end(path) if existed else 0
        # CHOICE: a raw descriptor with this object's own buffer (not a BufferedWriter): a
        # write refused for lack of space then leaves a known state (the bytes written so
        # far), which can be cut back and retried; O_APPEND writes after any cut
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._buffer = bytearray()  # appended, not yet handed to the kernel
        if not existed:  # the new segment's name must survive a crash like its records
            self._fsync_directory()
        size = os.fstat(self._fd).st_size
        if size != end:  # cut away a torn tail (or a damaged last record) before appending
            end = self._cut_at_open(path, end, size)
        self._written = end  # bytes of the current segment handed to the kernel
        self._pos = end  # the write offset, kept here: the file's end plus the buffer
        self._dirty = False
        self._checkpoint = self._trusted_checkpoint()

    def _report_gaps(self, segments: list[int]) -> None:
        """Log (ERROR) and count the segment numbers missing between the oldest and the
        newest present: segments are only deleted below the checkpoint, so a gap is a
        segment lost outside the journal (a hand, fsck, a partial restore)."""
        if not segments:
            return
        missing = sorted(set(range(segments[0], segments[-1] + 1)) - set(segments))
        if missing:
            self.missing_segments = missing
            LOG.error(
                "journal segments missing: their acknowledged records are lost",
                extra={"journal": str(self.directory), "missing_segments": missing},
            )

    def _cut_at_open(self, path: Path, end: int, size: int) -> int:
        """Dead-letter the bytes after the last segment's valid ``end``, then cut them away;
        where appending goes on (``end``, or 0 in a new segment).

        They are a torn tail (never synced, never acknowledged) or a damaged last record
        (acknowledged): the two cannot always be told apart, and the cut bytes exist nowhere
        else, so they are kept (review 16b, finding 4) with a WARNING before the truncate.
        With no space to keep them (a full disk, review 18 finding 2), they stay where they
        are and new records go to the next segment: readers dead-letter bad bytes in a
        segment that is not the last when they reach them (by then, space may be back), and
        the gateway starts instead of failing at every restart while the disk is full.
        """
        assert self._fd is not None
        with open(path, "rb") as handle:
            handle.seek(end)
            bad = handle.read(size - end)
        whole = len(bad) >= _HEADER.size and _HEADER.size + _HEADER.unpack_from(bad)[0] <= len(
            bad
        )  # a complete record whose CRC fails: more likely damage than a torn write
        reason = "cut at open: torn tail or damaged last record"
        try:
            self._keep_bad(self._segment, end, bad, reason, note=False)
        except OSError as exc:
            if exc.errno not in NO_SPACE:
                raise
            return self._past_tail(end, len(bad), exc)
        LOG.warning(
            "journal tail cut at open and dead-lettered",
            extra={
                "segment": self._segment,
                "offset": end,
                "length": len(bad),
                "kind": "a complete record whose CRC fails (damage)" if whole else "a torn tail",
            },
        )
        os.ftruncate(self._fd, end)
        os.fsync(self._fd)
        return end

    def _past_tail(self, end: int, length: int, exc: OSError) -> int:
        """Leave a tail that could not be dead-lettered in its segment and go on in the next
        one (:meth:`_cut_at_open`); 0, the new segment's end."""
        assert self._fd is not None
        path = self.directory / _segment_name(self._segment + 1)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.close(self._fd)
        self._fd = fd
        self._fsync_directory()
        LOG.error(
            "no space to dead-letter the journal's tail: left in its segment, new records go"
            " to the next one",
            extra={"segment": self._segment, "offset": end, "length": length, "error": str(exc)},
        )
        self._segment += 1
        return 0

    def _trusted_checkpoint(self) -> Position:
        """The checkpoint file's position if the disk bears it out, else the oldest segment's
        start with one ERROR line (review 16b, finding 2).

        Trusted: a segment that exists and an offset at one of its record boundaries, no
        further than its valid end. CHOICE: anything else (an unreadable file, a missing
        segment, an offset past the end or between records) replays from the oldest segment
        present rather than refusing to start: the store's writes are idempotent (DESIGN §4),
        so a replay costs time, never data; skipping would lose acknowledged records.
        """
        present = self.segments()
        oldest = Position(present[0], 0)
        path = self.directory / "checkpoint"
        if not path.exists():
            return oldest
        try:
            segment, offset = (int(t) for t in path.read_text(encoding="ascii").split())
            if segment < 0 or offset < 0:
                raise ValueError("a negative number")
        except (ValueError, UnicodeDecodeError, OSError) as exc:
            problem = f"the checkpoint file does not read ({exc})"
        else:
            place = Position(segment, offset)
            if segment not in present:
                problem = f"it names segment {segment}, which is not on disk"
            elif place == Position(self._segment, self._pos) or offset == 0:
                return place  # the usual case: everything applied (the last segment's end)
            else:
                at = _boundary(self.directory / _segment_name(segment), offset)
                if at is None:
                    return place
                problem = f"offset {offset} of segment {segment} is {at}"
        LOG.error(
            "journal checkpoint not trusted: reading starts from the oldest segment "
            "(a replay is idempotent)",
            extra={"journal": str(self.directory), "problem": problem, "start": str(oldest)},
        )
        return oldest

    # -- writing -------------------------------------------------------------------------

    def append(self, payload: bytes) -> Position:
        """Append one record (not yet durable: call :meth:`sync`). Returns where it starts.

        Raises :class:`JournalFull` when a write it makes (a full buffer, a rotation) is
        refused for lack of space, :class:`JournalFailed` once the journal failed.
        """
        if not 0 < len(payload) <= MAX_RECORD:
            raise JournalError(f"a record holds 1 to {MAX_RECORD} bytes, not {len(payload)}")
        record = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        with self._lock:
            if self.failed is not None:
                raise self.failed
            if self._pos + len(record) > self.segment_bytes and self._pos > 0:
                self._rotate()
            position = Position(self._segment, self._pos)
            self._buffer += record
            self._pos += len(record)
            self._dirty = True
            if len(self._buffer) >= WRITE_BUFFER:
                self._write_out()
            return position

    def append_many(self, payloads: list[bytes]) -> Position:
        """Append several records; returns the position just after the last one."""
        for payload in payloads:
            self.append(payload)
        return self.end()

    def sync(self) -> None:
        """Make every appended record durable (write and fsync).

        Raises :class:`JournalFull` (the records not yet written were dropped; the next
        sync tries again) or :class:`JournalFailed` (for good).
        """
        with self._lock:
            if self.failed is not None:
                raise self.failed
            if not self._dirty or self._fd is None:
                return
            self._write_out()
            # fsync a duplicate outside the lock (appends go on meanwhile): a rotation may
            # close the segment's own descriptor, never this one (no EBADF, and never an
            # fsync of whatever file reused the number). Rotation fsyncs the old segment.
            fd = os.dup(self._fd)
            self._dirty = False
        try:
            os.fsync(fd)
        except OSError as exc:
            raise self._fail(f"journal fsync failed: {exc}") from exc
        finally:
            os.close(fd)

    def mark(self) -> tuple[Position, int]:
        """The position after the last appended record and the :attr:`generation`, together."""
        with self._lock:
            return Position(self._segment, self._pos), self.generation

    def end(self) -> Position:
        """The position after the last appended record."""
        with self._lock:
            return Position(self._segment, self._pos)

    def _write_out(self) -> None:
        """Hand the buffer to the kernel (the lock held). A write refused for lack of space
        cuts the segment back to where it began and drops the buffer (:class:`JournalFull`);
        any other failed write fails the journal."""
        assert self._fd is not None
        data, self._buffer = self._buffer, bytearray()
        start = self._written
        done = 0
        try:
            with memoryview(data) as view:
                while done < len(data):  # os.write may write less than it was given
                    done += os.write(self._fd, view[done:])
        except OSError as exc:
            # The records in ``data`` (and those appended later under this generation) are
            # dropped: their commits fail, unacknowledged, and their devices resend.
            self.generation += 1
            self._pos = self._written = start  # left dirty: what was written before is synced
            if exc.errno not in NO_SPACE:
                raise self._fail(f"journal write failed: {exc}") from exc
            try:  # cut back what part of it was written (shrinking needs no space)
                os.ftruncate(self._fd, start)
            except OSError as cut:
                raise self._fail(f"journal write failed ({exc}), cut failed: {cut}") from cut
            raise JournalFull(
                f"no space for the journal in {self.directory}: {exc.strerror}; "
                "frames not acknowledged (devices resend), tried again at the next commit"
            ) from exc
        self._written += done

    def _fail(self, message: str) -> JournalFailed:
        """Mark the journal failed for the rest of the process (the first failure kept)."""
        if self.failed is None:
            self.failed = JournalFailed(f"{message}; the journal is closed for this process")
        return self.failed

    def _rotate(self) -> None:
        """Start the next segment (the lock held) once the current one is durable whole."""
        assert self._fd is not None
        self._write_out()  # JournalFull: nothing rotated, the next append tries again
        try:
            os.fsync(self._fd)
        except OSError as exc:  # fsyncgate: its records may be lost already
            raise self._fail(f"fsync of segment {self._segment} at rotation failed: {exc}") from exc
        path = self.directory / _segment_name(self._segment + 1)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno in NO_SPACE:  # the old segment stays current, whole and durable
                raise JournalFull(f"no space for a new journal segment: {exc.strerror}") from exc
            raise self._fail(f"cannot create journal segment {path.name}: {exc}") from exc
        os.close(self._fd)
        self._fd = fd
        self._segment += 1
        self._pos = self._written = os.fstat(fd).st_size
        try:  # the new segment's name must be durable before records in it are acknowledged
            self._fsync_directory()
        except OSError as exc:
            raise self._fail(f"fsync of the journal folder at rotation failed: {exc}") from exc

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Sync and close the current segment, then release the folder's lock.

        CHOICE: a failed journal is closed without a sync (nothing more is trusted), and a
        full disk's unwritten records are dropped (never acknowledged); a failing fsync here
        raises, after the segment is closed and the lock released (the process ends anyway).
        """
        try:
            if self._fd is not None and self.failed is None:
                with contextlib.suppress(JournalFull):
                    self.sync()
        finally:
            with self._lock:
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
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
        """The first record not yet applied to the store: the checkpoint file's position as
        checked against the disk at open (:meth:`_trusted_checkpoint`), or the last one set."""
        return self._checkpoint

    def set_checkpoint(self, position: Position) -> None:
        """Record that everything before ``position`` is in the store; drop old segments.

        A segment is deleted only below ``position``, which must not lie past the journal's
        end: the writer has read past every segment it deletes. A write refused for lack of
        space raises :class:`JournalFull` (retried with the next batch); a failed fsync
        fails the journal.
        """
        if position > self.end():
            raise JournalError(f"checkpoint {position} past the journal's end {self.end()}")
        path = self.directory / "checkpoint"
        tmp = path.with_suffix(".tmp")
        text = f"{position.segment} {position.offset}\n".encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if os.write(fd, text) != len(text):
                raise OSError(errno.ENOSPC, "short write of the checkpoint")
            try:
                os.fsync(fd)
            except OSError as exc:
                raise self._fail(f"fsync of the journal checkpoint failed: {exc}") from exc
        except OSError as exc:
            if exc.errno in NO_SPACE:
                raise JournalFull(f"no space for the journal checkpoint: {exc.strerror}") from exc
            raise
        finally:
            os.close(fd)
        os.replace(tmp, path)
        try:
            self._fsync_directory()
        except OSError as exc:
            raise self._fail(f"fsync of the journal folder failed: {exc}") from exc
        self._checkpoint = position
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
        dead-lettered and skipped (see the module docstring). A segment that is not the
        last was fsync-ed whole at its rotation: bad bytes there are dead-lettered up to the
        next intact record or to its end, and reading goes on (never a raise: review 16b,
        finding 1).
        """
        segments = [n for n in self.segments() if n >= start.segment]
        for number in segments:
            path = self.directory / _segment_name(number)
            offset = start.offset if number == start.segment else 0
            whole = number != segments[-1]  # a later segment exists: this one is complete
            with open(path, "rb") as handle:
                handle.seek(offset)
                end = offset
                while True:
                    for payload, after in _records(handle, end):
                        end = after
                        yield payload, Position(number, after)
                    if not handle.read(1):
                        break  # the end of the segment
                    if until is not None and Position(number, end) >= until:
                        break  # past the durable point: an append in progress
                    if whole:
                        found = _resync(handle, end, None)
                        stop = os.fstat(handle.fileno()).st_size if found is None else found
                        self._dead_letter(number, end, handle, stop, whole=found is None)
                        if found is None:
                            break  # the rest of the segment was damaged
                    else:
                        limit = None if until is None or until.segment != number else until.offset
                        found = _resync(handle, end, limit)
                        if found is None:
                            break  # a torn tail
                        self._dead_letter(number, end, handle, found)
                    end = found
                    handle.seek(end)

    def _dead_letter(
        self, segment: int, offset: int, handle: BinaryIO, after: int, *, whole: bool = False
    ) -> None:
        """Keep bad bytes followed by intact records (or, ``whole``, the damaged rest of a
        segment that was fsync-ed whole) in ``deadletter.jsonl``, once per journal object."""
        if (segment, offset) in self._dead:
            return
        handle.seek(offset)
        bad = handle.read(after - offset)
        reason = (
            "corrupt journal bytes at the end of a segment fsync-ed whole at its rotation"
            if whole
            else "corrupt journal bytes followed by intact records"
        )
        self._keep_bad(segment, offset, bad, reason)
        LOG.warning(
            "corrupt journal bytes dead-lettered; reading goes on",
            extra={"segment": segment, "offset": offset, "length": len(bad)},
        )

    def _keep_bad(
        self, segment: int, offset: int, bad: bytes, reason: str, *, note: bool = True
    ) -> None:
        """Append one dead-letter line for the journal bytes ``bad`` and count them;
        ``note``: in DAMAGE_NOTED (not for bytes cut away, whose offset new records reuse)."""
        line = {
            "reason": reason,
            "journal": {"segment": segment, "offset": offset, "length": len(bad)},
            "payload_b64": base64.b64encode(bad).decode(),
        }
        append_dead_letters(self.directory, [line], max_bytes=self.deadletter_bytes)
        self.damaged_bytes = getattr(self, "damaged_bytes", 0) + len(bad)
        if not note:  # cut away: new records go to the same offset (review 19 #2)
            return
        self._dead.add((segment, offset))
        # noted for later runs, which read the same damage again until the checkpoint passes
        # it (the store down, the gateway restarted): one dead letter per damage, not one per
        # start (review 18, finding 4). CHOICE: not fsync-ed: a note lost in a crash costs a
        # repeated dead letter, never a record
        with open(self.directory / DAMAGE_NOTED, "a", encoding="ascii") as notes:
            notes.write(f"{segment} {offset}\n")

    def _damage_noted(self, segments: list[int]) -> set[tuple[int, int]]:
        """The damage already dead-lettered in the segments still present (DAMAGE_NOTED;
        the notes of deleted segments are dropped from the file)."""
        path = self.directory / DAMAGE_NOTED
        if not path.exists():
            return set()
        noted: set[tuple[int, int]] = set()
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()
        for line in lines:
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                noted.add((int(parts[0]), int(parts[1])))
        kept = {n for n in noted if n[0] in set(segments)}
        if len(kept) < len(lines):
            path.write_text("".join(f"{a} {b}\n" for a, b in sorted(kept)), encoding="ascii")
        return kept

    def pending(self) -> Iterator[tuple[bytes, Position]]:
        """Records after the checkpoint (to be applied after a restart)."""
        return self.read_from(self.checkpoint())

    @staticmethod
    def _valid_end(path: Path) -> int:
        """The end of the last intact record of a segment (bad bytes between intact records
        are not a tail: they stay, and readers skip them)."""
        end = 0
        for end in _boundaries(path):  # noqa: B007 - the last one is wanted
            pass
        return end
