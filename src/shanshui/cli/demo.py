"""``shanshui demo`` — what `make demo` runs."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the demo command to the main app."""
    app.command("demo")(demo)


def demo() -> None:
    """Run the demonstration on real data shipped with the package."""
    typer.echo("shanshui demo: the platform is not built yet.")
