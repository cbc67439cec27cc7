"""``shanshui demo`` — what ``make demo`` runs: the platform on real data shipped with the package.

1. A fresh embedded store (DuckDB) in ``--dir``: schema, GB/T 2260 regions and the national
   air-station list (CNEMC, 2022-02-13 list).
2. History: the Beijing Multi-Site data (12 national stations, CC BY 4.0, shipped in
   ``shanshui/data/demo``) up to the start of the live period are imported.
3. ``shanshui serve`` runs in this process (HJ 212 gateway, journal, daily aggregates, and
   on the HTTP port the portal at ``/``, the open API under ``/api/v1``, ``/metrics`` and the
   HTTP JSON ingest endpoint; the portal's URL is printed once it serves), and the last
   ``--live-days`` of the same real data are replayed by 12 simulated HJ 212 data loggers
   (CN 2061, Flag=5, resending what is not acknowledged), ``--speed`` data seconds per wall
   second.
4. A table of the stations' latest hourly AQI (HJ 633-2012, CNEMC real-time rule) is printed
   as the data arrive, and once more at the end.

Nothing here reads ``../shared``: every input ships inside the package.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
import urllib.request
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from shanshui import formats
from shanshui.ingest.serve import ServeConfig, serve
from shanshui.ingest.simulate import devices_from_table, register_devices, replay
from shanshui.standards import hourly_aqi
from shanshui.store import Parameter, open_store, seed

ATTRIBUTION = (
    "Data: Beijing Multi-Site Air-Quality Data, Chen S. (2019), UCI ML Repository, "
    "doi:10.24432/C5RK5G, CC BY 4.0 (Beijing Municipal Environmental Monitoring Center). "
    "Station list: CNEMC via quotsoft.net/air."
)
POLLUTANTS = ("PM2.5", "PM10", "SO2", "NO2", "O3", "CO")


def register(app: typer.Typer) -> None:
    """Add the demo command to the main app."""
    app.command("demo")(demo)


def demo(  # noqa: PLR0917 - Typer maps parameters to options
    directory: Annotated[Path, typer.Option("--dir", help="Where the demo store lives.")] = Path(
        "demo-run"
    ),
    port: Annotated[int, typer.Option(help="HJ 212 port for the devices (0: any).")] = 5212,
    http_port: Annotated[
        int, typer.Option(help="HTTP port (portal, API, /metrics, ingest; 0: any).")
    ] = 8212,
    history_days: Annotated[int, typer.Option(help="Days of history imported first.")] = 60,
    live_days: Annotated[int, typer.Option(help="Days replayed live over HJ 212.")] = 28,
    speed: Annotated[
        float, typer.Option(help="Data seconds per wall second (3600: an hour a second).")
    ] = 3600.0,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C).")
    ] = None,
) -> None:
    """Run the platform on real Beijing data: import history, then replay live HJ 212 devices."""
    console = Console()
    console.print(
        "[bold]山水 shanshui demo[/bold] — embedded store, real data, live HJ 212 devices"
    )
    console.print(ATTRIBUTION, style="dim")
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    db = directory / "shanshui-demo.duckdb"

    table = formats.demo_data()
    end = table["time"].max() + pd.Timedelta(hours=1)
    live_start = end - pd.Timedelta(days=live_days)
    history_start = live_start - pd.Timedelta(days=history_days)
    history = table[(table["time"] >= history_start) & (table["time"] < live_start)]
    live = table[table["time"] >= live_start]
    devices = devices_from_table(live)

    started = time.monotonic()
    with open_store(db) as store:
        seeded = seed(store)
        store.upsert_parameters(
            Parameter(p, p, formats.UNITS.get(p, "unknown")) for p in POLLUTANTS
        )
        batch = history.assign(statistic="avg", period="hour")
        written = store.write_observations(batch, source="demo-history")
        store.recompute_daily()
        register_devices(store, devices, hash_cost=10)
    console.print(
        f"store {db}: {seeded.regions} regions, {seeded.sites} stations; history "
        f"{history_start:%Y-%m-%d} … {live_start:%Y-%m-%d}: {written.inserted:,} values "
        f"({time.monotonic() - started:.1f} s)"
    )
    console.print(
        f"live: {len(devices)} HJ 212 devices replay {live_start:%Y-%m-%d} … {end:%Y-%m-%d} "
        f"at {speed:g}× real time"
    )
    asyncio.run(_run(db, devices, port, http_port, speed, duration, console))


async def _run(  # noqa: PLR0917
    db: Path,
    devices: list[object],
    port: int,
    http_port: int,
    speed: float,
    duration: float | None,
    console: Console,
) -> None:
    stop = asyncio.Event()
    ready: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
    config = ServeConfig(
        target=str(db), journal=Path(f"{db}.journal"), host="127.0.0.1", port=port,
        http_host="127.0.0.1", http_port=http_port,
    )  # fmt: skip
    server = asyncio.create_task(serve(config, stop=stop, ready=ready.set_result))
    info = await ready
    console.print(
        f"HJ 212 gateway on 127.0.0.1:{info['port']} · API "
        f"http://127.0.0.1:{info['http_port']}/docs · metrics "
        f"http://127.0.0.1:{info['http_port']}/metrics"
    )
    console.print(
        f"[bold green]portal: http://127.0.0.1:{info['http_port']}/[/bold green]"
        " · press Ctrl-C to stop",
        soft_wrap=True,
    )
    replayer = asyncio.create_task(
        replay(devices, "127.0.0.1", info["port"], speed=speed, max_seconds=duration or 86_400.0)  # type: ignore[arg-type]
    )
    reporter = asyncio.create_task(_report(info["http_port"], console))
    try:
        if duration is not None:
            await asyncio.wait({replayer}, timeout=duration)
        else:
            await replayer
            console.print("replay finished; the platform keeps serving (Ctrl-C to stop)")
            await asyncio.Event().wait()
    except asyncio.CancelledError:  # Ctrl-C
        pass
    finally:
        reporter.cancel()
        replayer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            stats = await replayer
            console.print(f"devices: {stats.acked:,} of {stats.frames:,} frames acknowledged")
        stop.set()
        await server
    with open_store(db) as store:
        _print_latest(store, console)


def _metric(text: str, name: str) -> float:
    """Sum of one Prometheus metric's samples in the text exposition format."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


