"""Dead letters: acknowledged frames and records that cannot be stored, kept for ever.

Dead letters (bad journal bytes followed by intact records, :mod:`shanshui.ingest.journal`,
and the frames and records the writer cannot store, :mod:`shanshui.ingest.writer`) were
acknowledged: the platform never deletes them (DESIGN §5, "a frame the gateway acknowledged
is never lost"). They live in the journal folder, one JSON object a line.

:func:`append_dead_letters`, the one way both write them, rotates by size: before a line
would take ``deadletter.jsonl`` past :data:`DEADLETTER_BYTES`, the full file gets the name
``deadletter-YYYYmmddTHHMMSSZ-NNN.jsonl`` (UTC time of the rotation, then 000, 001, … for
rotations in the same second), so that ``ls`` and a sorted glob list the files in time order,
the current ``deadletter.jsonl`` last. The new name is made with ``link`` (which never
replaces a file: a taken name moves on to the next number), then the old one is unlinked.
A line is never split across files (a line longer than the limit fills a file alone), and a
half line left by a ``kill -9`` during an append is ended with a newline before anything else
is appended, so it stays a (bad) line of its own. :class:`DeadLetterTally` counts the lines
and bytes kept, for ``/metrics``.

One process owns a journal folder (:class:`~shanshui.ingest.journal.Journal` locks it);
the appends of its threads take turns, and any other process that appends to the folder
waits for its turn too (``flock`` on ``deadletter.lock``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from fnmatch import fnmatchcase
from pathlib import Path

if sys.platform != "win32":  # no fcntl on Windows: there, only the in-process lock
    import fcntl

__all__ = [
    "DEADLETTER",
    "DEADLETTER_BYTES",
    "DEADLETTER_GLOB",
    "TALLY_INLINE_BYTES",
    "DeadLetterTally",
    "append_dead_letters",
]

#: Size at which ``deadletter.jsonl`` is rotated [bytes]. CHOICE: 64 MiB, as a journal
#: segment: a file an operator can open and grep; dead letters are rare (a few lines a day on
#: a healthy network), so a full file means something to look at, and the files are kept.
DEADLETTER_BYTES = 64 * 1024 * 1024
#: The current dead-letter file of a journal directory, and the rotated ones' pattern.
DEADLETTER = "deadletter.jsonl"
DEADLETTER_GLOB = "deadletter*.jsonl"
#: New dead-letter bytes :meth:`DeadLetterTally.usage` counts on its caller's thread
#: [bytes]; when more wait (the kept files after a start), a thread counts them. CHOICE:
#: 1 MiB, about a millisecond from the page cache: a scrape never stalls the event loop.
TALLY_INLINE_BYTES = 1024 * 1024
_DEAD_LOCK = threading.Lock()  # one writer of dead letters at a time in this process
#: The file whose ``flock`` one appending process holds while it appends and rotates.
APPEND_LOCK = "deadletter.lock"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _appending(folder: Path) -> Iterator[None]:
    """Hold the folder's dead-letter append lock: the thread lock of this process, then an
    exclusive ``flock`` on :data:`APPEND_LOCK` (waiting for it).

    The journal folder belongs to one process (:class:`~shanshui.ingest.journal.Journal`
    locks it), so the ``flock`` is uncontended there; it makes any other caller of
    :func:`append_dead_letters` on the folder (another process without a Journal) wait
    rather than rotate the same file at the same time.
    """
    with _DEAD_LOCK:
        if sys.platform == "win32":  # pragma: no cover - see the import of fcntl
            yield
            return
        fd = os.open(folder / APPEND_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock


def _write_all(fd: int, data: bytes) -> None:
    """``data`` in one ``write`` call (more only if the kernel takes part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _open_live(folder: Path) -> tuple[int, bool]:
    """The current dead-letter file opened to append (read too, for its last byte):
    (descriptor, whether it was created).

    A file with a second name in the folder is a rotation a crash stopped between its
    ``link`` and its ``unlink``: the rotation is finished here and a new file begun.
    """
    path = folder / DEADLETTER
    flags = os.O_RDWR | os.O_APPEND
    while True:
        try:
            return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644), True
        except FileExistsError:
            pass
        try:
            fd = os.open(path, flags)
            break
        except FileNotFoundError:  # rotated between the two opens (a process without lock)
            continue
    stat = os.fstat(fd)
    if stat.st_nlink > 1 and any(
        entry.name != DEADLETTER
        and fnmatchcase(entry.name, DEADLETTER_GLOB)
        and entry.inode() == stat.st_ino
        for entry in os.scandir(folder)
    ):
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return os.open(path, flags | os.O_CREAT, 0o644), True
    return fd, False


