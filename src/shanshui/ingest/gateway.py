"""The asyncio HJ 212 TCP gateway: connections, the device cache and limits.

Each connection is a :class:`~shanshui.ingest.session.Session` fed by one reader task:
read at most ``read_size`` bytes, let the session decode, authenticate and journal them,
write its answers (after the readings are durable) and wait for the socket to drain, so a
device that does not read its answers stops being read (bounded memory). A sweeper closes
connections idle for ``idle_timeout`` or holding a partial frame for ``slow_timeout``.

Devices come from the store (:class:`DeviceRegistry`, refreshed periodically so approvals
take effect); unknown MNs are listed as pending devices, wrong passwords counted, both
logged with the peer address, and both written to the store in batches by the writer's
thread (bounded: at most ``MAX_NOTES`` distinct MNs waiting). History requests waiting for
a device (:mod:`shanshui.store.recalls`) are handed to the first connection it sends on
(:meth:`DeviceRegistry.take_recalls`), each with a QN of its own; the device's 9011/9012
answers are matched to them by MN and QN (:meth:`DeviceRegistry.recall_answer`), a
request whose connection closed before its answers is asked again at once
(:meth:`DeviceRegistry.recalls_closed`; a gateway shutting down gives their attempt back),
and what happened is noted in the store by the same thread, in batches
(:meth:`DeviceRegistry.flush`; a note the store refuses for what it holds is dropped alone,
logged and counted, never holding up the others; one it cannot write now waits); the
policy (timeouts, attempts, codes worth another try) is in :mod:`shanshui.ingest.recalls`.
Every QN the platform sends comes from one source (:func:`shanshui.ingest.control.next_qn`);
the registry also knows the QNs of the clock settings (1012) it was told of
(:meth:`DeviceRegistry.control_sent`), so that their
9011/9012 are expected answers, not unmatched ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, Protocol, cast

from shanshui.ingest.control import next_qn
from shanshui.ingest.journal import JournalError
from shanshui.ingest.metrics import LOG, GatewayMetrics
from shanshui.ingest.recalls import (
    ANSWER_TIMEOUT,
    EXECUTION_TIMEOUT,
    MAX_ATTEMPTS,
    RETRY_EXE_RTN,
    RETRY_QN_RTN,
)
from shanshui.ingest.session import Committer, DeviceEntry, Limits, Session
from shanshui.store.api import Store
from shanshui.store.faults import refused_for_data
from shanshui.store.passwords import verify_password
from shanshui.store.recalls import Recall

#: Most distinct MNs whose sightings, pending notes or refusals wait for the store.
MAX_NOTES = 100_000
#: Most waiting history requests held (oldest first). CHOICE: far more than devices: a
#: request for a device that never comes back must not crowd out a newer one.
MAX_RECALLS = 1_000_000
#: Most requests sent and waiting for their answers held (oldest dropped first: the store's
#: overdue check, :meth:`RecallNotes.recalls_overdue`, asks them again).
MAX_ASKED = 100_000
#: Most QNs of the platform's clock settings (1012) held to recognise their answers (oldest
#: dropped first: a late answer to it is then counted as unmatched, nothing worse).
MAX_CONTROL = 100_000
#: The codes worth another try as the store's notes take them (``,9,``: see
#: :file:`queries/recall_again.sql`).
_RETRY_QN: Final = "," + ",".join(str(c) for c in sorted(RETRY_QN_RTN)) + ","
_RETRY_EXE: Final = "," + ",".join(str(c) for c in sorted(RETRY_EXE_RTN)) + ","


class RecallNotes(Protocol):
    """The store's history-request notes (:class:`shanshui.store.recalls.RecallStore`)."""

    def recall_notes(self, notes: Sequence[tuple[str, dict[str, Any]]]) -> int: ...

    def recalls_overdue(self, cutoff: datetime, *, max_attempts: int, at: datetime) -> int: ...


@dataclass
class _Asked:
    """A request handed to a connection, waiting for its answers."""

    recall: Recall  # with the QN it was sent with and its attempts
    at: datetime  # when it was handed out
    accepted: bool = False  # its 9011 said QnRtn=1