async def _report(http_port: int, console: Console, every: float = 5.0) -> None:
    """Print the gateway's counters (from its own /metrics) every few seconds."""
    url = f"http://127.0.0.1:{http_port}/metrics"
    while True:
        await asyncio.sleep(every)
        try:
            text = await asyncio.to_thread(_fetch, url)
        except OSError:
            continue
        console.print(
            f"frames accepted {_metric(text, 'shanshui_gateway_frames_accepted_total'):,.0f} · "
            f"readings stored {_metric(text, 'shanshui_gateway_observations_stored_total'):,.0f} · "
            f"write lag {_metric(text, 'shanshui_gateway_write_lag_records'):,.0f} records",
            style="cyan",
        )


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # loopback only
        return str(response.read().decode())


def _print_latest(store: object, console: Console) -> None:
    """The latest hour of every demo station with its AQI (HJ 633-2012)."""
    latest = store.latest(parameters=list(POLLUTANTS))  # type: ignore[attr-defined]
    if latest.empty:
        console.print("no live data yet")
        return
    wide = latest.pivot_table(index="site", columns="parameter", values="value", aggfunc="last")
    times = latest.groupby("site")["time"].max()
    aqi = hourly_aqi(wide.reindex(columns=list(POLLUTANTS)))
    names = formats.stations().set_index("code")["name"]
    out = Table(title="latest hourly AQI (HJ 633-2012)")
    for column in ("station", "name", "hour (UTC+8)", "AQI", "category", "primary"):
        out.add_column(column)
    for site in wide.index:
        row = aqi.loc[site]
        when = pd.Timestamp(times[site]).tz_convert("Asia/Shanghai")
        out.add_row(
            str(site), str(names.get(site, "")), f"{when:%Y-%m-%d %H:%M}",
            "" if pd.isna(row["AQI"]) else str(row["AQI"]), str(row["category_zh"]),
            str(row["primary_pollutant"]),
        )  # fmt: skip
    console.print(out)
