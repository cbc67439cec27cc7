"""``shanshui simulate`` — replay PRSA/CNEMC files (or synthetic load) as HJ 212 devices."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from shanshui import formats
from shanshui.cli.target import store_target
from shanshui.errors import ShanshuiError
from shanshui.ingest.simulate import (
    devices_from_table,
    load_table,
    register_devices,
    replay,
    synthetic_devices,
)
from shanshui.store import open_store
from shanshui.store.api import Parameter


def register(app: typer.Typer) -> None:
    """Add the ``simulate`` command to the main app."""
    app.command("simulate")(simulate)


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    ts = pd.Timestamp(text)
    return (ts if ts.tzinfo else ts.tz_localize("Asia/Shanghai")).to_pydatetime()


def simulate(  # noqa: PLR0917 - Typer maps parameters to options
    files: Annotated[
        list[Path] | None, typer.Argument(help="PRSA or CNEMC files to replay.")
    ] = None,
    host: Annotated[str, typer.Option(help="Gateway address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Gateway HJ 212 port.")] = 5212,
    start: Annotated[
        str | None, typer.Option("--from", help="First hour (Beijing time unless given).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="End of the period (exclusive).")] = None,
    speed: Annotated[
        float, typer.Option(help="Data seconds per second (3600: an hour a second; 0: max).")
    ] = 1.0,
    window: Annotated[int, typer.Option(help="Unacknowledged frames per device.")] = 32,
    ack_timeout: Annotated[float, typer.Option(help="Resend after this long \\[s].")] = 10.0,
    max_seconds: Annotated[float, typer.Option(help="Give up after this long \\[s].")] = 86_400.0,
    secret: Annotated[str, typer.Option(help="Shared secret of the device passwords.")] = (
        "shanshui"
    ),
    synthetic: Annotated[int, typer.Option(help="N synthetic devices instead of files.")] = 0,
    hours: Annotated[int, typer.Option(help="Hours per synthetic device.")] = 24,
    do_register: Annotated[
        bool,
        typer.Option("--register", help="Register the devices in the store (then exit)."),
    ] = False,
    db: Annotated[Path | None, typer.Option("--db", help="DuckDB store (--register).")] = None,
    postgres: Annotated[
        str | None, typer.Option("--postgres", help="PostgreSQL store (--register).")
    ] = None,
    hash_cost: Annotated[int, typer.Option(help="log2 of scrypt N for registered passwords.")] = 14,
) -> None:
    """Replay a dataset as one HJ 212 device per station (CN 2061, Flag=5, resends)."""
    first, last = _when(start), _when(end)
    try:
        if synthetic:
            origin = first or datetime.fromisoformat("2024-01-01T00:00:00+08:00")
            devices = synthetic_devices(synthetic, hours, start=origin, secret=secret)
        elif files:
            table = load_table(files, start=first, end=last)
            devices = devices_from_table(table, secret=secret)
        else:
            raise typer.BadParameter("give files to replay or --synthetic N")
        if do_register:
            target = store_target(db, postgres, needed_by="--register")
            params = []
            if not synthetic:
                used = sorted(set(table["parameter"]))
                params = [Parameter(p, p, formats.UNITS.get(p, "unknown")) for p in used]
            with open_store(target) as store:
                n = register_devices(store, devices, parameters=params, hash_cost=hash_cost)
            typer.echo(json.dumps({"event": "registered", "devices": n}))
            return
        stats = asyncio.run(
            replay(
                devices, host, port, speed=speed, window=window, ack_timeout=ack_timeout,
                max_seconds=max_seconds,
            )
        )  # fmt: skip
    except ShanshuiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps({"event": "done", **vars(stats)}))
    if stats.acked < stats.frames:
        raise typer.Exit(2)
