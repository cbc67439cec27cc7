"""The ``shanshui`` command line: one Typer app, one sub-app or command per concern."""

from __future__ import annotations

import typer

from shanshui.cli import aqi as _aqi
from shanshui.cli import assess as _assess
from shanshui.cli import demo as _demo
from shanshui.cli import devices as _devices
from shanshui.cli import hj212 as _hj212
from shanshui.cli import imports as _imports
from shanshui.cli import keys as _keys
from shanshui.cli import permits as _permits
from shanshui.cli import serve as _serve
from shanshui.cli import simulate as _simulate
from shanshui.cli import simulate_cems as _simulate_cems
from shanshui.cli import sites as _sites
from shanshui.cli import store as _store

app = typer.Typer(
    name="shanshui",
    help="山水 shanshui — real-time eco-environmental monitoring and governance.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(_hj212.app, name="hj212", help="Decode, encode and check HJ 212 frames.")
app.add_typer(_aqi.app, name="aqi", help="Air quality index (HJ 633-2012) from concentrations.")
_assess.register(app)
_demo.register(app)
_devices.register(app)
_imports.register(app)
_keys.register(app)
_permits.register(app)
_store.register(app)
_serve.register(app)
_simulate.register(app)
_simulate_cems.register(app)
_sites.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
