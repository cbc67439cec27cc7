"""API latency at 50 concurrent clients: latest map, station-year series, a static file.

Usage: ``python bench/api.py [--clients 50] [--requests 1000] [--series-requests 100]
[--db PATH] [--identity] [--layout columns|rows]``

What is measured (issue 5, item 1):

* a store (DuckDB) initialised with the regions and the national station list, holding the
  12 Beijing multi-site stations' hourly pollutants 2013-03 … 2017-02 (the shipped demo data,
  PRSA, CC BY 4.0, ``shanshui.formats.demo_data()``; loaded once and kept at ``--db``);
* ``shanshui serve`` on it (a subprocess: gateway, writer and the one HTTP server);
* a client process (a minimal asyncio HTTP/1.1 keep-alive client) keeping ``--clients``
  requests in flight, per target in turn, in the same run against the same server:
  (a) ``GET /api/v1/latest`` — the latest-values map of all stations with their AQI;
  (b) ``GET /api/v1/sites/{code}/series?from=2015-01-01&to=2015-12-31`` — a station-year of
      hourly values of the six pollutants (52,560 values), rotating over the 12 stations
      (answers of a past period are cached up to 60 s by the server), in the endpoint's
      default layout (columns: 1.2 MB of JSON; ``--layout rows``: one object per value,
      5 MB) — what a client gets without asking for more;
  (b') the same series with a different end day per request (nothing cached: every answer
      is read from the store and written as JSON — the cost of a new query);
  (c) ``GET /api/v1/static/error.schema.json`` — a static file served by the same server
      (the baseline).
Every request says ``Accept-Encoding: gzip`` as browsers and HTTP libraries do (``--identity``:
not), and the client inflates what comes gzip-encoded inside the timed span.
Prints p50 and p99 latency [ms] of each, the mean answer size on the wire [kB], and the
ratio p99 / p99 of the static file (goal: ≤ 5).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

PY = sys.executable
STATIC = "/api/v1/static/error.schema.json"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "shanshui.cli", *args], check=True, capture_output=True, text=True
    )


def build(db: Path) -> None:
    """Initialise the store and load the shipped demo data once (kept for later runs)."""
    if db.exists():
        return
    from shanshui.formats import demo_data
    from shanshui.store import open_store

    db.parent.mkdir(parents=True, exist_ok=True)
    part = db.with_suffix(".part")
    part.unlink(missing_ok=True)
    t = time.perf_counter()
    _cli("init", "--db", str(part))  # regions, the national station list, parameters
    long = demo_data()
    long["statistic"], long["period"] = "avg", "hour"
    with open_store(part) as store:
        for i in range(0, len(long), 250_000):
            store.write_observations(long.iloc[i : i + 250_000], source="bench")
    part.rename(db)
    print(f"store built in {time.perf_counter() - t:.0f} s ({len(long)} values): {db}")


def start_server(db: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [PY, "-m", "shanshui.cli", "serve", "--db", str(db), "--host", "127.0.0.1",
         "--port", "0", "--http-port", "0", "--journal", str(workdir / "journal"),
         "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=open(workdir / "serve.log", "wb"),  # noqa: SIM115
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        if event.get("event") == "ready":
            return proc, int(event["http_port"])
    raise RuntimeError((workdir / "serve.log").read_text()[-2000:])


# -- the client process ------------------------------------------------------------------------
class _Connection:
    """A minimal HTTP/1.1 keep-alive client on one connection (GET, Content-Length bodies):
    far less CPU per request than a general client, so the figures are the server's."""

    def __init__(self, host: str, port: int, gzip: bool) -> None:
        self.host, self.port = host, port
        self.accept = "Accept-Encoding: gzip\r\n" if gzip else ""
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes, int]:
        """Status, body (inflated) and the body's size on the wire [bytes]."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port, limit=1 << 20
            )
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.accept}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])
        }
        body = await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("content-encoding") == "gzip":
            return status, zlib.decompress(body, 31), len(body)
        return status, body, len(body)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _phase(
    base: str, paths: list[str], clients: int, n: int, gzip: bool
) -> tuple[list[float], float]:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    latencies: list[float] = []
    sizes: list[int] = []
    todo = iter(range(n))

    async def worker(k: int) -> None:
        conn = _Connection(host, int(port), gzip)
        try:
            await conn.get(paths[k % len(paths)])  # warm up: the connection, caches
            for i in todo:
                t = time.perf_counter()
                status, body, wire = await conn.get(paths[(clients + i) % len(paths)])
                latencies.append(time.perf_counter() - t)
                sizes.append(wire)
                assert status == 200, (status, body[:300])
        finally:
            conn.close()

    await asyncio.gather(*(worker(k) for k in range(clients)))
    return latencies, sum(sizes) / max(len(sizes), 1)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def client_main(  # noqa: PLR0917 - the options
    base: str, clients: int, n: int, n_series: int, gzip: bool, layout: str
) -> None:
    # the stations with data, from the map itself (the 12 PRSA stations)
    with urllib.request.urlopen(f"{base}/api/v1/latest", timeout=300) as r:
        stations = [i["site"] for i in json.loads(r.read())["items"]]
    assert len(stations) == 12, stations
    extra = "" if layout == "columns" else f"&layout={layout}"  # columns: the default
    series = [f"/api/v1/sites/{c}/series?from=2015-01-01&to=2015-12-31{extra}" for c in stations]
    last = dt.date(2015, 12, 31)
    uncached = [
        f"/api/v1/sites/{stations[j % 12]}/series?from=2015-01-01"
        f"&to={last - dt.timedelta(days=j // 12)}{extra}"
        for j in range(clients + n_series)
    ]
    targets = {
        "static": ([STATIC], n),
        "latest": (["/api/v1/latest"], n),
        "series": (series, n),
        "series_new": (uncached, n_series),
    }
    out = {}
    for name, (paths, count) in targets.items():
        t = time.perf_counter()
        lat, size = asyncio.run(_phase(base, paths, clients, count, gzip))
        wall = time.perf_counter() - t
        out[name] = {"n": len(lat), "p50": _pct(lat, 0.5), "p99": _pct(lat, 0.99),
                     "rps": len(lat) / wall, "kb": size / 1000}  # fmt: skip
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=1000, help="per target (static, latest)")
    ap.add_argument("--series-requests", type=int, default=100, help="of the never-cached series")
    ap.add_argument(
        "--db", type=Path, default=Path(tempfile.gettempdir()) / "shanshui-bench-api-demo.duckdb"
    )
    ap.add_argument("--identity", action="store_true", help="do not accept gzip answers")
    ap.add_argument("--layout", choices=["columns", "rows"], default="columns")
    ap.add_argument("--client", help=argparse.SUPPRESS)  # internal: run as the client
    args = ap.parse_args()
    if args.client:
        client_main(
            args.client, args.clients, args.requests, args.series_requests,
            not args.identity, args.layout,
        )  # fmt: skip
        return
    build(args.db)
    with tempfile.TemporaryDirectory() as tmp:
        server, port = start_server(args.db, Path(tmp))
        try:
            run = subprocess.run(
                [PY, __file__, "--client", f"http://127.0.0.1:{port}",
                 "--clients", str(args.clients), "--requests", str(args.requests),
                 "--series-requests", str(args.series_requests), "--layout", args.layout,
                 *(["--identity"] if args.identity else [])],
                check=False, capture_output=True, text=True,
            )  # fmt: skip
        finally:
            server.terminate()
            server.wait(60)
            log = (Path(tmp) / "serve.log").read_text()
    if run.returncode != 0:
        sys.exit(f"the client failed:\n{run.stderr[-3000:]}\nserver log:\n{log[-3000:]}")
    got = json.loads(run.stdout.strip().splitlines()[-1])
    base = got["static"]["p99"]
    print(
        f"API latency at {args.clients} concurrent clients (cpu count {os.cpu_count()}; "
        f"series layout {args.layout}; {'identity' if args.identity else 'gzip accepted'}):"
    )
    for name, label in (
        ("static", "static file (baseline)"),
        ("latest", "latest map, all stations"),
        ("series", "station-year hourly series"),
        ("series_new", "  the same, never cached"),
    ):
        g = got[name]
        print(
            f"  {label:28s} n={g['n']:5d}  p50 {g['p50']:9.1f} ms  p99 {g['p99']:9.1f} ms  "
            f"{g['rps']:7.1f} req/s {g['kb']:7.0f} kB  p99/p99_static {g['p99'] / base:6.1f}x"
        )
    print("goal: p99 <= 5x the static file's p99")


if __name__ == "__main__":
    main()
