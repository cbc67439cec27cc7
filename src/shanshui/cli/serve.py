"""``shanshui serve`` — the HJ 212 gateway, journal writer, daily aggregates and one HTTP
server: the open API (``/api/v1``, docs at ``/docs``), the HTTP JSON ingest, the portal (``/``)
and ``/metrics``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from shanshui import store as st
from shanshui.cli.sites import missing_store_message
from shanshui.cli.target import store_target
from shanshui.errors import ShanshuiError
from shanshui.ingest.metrics import setup_json_logging
from shanshui.ingest.serve import ServeConfig, default_journal, run
from shanshui.ingest.session import Limits


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the main app."""
    app.command("serve")(serve)


def _create(target: str) -> None:
    """Create and seed the store at ``target``, as ``shanshui init`` does."""
    try:
        with st.open_store(target) as store:
            result = st.seed(store)
    except ShanshuiError as exc:
        typer.echo(f"error: cannot create the store: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"created {target}: {result.regions} regions, {result.sites} sites, "
        f"{result.parameters} parameters",
        err=True,
    )


def serve(  # noqa: PLR0917 - Typer maps parameters to options
    db: Annotated[Path | None, typer.Option("--db", help="DuckDB file (embedded store).")] = None,
    postgres: Annotated[
        str | None, typer.Option("--postgres", help="PostgreSQL URL; many gateways may share it.")
    ] = None,
    host: Annotated[str, typer.Option(help="Address for HJ 212 devices.")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="TCP port for HJ 212 devices (0: any).")] = 5212,
    http_host: Annotated[str, typer.Option(help="Address of the HTTP server.")] = "127.0.0.1",
    http_port: Annotated[
        int, typer.Option(help="HTTP port: API, portal, ingest, /metrics (0: any).")
    ] = 8212,
    journal: Annotated[
        Path | None,
        typer.Option(
            help="Journal folder, one per serve process (default: <db>.journal or "
            "./shanshui-journal)."
        ),
    ] = None,
    max_frame: Annotated[int, typer.Option(help="Largest data segment \\[bytes].")] = 4096,
    idle_timeout: Annotated[float, typer.Option(help="Close silent connections \\[s].")] = 7200.0,
    slow_timeout: Annotated[
        float, typer.Option(help="Close a connection whose partial frame waits this long \\[s].")
    ] = 30.0,
    fps: Annotated[float, typer.Option(help="Frames per second per connection.")] = 200.0,
    burst: Annotated[float, typer.Option(help="Burst of frames per connection.")] = 2000.0,
    aggregate_every: Annotated[
        float, typer.Option(help="Recompute touched daily aggregates at most this often \\[s].")
    ] = 1.0,
    rules_every: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Evaluate the permit rules (alarms) at most this often \\[s]; 0: not at all.",
        ),
    ] = 60.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
    create: Annotated[
        bool,
        typer.Option(
            "--create",
            help="Create the --db store if there is none, as `shanshui init` does (schema, "
            "regions, national stations); without it a missing --db file is refused.",
        ),
    ] = False,
) -> None:
    """Run the gateway, the journal writer, the daily aggregation and the API in one process.

    The store must exist (shanshui init --db PATH creates it) unless --create is given: a
    mistyped --db path must not start an empty platform that refuses every device."""
    target = store_target(db, postgres)
    if db is not None and not db.is_file():
        if not create:
            typer.echo(f"error: {missing_store_message(db)}, or pass --create", err=True)
            raise typer.Exit(1)
        _create(target)
    setup_json_logging(getattr(logging, log_level.upper(), logging.INFO))
    limits = Limits(
        max_segment=max_frame, idle_timeout=idle_timeout, slow_timeout=slow_timeout,
        frames_per_second=fps, burst=burst,
    )  # fmt: skip
    config = ServeConfig(
        target=target, journal=journal or default_journal(target), host=host, port=port,
        http_host=http_host, http_port=http_port, limits=limits, aggregate_every=aggregate_every,
        rules_every=rules_every,
    )  # fmt: skip
    try:
        run(config)
    # StoreBusy and JournalBusy (another process holds them), or the system's refusal (a port
    # already in use, a folder that cannot be written): one line, not a traceback
    except (ShanshuiError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