def _rotate(folder: Path, now: float) -> None:
    """Give the full ``deadletter.jsonl`` its rotated name, ``deadletter-<UTC time of
    now>-NNN.jsonl``, never replacing a file: ``link`` fails on a taken name (EEXIST), so
    the next number is tried; then the old name is unlinked.

    NNN is zero-padded to 3 digits so that names sort in time order; CHOICE: a 1001st
    rotation within one second (64 GB/s at :data:`DEADLETTER_BYTES`) would get 4 digits and
    sort out of order, still never overwriting.
    """
    path = folder / DEADLETTER
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    for n in itertools.count():
        try:
            os.link(path, folder / f"deadletter-{stamp}-{n:03d}.jsonl")
        except FileExistsError:
            continue
        except FileNotFoundError:  # rotated meanwhile by a process that took no folder lock
            return
        break
    with contextlib.suppress(FileNotFoundError):  # the same
        os.unlink(path)


def _shares(size: int, encoded: list[bytes], max_bytes: int) -> list[list[bytes]]:
    """The lines for the current file (``size`` [bytes] already), then for each new file:
    a line goes whole into one file, a new file begins when it would pass ``max_bytes``."""
    shares: list[list[bytes]] = [[]]
    for data in encoded:
        if size > 0 and size + len(data) > max_bytes:
            shares.append([])
            size = 0
        shares[-1].append(data)
        size += len(data)
    return shares


def append_dead_letters(
    directory: str | os.PathLike[str],
    lines: Iterable[Mapping[str, object]],
    *,
    max_bytes: int = DEADLETTER_BYTES,
) -> int:
    """Append dead-letter ``lines`` (one JSON object each) to ``directory``'s
    ``deadletter.jsonl``, durably (fsync), rotating it by size (module docstring); the bytes
    written (a newline ending a torn last line included).

    A line goes whole into one file: when it would take a non-empty file past ``max_bytes``
    [bytes], that file is first fsync-ed and renamed with the time (:func:`_rotate`: never
    overwritten, never removed); the directory is fsync-ed so that the names survive a
    crash. Each file's share of the batch is written with one ``write`` call, so a
    ``kill -9`` leaves at most one half line, at the end of the current file; the next call
    ends it with a newline first (review 13b, finding 3).
    """
    folder = Path(directory)
    encoded = [(json.dumps(dict(line)) + "\n").encode() for line in lines]
    if not encoded:
        return 0
    written = 0
    with _appending(folder):
        fd, created = _open_live(folder)
        try:
            size = os.fstat(fd).st_size
            torn = b"\n" if size > 0 and os.pread(fd, 1, size - 1) != b"\n" else b""
            for i, share in enumerate(_shares(size + len(torn), encoded, max_bytes)):
                if i > 0:  # the current file is full: durable, renamed, a new one begun
                    os.fsync(fd)
                    os.close(fd)
                    fd = -1
                    _rotate(folder, time.time())
                    fd, _ = _open_live(folder)
                    created = True
                data = (torn if i == 0 else b"") + b"".join(share)
                if data:
                    begun = os.fstat(fd).st_size
                    try:
                        _write_all(fd, data)
                    except OSError:
                        # refused part way (a full disk): no half line left behind to take
                        # the space freed next (review 19 #1); the caller tries again
                        with contextlib.suppress(OSError):
                            os.ftruncate(fd, begun)
                        raise
                    written += len(data)
            os.fsync(fd)
        finally:
            if fd >= 0:
                os.close(fd)
        if created:  # a new file's name (and a rotated one's) must survive a crash too
            _fsync_dir(folder)
    return written


def _count_lines(path: Path, ino: int, start: tuple[int, int]) -> tuple[int, int] | None:
    """(bytes, lines) of the file at ``path`` to its end, counting on from ``start``
    (bytes, lines) already counted; None when ``path`` is gone or another file (inode)."""
    size, lines = start
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_ino != ino:
                return None
            handle.seek(size)
            while chunk := handle.read(1 << 20):
                lines += chunk.count(b"\n")
                size += len(chunk)
    except FileNotFoundError:
        return None
    return size, lines


