"""``shanshui assess`` and ``shanshui rank`` (placeholder until the assessment lands)."""

import typer


def register(app: typer.Typer) -> None:
    """Add the assessment commands to the main app."""
