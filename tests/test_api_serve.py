"""End to end: ``shanshui serve`` (a subprocess) answers the API, the docs and ``/metrics``
on its one HTTP port while ``shanshui simulate`` replays real data as a live HJ 212 device,
and the latest values move as the hours arrive.

Data: Beijing multi-site (PRSA, CC BY 4.0), Wanshouxigong (万寿西宫, national 1001A),
2015-01-01 00:00 … 12:00 Beijing time; PRSA labels an hour by its END, the API by its START.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd

from test_e2e_gateway import Server, register, simulate

PY = sys.executable
FILE = "PRSA_Data_Wanshouxigong_20130301-20170228.csv"


def _get(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            body = r.read()
            kind = r.headers.get("content-type", "")
            return r.status, json.loads(body) if "json" in kind else body.decode()
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serve_answers_the_api_while_data_arrive(shared: Path, tmp_path: Path) -> None:
    source = shared / "data/beijing_multisite" / FILE
    db = tmp_path / "live.duckdb"
    subprocess.run([PY, "-m", "shanshui.cli", "init", "--db", str(db)], check=True, timeout=300,
                   capture_output=True)  # fmt: skip
    start, end = "2015-01-01 00:00", "2015-01-01 12:00"
    register([source], ["--db", str(db)], start, end)
    server = Server(["--db", str(db)], tmp_path)
    server.start()
    try:
        port = server.http_port
        status, body = _get(port, "/api/v1/latest")
        assert status == 200 and body["items"] == []
        status, body = _get(port, "/api/v1/nowhere")
        assert status == 404 and body["error"]["code"] == "not_found"
        assert _get(port, "/docs")[0] == 200
        assert "/api/v1/latest" in _get(port, "/openapi.json")[1]["paths"]
        feeder = simulate([source], server.port, start, end, "--speed", "3600")
        seen: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            items = _get(port, "/api/v1/latest")[1]["items"]
            if items and (not seen or items[0]["time"] != seen[-1]):
                seen.append(items[0]["time"])
            if seen and seen[-1] == "2015-01-01T11:00:00+08:00":
                break
            time.sleep(0.3)
        _, err = feeder.communicate(timeout=120)
        assert feeder.returncode == 0, err.decode()[-2000:]
        assert len(seen) >= 2, seen  # the map moved while the device sent
        assert seen == sorted(seen) and seen[-1] == "2015-01-01T11:00:00+08:00", seen
        (item,) = _get(port, "/api/v1/latest")[1]["items"]
        raw = pd.read_csv(source)
        row = raw[(raw.year == 2015) & (raw.month == 1) & (raw.day == 1) & (raw.hour == 12)]
        assert item["site"] == "1001A"
        assert item["values"]["PM2.5"]["value"] == float(row["PM2.5"].iloc[0])
        metrics = server.metrics()
        assert metrics['shanshui_gateway_frames_accepted_total{cn="2061"}'] >= 12
        assert metrics["shanshui_gateway_observations_stored_total"] >= 12 * 6
    finally:
        server.stop()


def test_serve_in_process_mounts_extra_routes_and_stops(tmp_path: Path) -> None:
    """``serve(config, stop=…, ready=…)``: one HTTP port for the API, /metrics and the
    config's extra plain routes; it stops when ``stop`` is set, closing the port."""
    import asyncio

    from shanshui.ingest.serve import ServeConfig, serve

    async def hello(method: str, body: bytes) -> tuple[int, str, bytes]:
        return 200, "text/plain", f"{method} {len(body)}".encode()

    config = ServeConfig(
        target=str(tmp_path / "s.duckdb"), journal=tmp_path / "journal", host="127.0.0.1",
        port=0, http_port=0, routes={"/hello": hello},
    )  # fmt: skip
    got: dict[str, Any] = {}

    async def main() -> None:
        stop = asyncio.Event()
        ready = asyncio.Event()
        info: dict[str, int] = {}

        def on_ready(i: dict[str, int]) -> None:
            info.update(i)
            ready.set()

        task = asyncio.create_task(serve(config, stop=stop, ready=on_ready))
        await asyncio.wait_for(ready.wait(), 60)
        port = info["http_port"]
        got["hello"] = await asyncio.to_thread(_get, port, "/hello")
        got["regions"] = await asyncio.to_thread(_get, port, "/api/v1/regions")
        got["metrics"] = await asyncio.to_thread(_get, port, "/metrics")
        stop.set()
        await asyncio.wait_for(task, 60)
        got["port"] = port

    asyncio.run(main())
    assert got["hello"] == (200, "GET 0")
    assert got["regions"][0] == 200 and got["regions"][1]["total"] == 0  # an empty store
    assert got["metrics"][0] == 200 and "shanshui_gateway_connections_total" in got["metrics"][1]
    try:
        _get(got["port"], "/metrics")
    except urllib.error.URLError:
        pass  # the port is closed
    else:
        raise AssertionError("serve still answers after stop")


def test_serve_cli_passes_rules_every(monkeypatch: Any, tmp_path: Path) -> None:
    """``--rules-every`` reaches ``ServeConfig.rules_every`` (0 turns the permit rules off);
    the default is the config's 60 s."""
    from typer.testing import CliRunner

    import shanshui.cli.serve as cli_serve
    from shanshui.cli import app
    from shanshui.ingest.serve import ServeConfig

    seen: list[ServeConfig] = []
    monkeypatch.setattr(cli_serve, "run", seen.append)
    monkeypatch.setattr(cli_serve, "setup_json_logging", lambda level: None)  # keep pytest's
    db = str(tmp_path / "s.duckdb")
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--db", db, "--no-seed"]).exit_code == 0  # serve needs it
    for extra, want in (([], 60.0), (["--rules-every", "0"], 0.0), (["--rules-every", "5"], 5.0)):
        result = runner.invoke(app, ["serve", "--db", db, "--log-level", "error", *extra])
        assert result.exit_code == 0, result.output
        assert seen[-1].rules_every == want
    assert ServeConfig(target=db, journal=tmp_path).rules_every == 60.0
    refused = runner.invoke(app, ["serve", "--db", db, "--rules-every", "-1"])
    assert refused.exit_code == 2 and len(seen) == 3
