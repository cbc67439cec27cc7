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
(:meth:`DeviceRegistry.take_recalls`) and noted as sent by the same thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from shanshui.ingest.metrics import LOG, GatewayMetrics
from shanshui.ingest.session import Committer, DeviceEntry, Limits, Session
from shanshui.store.api import Store
from shanshui.store.passwords import verify_password
from shanshui.store.recalls import Recall

#: Most distinct MNs whose sightings, pending notes or refusals wait for the store.
MAX_NOTES = 100_000
#: Most waiting history requests held (oldest first). CHOICE: far more than devices: a
#: request for a device that never comes back must not crowd out a newer one.
MAX_RECALLS = 1_000_000


class DeviceRegistry:
    """Cached devices of a store, and the gateway's notes about them (see module doc)."""

    def __init__(self, store: Store, *, refresh_every: float = 10.0) -> None:
        self.store = store
        self.refresh_every = refresh_every
        self._devices: dict[str, DeviceEntry] = {}
        self._passwords: dict[tuple[str, str, str], bool] = {}
        self._seen: dict[str, tuple[datetime, str]] = {}
        self._unknown: dict[str, tuple[datetime, str, str | None]] = {}
        self._refused: dict[str, tuple[int, str]] = {}
        self._noted_unknown: set[str] = set()
        #: History requests waiting for their device, by MN (read by the sessions), and
        #: those handed to a connection and not yet noted as sent in the store.
        self.recalls: dict[str, list[Recall]] = {}
        self._taken: dict[tuple[str, str, datetime, datetime], datetime] = {}  # key → sent at
        # The notes are written on the event loop and swapped out by flush() in the writer's
        # thread: without a lock a note could land in a dict that flush is iterating.
        self._notes_lock = threading.Lock()
        self._last_refresh = 0.0
        self._last_flush = 0.0

    # -- cache --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the devices from the store (blocking)."""
        self._devices = {
            d.mn: DeviceEntry(d.mn, d.status, d.password_hash, d.site) for d in self.store.devices()
        }
        found = self.store.waiting_recalls(limit=MAX_RECALLS)
        with self._notes_lock:  # one lock: a request taken meanwhile is not put back
            waiting: dict[str, list[Recall]] = {}
            for recall in found:
                if recall.key not in self._taken:  # handed out, its note not written yet
                    waiting.setdefault(recall.mn, []).append(recall)
            self.recalls.clear()  # the same dict: each session holds it (Session._waiting)
            self.recalls.update(waiting)
        self._last_refresh = time.monotonic()

    def take_recalls(self, mn: str) -> list[Recall]:
        """The history requests waiting for ``mn``, handed to the caller (the connection
        that sends them) once: they are noted as sent at the next :meth:`flush`."""
        with self._notes_lock:
            recalls = self.recalls.pop(mn, [])
            now = datetime.now(UTC)
            for recall in recalls:
                self._taken[recall.key] = now
        return recalls

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

        Runs in the writer's thread; a note is dropped only after the store took it.
        """
        now = time.monotonic()
        if now - self._last_flush >= every:
            self._last_flush = now
            with self._notes_lock:
                seen, self._seen = self._seen, {}
                unknown, self._unknown = self._unknown, {}
                refused, self._refused = self._refused, {}
                sent = dict(self._taken)
            for key, at in sent.items():
                # a note stays until the store took it (the store down: the next flush)
                self.store.recalls_sent([key], at)
                with self._notes_lock:
                    self._taken.pop(key, None)
            if seen:
                self.store.touch_devices({mn: (t, peer) for mn, (t, peer) in seen.items()})
            for mn, (t, peer, protocol) in unknown.items():
                self.store.note_unknown_device(mn, peer=peer, seen=t, protocol=protocol)
                with self._notes_lock:
                    self._noted_unknown.add(mn)
            for mn, (n, peer) in refused.items():
                self.store.count_refused_login(mn, peer=peer, n=n)
            if len(self._noted_unknown) > MAX_NOTES:
                with self._notes_lock:
                    self._noted_unknown.clear()
        if now - self._last_refresh >= self.refresh_every:
            self.refresh()
            with self._notes_lock:
                self._noted_unknown.clear()


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
        self.limits = limits or Limits()
        self.lag = lag
        self.sessions: dict[Session, asyncio.StreamWriter] = {}
        self._servers: list[asyncio.Server] = []
        self._sweeper: asyncio.Task[None] | None = None

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
        """Stop listening and close every connection."""
        for server in self._servers:
            server.close()
        for writer in list(self.sessions.values()):
            writer.transport.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()