def _params(recall: Recall, **extra: object) -> dict[str, Any]:
    mn, cn, begin, end = recall.key
    return {
        "mn": mn, "cn": cn, "begin_time": begin, "end_time": end, "qn": recall.qn,
        "retry_qn_rtn": _RETRY_QN, "retry_exe_rtn": _RETRY_EXE, **extra,
    }  # fmt: skip


class DeviceRegistry:
    """Cached devices of a store, and the gateway's notes about them (see module doc).

    ``clock`` gives the current time (aware; injected by tests): when requests are sent and
    answered, and how long ago (:data:`~shanshui.ingest.recalls.ANSWER_TIMEOUT`).
    """

    def __init__(
        self,
        store: Store,
        *,
        refresh_every: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.clock = clock
        self.refresh_every = refresh_every
        self._devices: dict[str, DeviceEntry] = {}
        self._passwords: dict[tuple[str, str, str], bool] = {}
        self._seen: dict[str, tuple[datetime, str]] = {}
        self._unknown: dict[str, tuple[datetime, str, str | None]] = {}
        self._refused: dict[str, tuple[int, str]] = {}
        self._noted_unknown: set[str] = set()
        #: History requests waiting for their device, by MN (read by the sessions).
        self.recalls: dict[str, list[Recall]] = {}
        #: Requests sent and waiting for their answers, by (MN, QN); their notes for the
        #: store, in order; and how many of those notes each request has not written yet
        #: (while any, the registry's view of it is newer than the store's).
        self._asked: dict[tuple[str, str], _Asked] = {}
        self._notes: list[tuple[str, dict[str, Any]]] = []
        self._unwritten: dict[tuple[str, str, datetime, datetime], int] = {}
        #: (MN, QN) of the clock settings (1012) sent, whose 9011/9012 are expected.
        self._control: dict[tuple[str, str], None] = {}
        #: Answers (9011/9012) whose MN and QN matched no request sent (counted, not kept).
        self.unmatched_answers = 0
        #: Notes the store refused even alone, dropped (logged with the note; a metric for it:
        #: ``shanshui_gateway_recall_notes_dropped_total``).
        self.dropped_notes = 0
        # The notes are written on the event loop and swapped out by flush() in the writer's
        # thread: without a lock a note could land in a dict that flush is iterating.
        self._notes_lock = threading.Lock()
        self._last_refresh = 0.0
        self._last_flush = 0.0

    # -- cache --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the devices and the waiting history requests from the store (blocking),
        after letting the requests sent more than :data:`~shanshui.ingest.recalls.
        ANSWER_TIMEOUT` ago without a 9011 wait again (or be given up after
        :data:`~shanshui.ingest.recalls.MAX_ATTEMPTS`): in the store, so that what a gateway
        that restarted had sent is asked again too."""
        self._devices = {
            d.mn: DeviceEntry(d.mn, d.status, d.password_hash, d.site) for d in self.store.devices()
        }
        now = self.clock()
        cutoff = now - ANSWER_TIMEOUT
        with self._notes_lock:  # forget what the store now asks again or gave up
            for pair, asked in list(self._asked.items()):
                limit = cutoff if not asked.accepted else now - EXECUTION_TIMEOUT
                if asked.at < limit:
                    del self._asked[pair]
        cast(RecallNotes, self.store).recalls_overdue(cutoff, max_attempts=MAX_ATTEMPTS, at=now)
        found = self.store.waiting_recalls(limit=MAX_RECALLS)
        with self._notes_lock:  # one lock: a request taken meanwhile is not put back
            waiting: dict[str, list[Recall]] = {}
            for recall in found:
                if recall.key not in self._unwritten:  # the registry's view is newer
                    waiting.setdefault(recall.mn, []).append(recall)
            for mn, mine in self.recalls.items():  # asked again here, not written yet
                for recall in mine:
                    if recall.key in self._unwritten:
                        waiting.setdefault(mn, []).append(recall)
            self.recalls.clear()  # the same dict: each session holds it (Session._waiting)
            self.recalls.update(waiting)
        self._last_refresh = time.monotonic()

    def _note(self, note: str, recall: Recall, **extra: object) -> None:
        """Queue a note on ``recall`` for the store (under the lock)."""
        self._notes.append((note, _params(recall, **extra)))
        self._unwritten[recall.key] = self._unwritten.get(recall.key, 0) + 1

    def control_sent(self, mn: str, qn: str) -> None:
        """A clock setting (1012, HJ 212-2017 Table C.1) was sent to ``mn`` with ``qn``: its
        9011/9012 (HJ 212-2017 §6.5) are expected answers (:meth:`recall_answer` takes them
        without a note), not unmatched ones. Bounded (:data:`MAX_CONTROL`)."""
        with self._notes_lock:
            if len(self._control) >= MAX_CONTROL:
                del self._control[next(iter(self._control))]
            self._control[(mn, qn)] = None

    def take_recalls(self, mn: str) -> list[Recall]:
        """The history requests waiting for ``mn``, handed to the caller (the connection
        that sends them) once, each with a new QN and one attempt more: they are noted as
        sent at the next :meth:`flush`, and their answers awaited (:meth:`recall_answer`)."""
        with self._notes_lock:
            waiting = self.recalls.pop(mn, [])
            if not waiting:
                return []
            now = self.clock()
            taken = []
            for recall in waiting:
                # the process's one QN source: never the same twice, whichever request
                # (history or clock setting) takes it
                sent = replace(
                    recall, qn=next_qn(now), attempts=recall.attempts + 1, sent=now,
                    answered=None, qn_rtn=None, executed=None, exe_rtn=None,
                )  # fmt: skip
                taken.append(sent)
                self._note("asked", sent, at=now)
                assert sent.qn is not None
                if len(self._asked) >= MAX_ASKED:  # the oldest: the store asks it again
                    del self._asked[next(iter(self._asked))]
                self._asked[(mn, sent.qn)] = _Asked(sent, now)
        return taken

    def _release(self, asked: _Asked) -> None:
        """Ask again without spending an attempt (under the lock): the gateway shut down."""
        recall = asked.recall
        self._note("release", recall)
        self._wait(replace(recall, attempts=max(recall.attempts - 1, 0)))

    def _again(self, asked: _Asked) -> None:
        """Ask again (under the lock): the request waits for its device's next data upload,
        or is given up when it had its :data:`~shanshui.ingest.recalls.MAX_ATTEMPTS`."""
        recall = asked.recall
        if recall.attempts >= MAX_ATTEMPTS:
            self._note("give_up", recall, at=self.clock())
            return
        self._note("again", recall)
        self._wait(recall)

    def _wait(self, recall: Recall) -> None:
        """Put ``recall`` back among the requests waiting for its device (under the lock),
        once, within :data:`MAX_RECALLS`."""
        mine = self.recalls.setdefault(recall.mn, [])
        if len(mine) < MAX_RECALLS and all(r.key != recall.key for r in mine):
            mine.append(replace(recall, sent=None))

    def recall_answer(self, mn: str, qn: str, cn: str, code: int | None) -> bool:
        """Note device ``mn``'s answer ``cn`` (9011 with QnRtn ``code``, 9012 with ExeRtn
        ``code``; HJ 212-2017 §6.5, Tables 7 and 8) to the request it was sent with ``qn``;
        False (and counted in :attr:`unmatched_answers`) when no request awaits it. A code
        worth another try (:data:`~shanshui.ingest.recalls.RETRY_QN_RTN`,
        :data:`~shanshui.ingest.recalls.RETRY_EXE_RTN`) asks again.

        An answer to a clock setting (:meth:`control_sent`) is expected: True, nothing noted.
        CHOICE: an unreadable code (``code`` None: QnRtn/ExeRtn missing or not a whole
        number, :func:`shanshui.ingest.control.answer_code`) is not an answer to note: the
        request is asked again within its attempts (as a retryable code), and ends
        ``unanswered`` (no readable 9011) or ``incomplete`` (after QnRtn=1) when they are
        spent; never ``sent`` forever."""
        with self._notes_lock:
            if (mn, qn) in self._control:
                if cn == "9012" or code != 1:  # the setting ended
                    del self._control[(mn, qn)]
                return True
            asked = self._asked.get((mn, qn))
            if asked is None or (cn == "9011" and asked.accepted):
                self.unmatched_answers += 1
                return False
            now = self.clock()
            if code is None:  # unreadable: ask again (see above)
                del self._asked[(mn, qn)]
                self._again(asked)
                return True
            if cn == "9011":
                self._note("answered", asked.recall, at=now, code=code)
                if code == 1:
                    asked.accepted = True
                    return True
                del self._asked[(mn, qn)]
                if code in RETRY_QN_RTN:
                    self._again(asked)
                return True
            del self._asked[(mn, qn)]
            self._note("executed", asked.recall, at=now, code=code)
            if code in RETRY_EXE_RTN:
                self._again(asked)
            return True

    def recalls_closed(self, sent: Iterable[tuple[str, str]], *, release: bool = False) -> None:
        """A connection that was sent requests (their (MN, QN)) closed: those without their
        9012 yet are asked again at once. CHOICE: also those the device had accepted (9011
        QnRtn=1): their upload was cut short, and what it sent already is not stored twice.

        ``release``: the gateway itself closed the connection (shutting down, a graceful
        restart): the requests wait again and their attempt is given back (the ``release``
        note), so a restart does not spend an attempt of every request in progress."""
        with self._notes_lock:
            for pair in sent:
                asked = self._asked.pop(pair, None)
                if asked is not None:
                    if release:
                        self._release(asked)
                    else:
                        self._again(asked)

    def lookup(self, mn: str) -> DeviceEntry | None:
        return self._devices.get(mn)

    def password_known(self, device: DeviceEntry, password: str) -> bool | None:
        if device.password_hash is None:
            return False  # a device without a password cannot log in
        return self._passwords.get((device.mn, device.password_hash, password))

    async def verify(self, device: DeviceEntry, password: str) -> bool:
        """Check a password against its scrypt hash in a worker thread (tens of ms)."""
        if device.password_hash is None:
            return False
        ok = await asyncio.to_thread(verify_password, password, device.password_hash)
        if len(self._passwords) >= MAX_NOTES:
            self._passwords.clear()
        self._passwords[(device.mn, device.password_hash, password)] = ok
        return ok

    # -- notes, flushed to the store by :meth:`flush` -----------------------------------------
    def note_unknown(self, mn: str, peer: str, protocol: str | None) -> None:
        with self._notes_lock:
            if mn not in self._noted_unknown and len(self._unknown) < MAX_NOTES:
                self._unknown[mn] = (datetime.now(UTC), peer, protocol)

    def note_refused(self, mn: str, peer: str) -> None:
        with self._notes_lock:
            n, _ = self._refused.get(mn, (0, peer))
            if mn in self._refused or len(self._refused) < MAX_NOTES:
                self._refused[mn] = (n + 1, peer)

    def note_seen(self, mn: str, peer: str) -> None:
        with self._notes_lock:
            if mn in self._seen or len(self._seen) < MAX_NOTES:
                self._seen[mn] = (datetime.now(UTC), peer)

    def flush(self, *, every: float = 2.0) -> None:
        """Write the notes to the store and refresh the cache when due (blocking).

        Runs in the writer's thread. History-request notes go in one transaction; when the
        store refuses it they are written one by one, and a note it refuses alone for what
        it holds is dropped (logged with the note, counted in :attr:`dropped_notes`) so that
        it cannot hold up the others, the sightings or the refresh (DESIGN §5: one device's
        bad input changes nothing for the others); see :meth:`_write_notes`. Sightings,
        pending devices and refusals the store did not take are kept for the next flush.
        """
        now = time.monotonic()
        if now - self._last_flush >= every:
            self._last_flush = now
            with self._notes_lock:
                seen, self._seen = self._seen, {}
                unknown, self._unknown = self._unknown, {}
                refused, self._refused = self._refused, {}
                notes, self._notes = self._notes, []
            try:
                if notes:
                    self._write_notes(notes)
                if seen:
                    self.store.touch_devices({mn: (t, peer) for mn, (t, peer) in seen.items()})
                    seen = {}
                for mn in list(unknown):
                    t, peer, protocol = unknown[mn]
                    self.store.note_unknown_device(mn, peer=peer, seen=t, protocol=protocol)
                    del unknown[mn]
                    with self._notes_lock:
                        self._noted_unknown.add(mn)
                for mn in list(refused):
                    n, peer = refused[mn]
                    self.store.count_refused_login(mn, peer=peer, n=n)
                    del refused[mn]
            except BaseException:
                self._keep(seen, unknown, refused)
                raise
            if len(self._noted_unknown) > MAX_NOTES:
                with self._notes_lock:
                    self._noted_unknown.clear()
        if now - self._last_refresh >= self.refresh_every:
            self.refresh()
            with self._notes_lock:
                self._noted_unknown.clear()

    def _keep(
        self,
        seen: dict[str, tuple[datetime, str]],
        unknown: dict[str, tuple[datetime, str, str | None]],
        refused: dict[str, tuple[int, str]],
    ) -> None:
        """Put back what a failed flush did not write (newer notes meanwhile win; refusal
        counts add up)."""
        with self._notes_lock:
            for mn, when in seen.items():
                self._seen.setdefault(mn, when)
            for mn, what in unknown.items():
                self._unknown.setdefault(mn, what)
            for mn, (n, peer) in refused.items():
                m, _ = self._refused.get(mn, (0, peer))
                self._refused[mn] = (n + m, peer)

    def _write_notes(self, notes: list[tuple[str, dict[str, Any]]]) -> None:
        """Write history-request notes (see :meth:`flush`); each is then no longer unwritten,
        whether the store took it or it was dropped.

        A note the store refuses alone is dropped only when the refusal is the note's own
        (:func:`_note_at_fault`: a value out of range, a wrong type, a constraint); when the
        store is in trouble (PostgreSQL stopped, a full disk, a lock or statement timeout),
        that note and every later one are kept for the next flush, so no device answer is
        lost to it.
        """
        store = cast(RecallNotes, self.store)
        done = notes
        i = 0  # the notes before notes[i] are written or dropped
        try:
            try:  # one transaction for all of them, in the order they happened
                store.recall_notes(notes)
            except Exception as exc:
                LOG.warning(
                    "history-request notes refused; writing them one by one",
                    extra={"notes": len(notes), "error": str(exc)},
                )
                for i, note in enumerate(notes):  # i: how far it got, if interrupted
                    try:
                        store.recall_notes([note])
                    except Exception as one:
                        if not _note_at_fault(one):
                            done = notes[:i]
                            with self._notes_lock:  # the store's trouble: keep the rest
                                self._notes[:0] = notes[i:]
                            break
                        self._drop_note(note, one)
        except BaseException:
            with self._notes_lock:  # interrupted: a note stays until the store took it
                self._notes[:0] = notes[i:]
            # the ones before notes[i] are written or dropped: no longer unwritten
            self._mark_written(notes[:i])
            raise
        self._mark_written(done)

    def _mark_written(self, notes: list[tuple[str, dict[str, Any]]]) -> None:
        """Notes the store took (or that were dropped) are no longer unwritten."""
        with self._notes_lock:
            for _, params in notes:
                key = (params["mn"], params["cn"], params["begin_time"], params["end_time"])
                left = self._unwritten.get(key, 0) - 1
                if left > 0:
                    self._unwritten[key] = left
                else:
                    self._unwritten.pop(key, None)

    def _drop_note(self, note: tuple[str, dict[str, Any]], error: Exception) -> None:
        """Drop a note the store refuses alone (logged with what it said, counted)."""
        self.dropped_notes += 1
        name, params = note
        LOG.error(
            "history-request note dropped",
            extra={
                "note": name, "mn": params.get("mn"), "cn": params.get("cn"),
                "begin": str(params.get("begin_time")),
                "end": str(params.get("end_time")), "qn": params.get("qn"),
                "code": params.get("code"), "error": str(error),
            },
        )  # fmt: skip


def _note_at_fault(error: BaseException) -> bool:
    """Whether the store refused a note for what it holds (:func:`~shanshui.store.faults.
    refused_for_data`, or a wrong type) rather than for the store's own state (down, full,
    locked, timed out: writing it later may work)."""
    return isinstance(error, TypeError) or refused_for_data(error)


class Gateway:
    """The HJ 212 TCP server of one process; see the module docstring."""

    def __init__(
        self,
        registry: DeviceRegistry,
        committer: Committer,
        metrics: GatewayMetrics,
        limits: Limits | None = None,
        *,
        lag: Callable[[], tuple[int, float]] | None = None,
    ) -> None:
        self.registry = registry
        self.committer = committer
        self.metrics = metrics
        metrics.watch_recall_notes(lambda: registry.dropped_notes)
        self.limits = limits or Limits()
        self.lag = lag
        self.sessions: dict[Session, asyncio.StreamWriter] = {}
        self._servers: list[asyncio.Server] = []
        self._sweeper: asyncio.Task[None] | None = None
        # True once close() began: the connections it closes give their requests' attempts
        # back (DeviceRegistry.recalls_closed, release)
        self._stopping = False
        self._handlers: set[asyncio.Task[Any]] = set()

    # -- TCP ----------------------------------------------------------------------------------
    async def start(self, host: str, port: int) -> int:
        """Listen for devices; returns the bound port (``port=0``: any free one)."""
        server = await asyncio.start_server(
            self._connection, host, port, limit=self.limits.read_size, backlog=4096
        )
        self._servers.append(server)
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        return int(server.sockets[0].getsockname()[1])

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else str(peername)
        session = Session(peer, self.registry, self.committer, self.metrics, self.limits)
        self.sessions[session] = writer
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self.metrics.connections.inc()
        self.metrics.open.inc()
        reason = "eof"
        read_size = self.limits.read_size
        try:
            while session.closing is None:
                data = await reader.read(read_size)
                if not data:
                    session.close()
                    break
                replies = await session.handle(data)
                if replies:
                    if writer.is_closing():  # the device left while its data were journaled
                        reason = "reset"
                        break
                    writer.write(b"".join(replies))
                    await writer.drain()
            else:
                reason = session.closing
        except JournalError as exc:
            # The journal cannot take the frames (a full disk, a failed fsync, a shutdown):
            # nothing of them was acknowledged and the device sends them again. CHOICE: one
            # WARNING per connection, no traceback (the journal's own failure is logged once
            # by the committer or serve, and shown on /metrics: journal_failed, journal_full)
            reason = "journal"
            LOG.warning(
                "connection closed: the journal cannot take its frames",
                extra={"peer": peer, "error": str(exc)},
            )
        except (ConnectionError, OSError):
            reason = "reset"
        except RuntimeError as exc:  # uvloop: writing to a transport closed meanwhile
            reason = "reset" if writer.is_closing() else "error"
            if reason == "error":
                LOG.exception("connection failed", extra={"peer": peer, "error": str(exc)})
        except asyncio.CancelledError:
            reason = session.closing or "shutdown"
            raise
        except Exception:
            reason = "error"
            LOG.exception("connection failed", extra={"peer": peer})
        finally:
            if session.closing and reason in ("eof", "reset"):
                reason = session.closing
            self.sessions.pop(session, None)
            if task is not None:
                self._handlers.discard(task)
            # its requests without answers are asked again (a shutdown gives the attempt back)
            session.ended(release=self._stopping)
            self.metrics.open.dec()
            self.metrics.closed.labels(reason=reason).inc()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _sweep(self, every: float = 1.0) -> None:
        """Close idle and slow connections; refresh the lag gauges."""
        lim = self.limits
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            for session, writer in list(self.sessions.items()):
                if session.partial_since is not None and now - session.partial_since > (
                    lim.slow_timeout
                ):
                    session.closing = "slow_read"
                elif now - session.last_activity > lim.idle_timeout:
                    session.closing = "idle"
                else:
                    continue
                session.metrics.reject(session.closing)
                LOG.info(session.closing, extra={"peer": session.peer})
                writer.transport.abort()
            if self.lag is not None:
                records, age = self.lag()
                self.metrics.lag_records.set(records)
                self.metrics.lag_seconds.set(age)

    async def close(self) -> None:
        """Stop listening and close every connection (their requests in progress wait again
        without spending an attempt: :meth:`DeviceRegistry.recalls_closed`)."""
        self._stopping = True
        for server in self._servers:
            server.close()
        for writer in list(self.sessions.values()):
            writer.transport.abort()
        if self._handlers:  # let each connection tell the registry what it carried
            await asyncio.wait(set(self._handlers), timeout=5.0)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()
