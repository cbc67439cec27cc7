"""``shanshui serve`` in one process: gateway, journal writer, daily aggregates and HTTP.

:func:`serve` wires the parts (DESIGN §3): store → journal (replayed first) → writer task
(journal → store, then the touched daily aggregates) → HJ 212 gateway → HTTP. With DuckDB
the process is the store's only writer; with PostgreSQL any number of such processes share
one database, each with its own journal directory (``--journal``): a journal folder belongs
to one process, and a second one is refused (:class:`~shanshui.ingest.journal.JournalBusy`).

HTTP is one FastAPI app (:func:`shanshui.api.create_app`) served by uvicorn as a task in
the same event loop as the gateway: the open API under ``/api/v1`` (OpenAPI ``/docs``), the
HTTP JSON ingest ``POST /api/v1/ingest``, the portal at ``/`` and the gateway's Prometheus
metrics at ``/metrics``. The API reads through its own connections to the same database
(DuckDB cursors / PostgreSQL connections), so reads never wait behind the writer's batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from shanshui.ingest.gateway import DeviceRegistry, Gateway
from shanshui.ingest.journal import GroupCommitter, Journal, JournalError
from shanshui.ingest.metrics import LOG, GatewayMetrics
from shanshui.ingest.session import Limits
from shanshui.ingest.writer import JournalWriter
from shanshui.store import open_store

HttpHandler = Callable[[str, bytes], Awaitable[tuple[int, str, bytes]]]
"""An extra plain HTTP route: ``(method, body) -> (status, content type, body)``."""


@dataclass
class ServeConfig:
    """What :func:`serve` runs."""

    #: DuckDB file path or ``postgresql://`` URL.
    target: str
    journal: Path
    host: str = "0.0.0.0"
    port: int = 5212
    http_host: str = "127.0.0.1"
    http_port: int = 8212
    limits: Limits = field(default_factory=Limits)
    batch_records: int = 20_000
    max_lag_records: int = 1_000_000
    aggregate_every: float = 1.0
    refresh_devices_every: float = 10.0
    #: Extra plain HTTP routes by path, served beside the API (``(method, body) ->
    #: (status, content type, body)``); the HTTP JSON ingest is part of the API itself.
    routes: dict[str, HttpHandler] = field(default_factory=dict)
    #: Read connections of the API (DuckDB cursors or PostgreSQL connections).
    api_readers: int = 4
    #: Seconds between evaluations of the permit rules (shanshui.rules; also soon after the
    #: writer's batches, at most every 5 s); 0: do not run them in this process.
    rules_every: float = 60.0


def default_journal(target: str) -> Path:
    """``<db file>.journal`` for DuckDB; ``./shanshui-journal`` for PostgreSQL."""
    if target.startswith(("postgres://", "postgresql://")):
        return Path("shanshui-journal")
    return Path(f"{target.removeprefix('duckdb://')}.journal")


async def serve(
    config: ServeConfig,
    *,
    stop: asyncio.Event | None = None,
    ready: Callable[[dict[str, int]], None] | None = None,
) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM when ``stop`` is None), or until the
    journal fails: then it shuts down and raises the :class:`JournalError`
    (:func:`_until_stopped`)."""
    loop = asyncio.get_running_loop()
    if stop is None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
    store = await asyncio.to_thread(open_store, config.target)
    try:  # the folder's lock: JournalBusy when another gateway uses it
        journal = Journal(config.journal)
    except BaseException:
        await asyncio.to_thread(store.close)
        raise
    committer = GroupCommitter(journal)
    committer.start()
    metrics = GatewayMetrics()
    metrics.watch_journal(
        failed=lambda: committer.failed is not None or journal.failed is not None,
        full=lambda: committer.full,
        damaged_bytes=lambda: journal.damaged_bytes,
        missing_segments=lambda: len(journal.missing_segments),
    )
    registry = DeviceRegistry(store, refresh_every=config.refresh_devices_every)
    try:  # e.g. an unreadable checkpoint: give back the folder's lock and the store
        writer = JournalWriter(
            journal, committer, store, metrics,
            batch_records=config.batch_records, max_lag_records=config.max_lag_records,
            aggregate_every=config.aggregate_every, housekeeping=lambda: _after_batch(registry),
        )  # fmt: skip
    except BaseException:
        await committer.close()
        journal.close()
        await asyncio.to_thread(store.close)
        raise
    rules_wake, rules_stop = asyncio.Event(), asyncio.Event()
    rules_task: asyncio.Task[None] | None = None
    rules_job = None

    def _after_batch(registry: DeviceRegistry) -> None:  # the writer's thread or the loop
        registry.flush()
        loop.call_soon_threadsafe(rules_wake.set)

    gateway = Gateway(registry, writer, metrics, config.limits, lag=writer.lag)
    writer_task: asyncio.Task[None] | None = None
    http: uvicorn.Server | None = None
    http_task: asyncio.Task[None] | None = None
    app = None
    failed: JournalError | None = None
    try:
        await asyncio.to_thread(registry.refresh)
        # On startup the journal's pending records go to the store first (DESIGN §5).
        try:
            replayed = await writer.replay()
            if replayed:
                LOG.info("journal replayed", extra={"records": replayed})
        except Exception as exc:  # the store may be down: the writer task keeps trying
            LOG.warning("journal replay deferred", extra={"error": str(exc)})
        writer_task = loop.create_task(writer.run())
        if config.rules_every > 0:  # alarms from the permits (issue 6; shanshui.rules)
            from shanshui.rules import RulesJob, run_periodically  # noqa: PLC0415

            rules_job = RulesJob(store, own_reader=True)  # reads never hold the writer
            rules_task = loop.create_task(
                run_periodically(rules_job, rules_stop, every=config.rules_every, wake=rules_wake)
            )
        port = await gateway.start(config.host, config.port)
        from shanshui.api import create_app  # noqa: PLC0415 - the API imports the CLI

        app = create_app(
            store, metrics=metrics.render, generation=lambda: _stored(metrics),
            readers=config.api_readers, routes=config.routes,
        )  # fmt: skip
        sock = _listen(config.http_host, config.http_port)
        http_port = int(sock.getsockname()[1])
        http = _http_server(app)
        http_task = loop.create_task(http.serve(sockets=[sock]))
        while not http.started:
            if http_task.done():
                http_task.result()  # raises why it stopped
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)
        info = {"port": port, "http_port": http_port}
        LOG.info("gateway listening", extra=info)
        if ready is not None:
            ready(info)
        failed = await _until_stopped(stop, committer)
    finally:
        if http is not None and http_task is not None:
            http.should_exit = True
            try:
                await asyncio.wait_for(http_task, 10)
            except Exception as exc:  # shutting down: log, go on
                LOG.warning("HTTP server did not stop cleanly", extra={"error": str(exc)})
        if app is not None:
            await asyncio.to_thread(app.state.readers.close)
        await gateway.close()
        rules_stop.set()
        if rules_task is not None:
            try:
                await asyncio.wait_for(rules_task, 30)
            except Exception as exc:  # shutting down: log, go on
                LOG.warning("rules job did not stop cleanly", extra={"error": repr(exc)})
        if rules_job is not None:
            await asyncio.to_thread(rules_job.close)
        writer.stop()
        if writer_task is not None:
            try:
                await asyncio.wait_for(writer_task, 30)
            except TimeoutError:
                LOG.warning("writer did not finish; the journal keeps the rest")
        with contextlib.suppress(Exception):  # pending/refused notes and sightings
            await asyncio.to_thread(registry.flush, every=0.0)
        await committer.close()
        try:
            journal.close()
        finally:  # whatever the journal's state, the store is closed
            await asyncio.to_thread(store.close)
    if failed is not None:  # the supervisor's cue (the CLI exits 1 with this message)
        raise failed


