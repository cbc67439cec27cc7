"""The store a command works on, from its ``--db PATH`` / ``--postgres URL`` pair."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["DbOption", "PostgresOption", "store_target"]

#: ``--db PATH`` and ``--postgres URL`` as commands declare them.
DbOption = Annotated[Path | None, typer.Option("--db", help="DuckDB file of the embedded store.")]
PostgresOption = Annotated[
    str | None, typer.Option("--postgres", help="PostgreSQL URL, postgresql://user@host/db.")
]


def store_target(db: Path | None, postgres: str | None, *, needed_by: str | None = None) -> str:
    """What :func:`shanshui.store.open_store` opens: the PostgreSQL URL or the DuckDB path.

    Exactly one of the two must be given; otherwise a usage error (exit 2) names the options,
    and ``needed_by`` (e.g. ``--register``) the option that asks for a store.
    """
    if (db is None) == (postgres is None):
        if needed_by:
            raise typer.BadParameter(f"{needed_by} needs exactly one of --db or --postgres")
        raise typer.BadParameter("give exactly one of --db PATH or --postgres URL")
    return postgres if postgres is not None else str(db)
