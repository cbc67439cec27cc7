"""``shanshui hj212 …`` (placeholder until the codec lands)."""

import typer

app = typer.Typer(no_args_is_help=True)
