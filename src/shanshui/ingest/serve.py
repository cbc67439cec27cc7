"""``shanshui serve`` in one process: gateway, journal writer, daily aggregates, ``/metrics``.

:func:`serve` wires the parts (DESIGN §3): store → journal (replayed first) → writer task
(journal → store, then the touched daily aggregates) → HJ 212 gateway → HTTP. With DuckDB
the process is the store's only writer; with PostgreSQL any number of such processes share
one database, each with its own journal directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shanshui.ingest.gateway import DeviceRegistry, Gateway, HttpHandler
from shanshui.ingest.journal import GroupCommitter, Journal
from shanshui.ingest.metrics import LOG, GatewayMetrics
from shanshui.ingest.session import Limits
from shanshui.ingest.writer import JournalWriter
from shanshui.store import open_store


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
    #: Extra HTTP routes (the HTTP JSON ingest endpoint mounts itself here).
    routes: dict[str, HttpHandler] = field(default_factory=dict)


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
    """Run until ``stop`` is set (or SIGINT/SIGTERM when ``stop`` is None)."""
    loop = asyncio.get_running_loop()
    if stop is None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
    store = await asyncio.to_thread(open_store, config.target)
    journal = Journal(config.journal)
    committer = GroupCommitter(journal)
    committer.start()
    metrics = GatewayMetrics()
    registry = DeviceRegistry(store, refresh_every=config.refresh_devices_every)
    writer = JournalWriter(
        journal, committer, store, metrics,
        batch_records=config.batch_records, max_lag_records=config.max_lag_records,
        aggregate_every=config.aggregate_every, housekeeping=registry.flush,
    )  # fmt: skip
    gateway = Gateway(registry, writer, metrics, config.limits, lag=writer.lag)
    gateway.routes.update(config.routes)
    writer_task: asyncio.Task[None] | None = None
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
        port = await gateway.start(config.host, config.port)
        http_port = await gateway.start_http(config.http_host, config.http_port)
        info = {"port": port, "http_port": http_port}
        LOG.info("gateway listening", extra=info)
        if ready is not None:
            ready(info)
        await stop.wait()
    finally:
        await gateway.close()
        writer.stop()
        if writer_task is not None:
            try:
                await asyncio.wait_for(writer_task, 30)
            except TimeoutError:
                LOG.warning("writer did not finish; the journal keeps the rest")
        with contextlib.suppress(Exception):  # pending/refused notes and sightings
            await asyncio.to_thread(registry.flush, every=0.0)
        await committer.close()
        journal.close()
        await asyncio.to_thread(store.close)


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