class DeadLetterTally:
    """The dead letters kept in a journal directory: files, lines and bytes (all files).

    :meth:`usage` runs at each ``/metrics`` scrape, on the gateway's event loop, so it never
    reads much there (review 13b, finding 4):

    - A file is known by its inode, so a rotation (a new name, the same inode) carries its
      count over: nothing is read again.
    - A rotated file never changes, so once it has been counted to its end, its count is
      kept by name and the file is not even ``stat``-ed again. A call costs one directory
      listing and a ``stat`` of ``deadletter.jsonl``, plus reading what was appended since.
    - The lines appended since the last call are read on the caller's thread when they are
      at most ``inline_bytes`` [bytes] (:data:`TALLY_INLINE_BYTES`); more (the files kept
      before a start, a large backlog) are counted by one background thread, which the
      constructor already starts. Until it is done, the files and bytes are exact (``stat``)
      but the lines are those counted so far: the lines gauge climbs to the full number
      once the thread is done (it reads each kept file once, in 1 MiB chunks).
      :meth:`wait` waits for it.

    A line counts once complete (its newline written).
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, inline_bytes: int = TALLY_INLINE_BYTES
    ) -> None:
        self.directory = Path(directory)
        self.inline_bytes = inline_bytes
        self._lock = threading.Lock()
        self._counted: dict[int, tuple[int, int]] = {}  # inode → (bytes counted, lines)
        self._final: dict[str, int] = {}  # rotated name → inode, counted to its end
        self._worker: threading.Thread | None = None
        self.usage()  # begin counting now: done, or well along, by the first scrape

    def usage(self) -> tuple[int, int, int]:
        """(files, lines, bytes) of the dead-letter files now (the class docstring says how
        exact the lines are while a background count runs)."""
        with self._lock:
            files = self._scan()
            pending = self._pending(files)
            if pending and self._worker is None:
                if sum(files[ino][1] - self._counted[ino][0] for ino in pending) <= (
                    self.inline_bytes
                ):
                    for ino in pending:
                        got = _count_lines(self.directory / files[ino][0], ino, self._counted[ino])
                        if got is not None:
                            self._counted[ino] = got
                    self._mark_final(files)
                else:
                    self._worker = threading.Thread(
                        target=self._count_in_background, name="deadletter-tally", daemon=True
                    )
                    self._worker.start()
            return (
                len(files),
                sum(self._counted[ino][1] for ino in files),
                sum(size for _, size in files.values()),
            )

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background count, if one runs; whether none runs now."""
        with self._lock:
            worker = self._worker
        if worker is not None:
            worker.join(timeout)
            return not worker.is_alive()
        return True

    def _scan(self) -> dict[int, tuple[str, int]]:
        """The dead-letter files now, by inode: (name, size [bytes]); forgets the others.
        Under ``self._lock``."""
        found: dict[int, tuple[str, int]] = {}
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            entries = []
        for entry in entries:
            name = entry.name
            if not fnmatchcase(name, DEADLETTER_GLOB):
                continue
            try:
                ino = entry.inode()
                if self._final.get(name) == ino:  # rotated and counted: it never changes
                    size = self._counted[ino][0]
                elif entry.is_file(follow_symlinks=False):
                    size = entry.stat(follow_symlinks=False).st_size
                else:
                    continue
            except FileNotFoundError:  # rotated meanwhile: seen under its new name next time
                continue
            if ino in found and name == DEADLETTER:
                continue  # a rotation between its link and its unlink: one file, its new name
            found[ino] = (name, size)
        counted = {ino: self._counted.get(ino, (0, 0)) for ino in found}
        for ino, (_, size) in found.items():
            if counted[ino][0] > size:  # shorter than counted: not the file counted
                counted[ino] = (0, 0)
        self._counted = counted
        self._final = {name: ino for name, ino in self._final.items() if ino in found}
        return found

    def _pending(self, files: dict[int, tuple[str, int]]) -> list[int]:
        """The inodes of ``files`` with bytes not counted yet."""
        return [ino for ino, (_, size) in files.items() if size > self._counted[ino][0]]

    def _mark_final(self, files: dict[int, tuple[str, int]]) -> None:
        """Remember the rotated files counted to their end (they never change)."""
        for ino, (name, size) in files.items():
            if name != DEADLETTER and self._counted[ino][0] >= size:
                self._final[name] = ino

    def _count_in_background(self) -> None:
        """Count until nothing is left to count; the lock is held only between files."""
        try:
            while True:
                with self._lock:
                    files = self._scan()
                    self._mark_final(files)
                    jobs = [
                        (ino, files[ino][0], self._counted[ino]) for ino in self._pending(files)
                    ]
                    if not jobs:
                        return
                for ino, name, start in jobs:
                    got = _count_lines(self.directory / name, ino, start)
                    with self._lock:
                        if got is not None and self._counted.get(ino) == start:
                            self._counted[ino] = got
        except OSError:  # unreadable now: the next usage() starts again from what is counted
            return
        finally:
            with self._lock:
                self._worker = None
