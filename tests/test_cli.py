"""The command line starts and lists its commands."""

from typer.testing import CliRunner

from shanshui.cli import app


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("hj212", "aqi", "demo"):
        assert command in result.output
