"""The journal's group commit: many connections' appends made durable by one fsync.

Split from :mod:`shanshui.ingest.journal` (which re-exports :class:`GroupCommitter`); the
faults it handles are described there (review 16b, findings 3 and 5).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from shanshui.ingest.journal_records import JournalError, JournalFailed, JournalFull, Position
from shanshui.ingest.metrics import LOG

if TYPE_CHECKING:
    from shanshui.ingest.journal import Journal

__all__ = ["GroupCommitter"]


class GroupCommitter:
    """Batches appends from many connections into one fsync (group commit).

    ``await committer.commit(payloads)`` returns once those records are durable. While one
    fsync runs in a worker thread, new records gather for the next one, so throughput grows
    with the number of concurrent writers rather than being bounded by fsync latency.

    A full disk (:class:`JournalFull`) fails the commits whose records were dropped (not
    acknowledged: their devices resend) and later commits are tried again, so the gateway
    acknowledges again once there is space, without a restart. A failed journal
    (:class:`JournalFailed`, or any other error of a sync) fails every commit from then on
    and sets :attr:`broken`, on which ``serve`` stops (review 16b, findings 3 and 5).
    """

    def __init__(self, journal: Journal):
        self.journal = journal
        # each waiter with the journal's generation read before its records were appended
        self._waiters: list[tuple[asyncio.Future[None], int]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        #: Set by a failed fsync: nothing is acknowledged any more until a restart.
        self.failed: JournalError | None = None
        #: Set together with :attr:`failed` (``serve`` waits on it).
        self.broken = asyncio.Event()
        #: True from a write refused for lack of space until a sync goes through again.
        self.full = False
        #: Everything before this position is on disk (fsync-ed); readers stop here.
        self.durable: Position = journal.end()

    def start(self) -> None:
        """Start the background flusher on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def commit(self, payloads: list[bytes]) -> None:
        """Append ``payloads`` and wait until they are durable (:class:`JournalError` when
        they are not: the journal closed, full or failed)."""
        if self._closed:
            raise JournalError("journal is closed")
        if self.failed is None and self.journal.failed is not None:  # failed in a thread
            self._fail(self.journal.failed)
        if self.failed is not None:
            raise self.failed
        # CHOICE: read before appending: a cut between this and the append fails the commit
        # though its records may have been kept (a resend, harmless) rather than ever
        # acknowledging a record that was dropped
        generation = self.journal.generation
        try:
            for payload in payloads:
                self.journal.append(payload)
        except JournalFull as exc:
            self._note_full(exc)
            raise
        except JournalFailed as exc:
            self._fail(exc)
            raise
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((future, generation))
        self._wake.set()
        await future

    def _fail(self, exc: JournalError) -> None:
        if self.failed is None:
            self.failed = exc
            self.broken.set()

    def _note_full(self, exc: JournalFull) -> None:
        if not self.full:  # once per episode, not once per frame
            self.full = True
            LOG.warning(
                "journal disk full: frames are not acknowledged (devices resend) until "
                "there is space again",
                extra={"error": str(exc)},
            )

    async def _run(self) -> None:
        while not self._closed or self._waiters:
            await self._wake.wait()
            self._wake.clear()
            waiters, self._waiters = self._waiters, []
            if not waiters:
                continue
            end, generation = self.journal.mark()
            try:
                await asyncio.to_thread(self.journal.sync)
            except JournalFull as exc:  # this group's records were dropped: not acknowledged
                self._note_full(exc)
                _settle(waiters, exc)
                continue
            except (JournalError, OSError) as exc:
                # After a failed fsync the kernel may have dropped the dirty pages and a later
                # fsync can report success without them ("fsyncgate"): never trust this
                # journal again in this process. Nothing more is acknowledged; devices resend
                # and a restart recovers what is really on disk.
                failed = (
                    exc
                    if isinstance(exc, JournalFailed)
                    else JournalFailed(f"journal sync failed, journal closed: {exc}")
                )
                self._fail(failed)
                _settle(waiters, failed)
                continue
            now = self.journal.generation
            if now == generation:  # no record before ``end`` was dropped meanwhile
                self.durable = max(self.durable, end)
            if self.full:
                self.full = False
                LOG.warning("journal disk has space again: frames are acknowledged again")
            dropped = JournalFull("the journal dropped these records for lack of space")
            for future, appended in waiters:
                if not future.done():
                    if appended == now:
                        future.set_result(None)
                    else:  # appended before a cut: perhaps not on disk
                        future.set_exception(dropped)

    async def close(self) -> None:
        """Flush what is pending and stop."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            await self._task


def _settle(waiters: list[tuple[asyncio.Future[None], int]], exc: JournalError) -> None:
    """Fail the commits of ``waiters`` with ``exc`` (none of them is acknowledged)."""
    for future, _ in waiters:
        if not future.done():
            future.set_exception(exc)