async def _until_stopped(
    stop: asyncio.Event, committer: GroupCommitter, poll: float = 1.0
) -> JournalError | None:
    """Wait for ``stop``, or for the journal to fail; its failure, if that came first.

    A failed journal (a failed fsync: "fsyncgate", or a write failed otherwise than for
    space) acknowledges nothing more in this process (review 16b, findings 3 and 5). CHOICE:
    serve then stops with one ERROR line and the failure raised (``shanshui serve`` exits 1)
    rather than stay up and drop every device, so that its supervisor (systemd
    ``Restart=on-failure``, a container's restart policy) restarts it: the restart recovers
    what is on disk. ``poll`` [s]: how often a failure met outside the committer (the writer
    thread's checkpoint fsync) is looked for.
    """
    waiting = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(committer.broken.wait())}
    try:
        while not stop.is_set():
            if committer.failed is None and committer.journal.failed is not None:
                committer.broken.set()  # failed in a thread: tell the sessions too
                committer.failed = committer.journal.failed
            if committer.failed is not None:
                LOG.error(
                    "journal failed: nothing more is acknowledged; the gateway stops (exit 1) "
                    "for its supervisor to restart it, and the restart recovers what is on disk",
                    extra={"error": str(committer.failed)},
                )
                return committer.failed
            await asyncio.wait(waiting, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
        return None
    finally:
        for task in waiting:
            task.cancel()


def _stored(metrics: GatewayMetrics) -> int:
    """The write generation: readings the writer stored so far (read without a flush)."""
    got = metrics.registry.get_sample_value("shanshui_gateway_observations_stored_total")
    return int(got or 0)


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0: any free one); binding errors surface here."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = info[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(4096)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _http_server(app: object) -> uvicorn.Server:
    """uvicorn for ``app`` inside the caller's event loop, leaving signals to the caller."""
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        ws="none",
        timeout_graceful_shutdown=5,
        backlog=4096,
    )
    server = uvicorn.Server(config)
    # signals belong to serve(): uvicorn must not take them (0.29+: capture_signals)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    return server


def run(config: ServeConfig) -> None:
    """Run :func:`serve` on uvloop where available; print one JSON line when ready."""

    def announce(info: dict[str, int]) -> None:
        print(json.dumps({"event": "ready", **info}), flush=True)

    try:
        import uvloop  # noqa: PLC0415 - optional (not on Windows)
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        asyncio.run(serve(config, ready=announce))
        return
    if sys.version_info >= (3, 12):
        asyncio.run(serve(config, ready=announce), loop_factory=uvloop.new_event_loop)
    else:  # pragma: no cover
        uvloop.install()
        asyncio.run(serve(config, ready=announce))
