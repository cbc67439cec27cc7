"""``shanshui simulate-cems`` — a SYNTHETIC plant's CEMS devices over HJ 212-2017.

``simulate`` replays files; this command invents a plant (two coal-fired stacks, a gas
turbine driven by the real UCI 551 series, a waste-water outlet), its permit and a scenario
of injected events, and sends its minute and hourly frames to a gateway. A separate command
(not a sub-command of ``simulate``, whose positional file arguments would swallow one).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from shanshui.cli.simulate import progress_every, progress_printer
from shanshui.cli.target import store_target
from shanshui.errors import ShanshuiError
from shanshui.hj212 import CST
from shanshui.ingest.cems_plant import permit_document, plant, scenario_dict
from shanshui.ingest.simulate import replay
from shanshui.ingest.simulate_cems import cems_devices, register_plant
from shanshui.store import open_store


def register(app: typer.Typer) -> None:
    """Add the ``simulate-cems`` command to the main app."""
    app.command("simulate-cems")(simulate_cems)


def _start(text: str | None) -> datetime:
    """The scenario's first hour: ``text`` (Beijing time unless it says), or the current
    hour — then, at the default speed 1, the plant reports live."""
    if text is None:
        return datetime.now(CST).replace(minute=0, second=0, microsecond=0)
    ts = pd.Timestamp(text)
    return (ts if ts.tzinfo else ts.tz_localize("Asia/Shanghai")).to_pydatetime()


def simulate_cems(  # noqa: PLR0917 - Typer maps parameters to options
    plant_no: Annotated[int, typer.Option("--plant", help="Synthetic plant number (1-99).")] = 1,
    start: Annotated[
        str | None,
        typer.Option("--from", help="First hour (Beijing time unless given; default: now)."),
    ] = None,
    days: Annotated[int, typer.Option(help="Days to simulate.")] = 30,
    seed: Annotated[int | None, typer.Option(help="Seed of values and events (default N).")] = (
        None
    ),
    minute_days: Annotated[
        int | None,
        typer.Option(help="Send minute frames (CN 2051) for the first D days only."),
    ] = None,
    gas_turbine: Annotated[
        bool, typer.Option(help="Include the gas-turbine stack (real UCI 551 NOx/CO).")
    ] = True,
    host: Annotated[str, typer.Option(help="Gateway address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Gateway HJ 212 port.")] = 5212,
    speed: Annotated[
        float, typer.Option(help="Data seconds per second (3600: an hour a second; 0: max).")
    ] = 1.0,
    window: Annotated[int, typer.Option(help="Unacknowledged frames per device.")] = 64,
    ack_timeout: Annotated[float, typer.Option(help="Resend after this long \\[s].")] = 10.0,
    max_seconds: Annotated[float, typer.Option(help="Give up after this long \\[s].")] = 86_400.0,
    secret: Annotated[str, typer.Option(help="Shared secret of the device passwords.")] = (
        "shanshui"
    ),
    do_register: Annotated[
        bool,
        typer.Option(
            "--register", help="Register outlets, devices and the permit in the store (then exit)."
        ),
    ] = False,
    db: Annotated[Path | None, typer.Option("--db", help="DuckDB store (--register).")] = None,
    postgres: Annotated[
        str | None, typer.Option("--postgres", help="PostgreSQL store (--register).")
    ] = None,
    hash_cost: Annotated[int, typer.Option(help="log2 of scrypt N for registered passwords.")] = 14,
    scenario_out: Annotated[
        Path | None, typer.Option("--scenario", help="Write the scenario (events) as JSON here.")
    ] = None,
    permit_out: Annotated[
        Path | None, typer.Option("--permit", help="Write the plant's permit as JSON here.")
    ] = None,
) -> None:
    """Send a SYNTHETIC plant's CEMS data (flue gas ST 31, waste water ST 32) as HJ 212-2017
    devices (CN 2051/2061, Flag=5, resends), with injected exceedances, stops, calibrations,
    maintenance, faults and outages."""
    try:
        scenario = plant(
            plant_no,
            start=_start(start),
            days=days,
            seed=seed,
            gas_turbine=gas_turbine,
            minute_days=minute_days,
        )
        if scenario_out is not None:
            scenario_out.write_text(json.dumps(scenario_dict(scenario), ensure_ascii=False))
        if permit_out is not None:
            doc = permit_document(scenario, secret)
            permit_out.write_text(json.dumps(doc, ensure_ascii=False, indent=1))
        if do_register:
            target = store_target(db, postgres, needed_by="--register")
            with open_store(target) as store:
                counts = register_plant(store, scenario, secret=secret, hash_cost=hash_cost)
            typer.echo(json.dumps({"event": "registered", "synthetic": True, **counts}))
            return
        devices = cems_devices(scenario, secret=secret)
        typer.echo(
            json.dumps(
                {
                    "event": "start",
                    "synthetic": True,
                    "plant": scenario.name,
                    "devices": len(devices),
                    "frames": sum(len(d.frames) for d in devices),
                    "events": len(scenario.events),
                },
                ensure_ascii=False,
            )
        )
        hint = f"shanshui simulate-cems --plant {plant_no} --register --db STORE"
        stats = asyncio.run(
            replay(
                devices, host, port, speed=speed, window=window, ack_timeout=ack_timeout,
                max_seconds=max_seconds, progress=progress_printer(ack_timeout, hint),
                every=progress_every(ack_timeout),
            )
        )  # fmt: skip
    except ShanshuiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps({"event": "done", "synthetic": True, **vars(stats)}))
    if stats.acked < stats.frames:
        raise typer.Exit(2)
