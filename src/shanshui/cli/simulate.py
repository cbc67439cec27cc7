"""``shanshui simulate`` — replay PRSA/CNEMC files (or synthetic load) as HJ 212 devices."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from shanshui import formats
from shanshui.cli.target import store_target
from shanshui.errors import ShanshuiError
from shanshui.ingest.simulate import (
    SILENT_AFTER,
    ReplayStats,
    SimDevice,
    device_identity,
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


#: Devices named in a warning about silent devices; the rest are counted.
NAMED = 5


def silent_warning(devices: list[SimDevice], ack_timeout: float, register_hint: str) -> str:
    """One line telling the operator which devices the gateway has not answered and why it
    may be (it answers only registered, active devices with their own password)."""
    named = ", ".join(f"{d.mn} ({d.site})" for d in devices[:NAMED])
    more = f" and {len(devices) - NAMED} more" if len(devices) > NAMED else ""
    return (
        f"warning: {len(devices)} device(s) had no frame acknowledged after"
        f" {SILENT_AFTER * ack_timeout:g} s of sending: {named}{more}. The gateway answers only"
        f" registered, active devices with their own password: register them with"
        f" `{register_hint}` (with this --secret), or approve them from the pending list"
        " (`shanshui devices approve MN --site SITE --password PW --reason …`); the gateway's"
        " log names each refusal (unknown_device, bad_password). Frames are resent until"
        " --max-seconds."
    )


def progress_printer(
    ack_timeout: float, register_hint: str
) -> Callable[[ReplayStats, list[SimDevice]], None]:
    """A replay's ``progress``: a JSON ``progress`` event on stdout (the counts so far) and
    the warning of :func:`silent_warning` on stderr for devices newly found silent."""
    started = time.monotonic()

    def show(total: ReplayStats, silent: list[SimDevice]) -> None:
        elapsed = round(time.monotonic() - started, 1)
        typer.echo(json.dumps({"event": "progress", "elapsed_s": elapsed, **vars(total)}))
        if silent:
            typer.echo(silent_warning(silent, ack_timeout, register_hint), err=True)

    return show


def progress_every(ack_timeout: float) -> float:
    """How often a replay reports [s]: every 10 s, sooner when the device's timeouts are
    short (a silent device is then found in time)."""
    return min(10.0, SILENT_AFTER * ack_timeout)


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    ts = pd.Timestamp(text)
    return (ts if ts.tzinfo else ts.tz_localize("Asia/Shanghai")).to_pydatetime()


def _register(
    files: list[Path] | None, synthetic: int, first: datetime | None, last: datetime | None,
    *, secret: str, hash_cost: int, target: str,
) -> None:  # fmt: skip
    """``simulate --register``: the devices of the stations (or of ``--synthetic N``), with
    the parameters the files hold. The store is opened first, so a store in use or missing
    fails at once, and no frame is built: a device's identity needs only its site (a PRSA
    set's 420,000 frames took minutes to build, for nothing)."""
    with open_store(target) as store:
        params = []
        if synthetic:
            devices = synthetic_devices(synthetic, 0, start=datetime.now(UTC), secret=secret)
        else:
            table = load_table(files or [], start=first, end=last)
            devices = [
                SimDevice(site, *device_identity(site, secret))
                for site in sorted(set(table["site"].astype(str)))
            ]
            used = sorted(set(table["parameter"].astype(str)))
            params = [Parameter(p, p, formats.UNITS.get(p, "unknown")) for p in used]
        n = register_devices(store, devices, parameters=params, hash_cost=hash_cost)
    typer.echo(json.dumps({"event": "registered", "devices": n}))


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
        if not synthetic and not files:
            raise typer.BadParameter("give files to replay or --synthetic N")
        if do_register:
            _register(
                files, synthetic, first, last, secret=secret, hash_cost=hash_cost,
                target=store_target(db, postgres, needed_by="--register"),
            )  # fmt: skip
            return
        if synthetic:
            origin = first or datetime.fromisoformat("2024-01-01T00:00:00+08:00")
            devices = synthetic_devices(synthetic, hours, start=origin, secret=secret)
        else:
            table = load_table(files, start=first, end=last)
            devices = devices_from_table(table, secret=secret)
        frames = sum(len(d.frames) for d in devices)
        typer.echo(json.dumps({"event": "start", "devices": len(devices), "frames": frames}))
        hint = "shanshui simulate … --register --db STORE" + (
            f" --synthetic {synthetic}" if synthetic else ""
        )
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
    typer.echo(json.dumps({"event": "done", **vars(stats)}))
    if stats.acked < stats.frames:
        raise typer.Exit(2)
