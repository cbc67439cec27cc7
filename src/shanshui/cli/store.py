"""``shanshui init`` — create a store, bring its schema up to date and seed it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shanshui import store as st
from shanshui.cli.target import store_target
from shanshui.errors import ShanshuiError


def register(app: typer.Typer) -> None:
    """Add the ``init`` command to the main app."""
    app.command("init")(init)


def init(
    db: Annotated[
        Path | None, typer.Option("--db", help="DuckDB file of the embedded store.")
    ] = None,
    postgres: Annotated[
        str | None, typer.Option("--postgres", help="PostgreSQL URL, postgresql://user@host/db.")
    ] = None,
    seed: Annotated[
        bool, typer.Option(help="Load regions, the national air stations and air parameters.")
    ] = True,
) -> None:
    """Create (or update) a store: apply schema migrations, then seed it; safe to repeat."""
    target = store_target(db, postgres)
    try:
        with st.open_store(target, migrate=False) as store:
            applied = store.migrate()
            version = store.schema_version()
            typer.echo(f"schema version {version} (applied now: {applied or 'none'})")
            if seed:
                result = st.seed(store)
                typer.echo(
                    f"seeded {result.regions} regions, {result.sites} sites, "
                    f"{result.parameters} parameters"
                )
    except ShanshuiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
