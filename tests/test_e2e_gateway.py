"""End to end: ``shanshui simulate`` replays the 12 Beijing PRSA stations into a running
``shanshui serve`` (subprocesses on loopback); afterwards the store holds exactly the
source's values — every value, no extra, no missing, no duplicate — also across ``kill -9``
of the gateway and a PostgreSQL outage (DESIGN §5), and through a storm of bad input.

Source of truth: the PRSA files in ``shared/data/beijing_multisite`` read by
:func:`shanshui.formats.read_prsa` (the formats module's reference reader), never the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from shanshui.ingest.simulate import load_table
from shanshui.store import open_store

if TYPE_CHECKING:
    from pg import Cluster

PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prsa_files(shared: Path) -> list[Path]:
    files = sorted((shared / "data" / "beijing_multisite").glob("PRSA_Data_*.csv"))
    assert len(files) == 12
    return files


class Server:
    """``python -m shanshui.cli.serve`` on fixed loopback ports (so it can be restarted)."""

    def __init__(self, target: list[str], workdir: Path, *extra: str) -> None:
        self.target = target
        self.workdir = workdir
        self.port = free_port()
        self.http_port = free_port()
        self.extra = list(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        log = open(self.workdir / f"serve-{self.starts}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [PY, "-m", "shanshui.cli", "serve", *self.target, "--host", "127.0.0.1",
             "--port", str(self.port), "--http-port", str(self.http_port),
             "--journal", str(self.workdir / "journal"), *self.extra],
            stdout=subprocess.PIPE, stderr=log, cwd=self.workdir,
        )  # fmt: skip
        log.close()  # the child holds its own copy
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if json.loads(line).get("event") == "ready":
                return
        raise AssertionError(f"serve did not start: {self.log_tail()}")

    def log_tail(self) -> str:
        logs = sorted(self.workdir.glob("serve-*.log"))
        return logs[-1].read_text()[-3000:] if logs else ""

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("serve did not stop on SIGTERM") from None
            finally:
                self._close_pipe()

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def peak_rss_kib(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0


def register(files: list[Path], target: list[str], start: str, end: str) -> None:
    subprocess.run(
        [PY, "-m", "shanshui.cli", "simulate", *map(str, files), "--from", start, "--to", end,
         "--register", *target],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip


def simulate(
    files: list[Path], port: int, start: str, end: str, *extra: str
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [PY, "-m", "shanshui.cli", "simulate", *map(str, files), "--from", start, "--to", end,
         "--host", "127.0.0.1", "--port", str(port), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def finish(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, int]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode()[-3000:]
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


def assert_store_equals_source(files: list[Path], store_target: str, start: str, end: str) -> int:
    """Every source value is in the store, once, with the same value and flag; nothing else.

    Returns the number of values compared.
    """
    first = pd.Timestamp(start, tz="Asia/Shanghai").to_pydatetime()
    last = pd.Timestamp(end, tz="Asia/Shanghai").to_pydatetime()
    source = load_table(files, start=first, end=last)
    with open_store(store_target, migrate=False) as store:
        sites = sorted(set(source["site"]))
        got = store.observations(sites)
    # nothing outside the period either: the store was empty before the replay
    assert len(got) == len(
        got.drop_duplicates(["site", "parameter", "statistic", "period", "time"])
    )
    assert set(got["statistic"]) == {"avg"} and set(got["period"]) == {"hour"}
    src = pd.DataFrame(
        {
            "site": source["site"].astype(str).to_numpy(),
            "parameter": source["parameter"].astype(str).to_numpy(),
            "time": pd.to_datetime(source["time"]).dt.tz_convert("UTC").to_numpy(),
            "value": source["value"].to_numpy(),
            "flag": source["flag"].astype(str).to_numpy(),
        }
    )
    dst = pd.DataFrame(
        {
            "site": got["site"].astype(str).to_numpy(),
            "parameter": got["parameter"].astype(str).to_numpy(),
            "time": pd.to_datetime(got["time"], utc=True).to_numpy(),
            "value": got["value"].to_numpy(),
            "flag": got["flag"].astype(str).to_numpy(),
        }
    )
    merged = src.merge(dst, on=["site", "parameter", "time"], how="outer", indicator=True)
    missing = merged[merged["_merge"] == "left_only"]
    extra = merged[merged["_merge"] == "right_only"]
    assert missing.empty, f"{len(missing)} source values missing, e.g. {missing.head(3)}"
    assert extra.empty, f"{len(extra)} values not in the source, e.g. {extra.head(3)}"
    assert (merged["value_x"] == merged["value_y"]).all(), "values differ"
    assert (merged["flag_x"] == merged["flag_y"]).all(), "flags differ"
    assert len(dst) == len(src)
    _assert_daily(source, store_target)
    return len(src)


def _assert_daily(source: pd.DataFrame, store_target: str) -> None:
    """Daily aggregates followed the replay: per (site, natural day, parameter) the count and
    mean of the source's hourly values; valid with at least 20 hours (GB 3095-2012 Table 4,
    every PRSA value being a normal one)."""
    local = pd.to_datetime(source["time"]).dt.tz_convert("Asia/Shanghai")
    src = (
        pd.DataFrame(
            {
                "site": source["site"].astype(str).to_numpy(),
                "parameter": source["parameter"].astype(str).to_numpy(),
                "day": local.dt.date.to_numpy(),
                "value": source["value"].to_numpy(),
            }
        )
        .groupby(["site", "parameter", "day"])["value"]
        .agg(["count", "mean"])
        .reset_index()
    )
    with open_store(store_target, migrate=False) as store:
        daily = store.daily(sorted(set(src["site"])))
    daily = daily.assign(site=daily["site"].astype(str), parameter=daily["parameter"].astype(str))
    merged = src.merge(daily, on=["site", "parameter", "day"], how="left")
    assert merged["observed"].notna().all(), "days without aggregates"
    assert (merged["observed"] == merged["count"]).all()
    assert ((merged["mean"] - merged["value"]).abs() <= 1e-9 * merged["mean"].abs() + 1e-12).all()
    assert (merged["valid"] == (merged["count"] >= 20)).all()


def wait_until(predicate: object, timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(every)
    return False


# ------------------------------------------------------------------------------------ tests
pytest_plugins = ["pg"]

MONTH = ("2014-01-01", "2014-02-01")


def _replay_month(shared: Path, tmp_path: Path, target: list[str], store_target: str) -> int:
    files = prsa_files(shared)
    register(files, target, *MONTH)
    server = Server(target, tmp_path)
    server.start()
    try:
        sim = simulate(files, server.port, *MONTH, "--speed", "0", "--ack-timeout", "20",
                       "--max-seconds", "600")  # fmt: skip
        stats = finish(sim, 900)
        assert stats["acked"] == stats["frames"] == 12 * 744
        metrics = server.metrics()
        assert metrics['shanshui_gateway_frames_accepted_total{cn="2061"}'] >= stats["frames"]
    finally:
        server.stop()
    return assert_store_equals_source(files, store_target, *MONTH)


@pytest.mark.slow
def test_replay_one_month_duckdb(shared: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    n = _replay_month(shared, tmp_path, ["--db", str(db)], str(db))
    print(f"\nDuckDB: {n} values of 12 stations x 744 h stored exactly once")


@pytest.mark.slow
@pytest.mark.postgres
def test_replay_one_month_postgres(shared: Path, tmp_path: Path, pg_url: str) -> None:
    n = _replay_month(shared, tmp_path, ["--postgres", pg_url], pg_url)
    print(f"\nPostgreSQL: {n} values stored exactly once")


def _replay_with_trouble(
    shared: Path, tmp_path: Path, target: list[str], store_target: str, trouble: object
) -> dict[str, int]:
    files = prsa_files(shared)
    register(files, target, *MONTH)
    server = Server(target, tmp_path)
    server.start()
    try:
        # one month in about 40 s of wall time: 2,678,400 s / 65,000
        sim = simulate(files, server.port, *MONTH, "--speed", "65000", "--ack-timeout", "3",
                       "--max-seconds", "600")  # fmt: skip
        trouble(server)  # type: ignore[operator]
        stats = finish(sim, 900)
        assert stats["acked"] == stats["frames"] == 12 * 744
    finally:
        server.stop()
    assert_store_equals_source(files, store_target, *MONTH)
    return stats


def _accepting(server: Server) -> bool:
    try:
        return server.metrics().get('shanshui_gateway_frames_accepted_total{cn="2061"}', 0) > 0
    except OSError:
        return False


def _kill_five_times(server: Server) -> None:
    rng = random.Random(212)
    for _ in range(5):
        # a random moment while this gateway process is taking data
        assert wait_until(lambda: _accepting(server), 300), server.log_tail()
        time.sleep(rng.uniform(0.5, 4.0))
        server.kill9()
        time.sleep(rng.uniform(0.0, 1.0))
        server.start()


@pytest.mark.slow
def test_kill9_during_replay_duckdb(shared: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    stats = _replay_with_trouble(shared, tmp_path, ["--db", str(db)], str(db), _kill_five_times)
    # the devices reconnected after the kills and resent what was not acknowledged
    assert stats["connects"] >= 12 * 2 and stats["resent"] > 0
    print(f"\nkill -9 x5 (DuckDB): {stats}")


@pytest.mark.slow
@pytest.mark.postgres
def test_kill9_during_replay_postgres(shared: Path, tmp_path: Path, pg_url: str) -> None:
    stats = _replay_with_trouble(shared, tmp_path, ["--postgres", pg_url], pg_url, _kill_five_times)
    print(f"\nkill -9 x5 (PostgreSQL): {stats}")


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_down_30s_during_replay(
    shared: Path, tmp_path: Path, pg_cluster: Cluster, pg_url: str
) -> None:
    seen: dict[str, float] = {}

    def outage(server: Server) -> None:
        assert wait_until(lambda: _accepting(server), 300), server.log_tail()
        time.sleep(2)
        pg_cluster._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(pg_cluster.data))
        try:
            time.sleep(30)
            seen.update(server.metrics())
        finally:
            opts = (
                f"-c listen_addresses=127.0.0.1 -c port={pg_cluster.port} -k {pg_cluster.root} "
                "-c max_connections=50 -c shared_buffers=64MB"
            )
            pg_cluster._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(pg_cluster.data),
                            "-l", str(pg_cluster.log), "-o", opts)  # fmt: skip

    stats = _replay_with_trouble(shared, tmp_path, ["--postgres", pg_url], pg_url, outage)
    # while the database was down the gateway kept acknowledging into its journal
    assert seen["shanshui_gateway_store_errors_total"] > 0
    assert seen["shanshui_gateway_write_lag_records"] > 0
    print(f"\nPostgreSQL down 30 s: {stats}; lag then {seen['shanshui_gateway_write_lag_records']}")


# ------------------------------------------------------------------------- storm of bad input
STORM_DEVICES, STORM_HOURS = 6, 48


async def _storm(port: int, mn: str, counts: dict[str, int]) -> None:
    from shanshui.ingest.simulate import hourly_frame

    async def connection(payloads: list[bytes], *, pause: float = 0.0) -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        with contextlib.suppress(ConnectionError):  # the gateway may close slow senders
            for p in payloads:
                writer.write(p)
                await writer.drain()
                if pause:
                    await asyncio.sleep(pause)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    when = datetime(2024, 1, 1, tzinfo=UTC)
    good = hourly_frame(mn, "000000", when, {"PM2.5": 1.0}).data
    tasks = []
    for k in range(4):
        bad_crc = [
            hourly_frame(mn, "x", when, {"PM2.5": float(i)}).data[:-6] + b"0000\r\n"
            for i in range(25)
        ]
        counts["crc_mismatch"] += len(bad_crc)
        unknown = [
            hourly_frame(f"UNKNOWN{k}{i:04d}", "123456", when, {"PM2.5": 1.0}).data
            for i in range(25)
        ]
        counts["unknown_device"] += len(unknown)
        wrong_pw = [hourly_frame(mn, f"9{i:05d}", when, {"PM2.5": 2.0}).data for i in range(10)]
        counts["bad_password"] += len(wrong_pw)
        oversize = [b"##2000" + b"a" * 2000 + b"&&0000\r\n"] * 5
        counts["too_long"] += len(oversize)
        malformed = [
            b"hello\r\n",
            b"##00QN=1\r\n",
            bytes(range(256)) + b"\n",
            b"GET / HTTP/1.0\r\n",
        ]
        mixed = bad_crc + malformed + unknown + wrong_pw + oversize
        random.Random(k).shuffle(mixed)
        tasks.append(connection(mixed, pause=0.01))
    # connections that send nothing, and one that sends a frame one byte a second
    idle = [asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
    tasks.append(connection([bytes([b]) for b in good[:12]], pause=1.0))
    opened = await asyncio.gather(*idle)
    await asyncio.gather(*tasks)
    await asyncio.sleep(5)  # idle and slow timeouts are 3 s
    for _, writer in opened:
        writer.close()


@pytest.mark.slow
def test_storm_of_bad_input(tmp_path: Path) -> None:
    from shanshui.ingest.simulate import device_identity, synthetic_devices

    db = tmp_path / "s.duckdb"
    base = [PY, "-m", "shanshui.cli", "simulate", "--synthetic", str(STORM_DEVICES), "--hours",
            str(STORM_HOURS), "--from", "2024-01-01T00:00:00+08:00"]  # fmt: skip
    subprocess.run([*base, "--register", "--db", str(db)], check=True, capture_output=True)
    server = Server(
        ["--db", str(db)], tmp_path,
        "--idle-timeout", "3", "--slow-timeout", "3", "--max-frame", "1024",
    )  # fmt: skip
    server.start()
    counts = dict.fromkeys(("crc_mismatch", "unknown_device", "bad_password", "too_long"), 0)
    try:
        sim = subprocess.Popen(
            [*base, "--port", str(server.port), "--speed", "20000", "--ack-timeout", "5",
             "--max-seconds", "300"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        mn = device_identity("SYN00001")[0]
        asyncio.run(_storm(server.port, mn, counts))
        stats = finish(sim, 400)
        assert stats["acked"] == stats["frames"] == STORM_DEVICES * STORM_HOURS
        metrics = server.metrics()
        peak = server.peak_rss_kib()
    finally:
        server.stop()
    rejected = {
        k.split('"')[1]: v
        for k, v in metrics.items()
        if k.startswith("shanshui_gateway_frames_rejected_total{")
    }
    for reason, n in counts.items():
        assert rejected.get(reason) == n, (reason, rejected)
    assert rejected.get("garbage", 0) + rejected.get("length_mismatch", 0) >= 4
    assert rejected.get("idle", 0) >= 20 and rejected.get("slow_read", 0) == 1, rejected
    print(f"\nstorm: rejected {rejected}; gateway peak RSS {peak / 1024:.0f} MiB")
    assert peak < 512 * 1024
    # every valid reading stored, exactly
    sent = synthetic_devices(
        STORM_DEVICES, STORM_HOURS, start=datetime.fromisoformat("2024-01-01T00:00:00+08:00")
    )
    with open_store(str(db), migrate=False) as store:
        got = store.observations([d.site for d in sent])
        pending = {d.mn for d in store.pending_devices()}
    assert len(got) == STORM_DEVICES * STORM_HOURS * 6
    assert {f"UNKNOWN{k}{i:04d}" for k in range(4) for i in range(25)} <= pending
    from shanshui.hj212 import decode_frame

    expected = {}
    for d in sent:
        for f in d.frames:
            msg = decode_frame(f.data)
            for code, entries in msg.items.items():
                expected[d.site, code, f.time] = float(entries["Avg"])
    assert len(expected) == len(got)
    codes = {"PM2.5": "a34004", "PM10": "a34002", "SO2": "a21026", "NO2": "a21004",
             "O3": "a05024", "CO": "a21005"}  # fmt: skip
    for row in got.itertuples():
        local = pd.Timestamp(row.time).tz_convert("Asia/Shanghai").tz_localize(None)
        assert expected[row.site, codes[row.parameter], local.to_pydatetime()] == row.value


@pytest.mark.slow
@pytest.mark.postgres
def test_two_gateways_share_one_postgres(shared: Path, tmp_path: Path, pg_url: str) -> None:
    """DESIGN §6 server tier: gateway processes with their own journals, one database."""
    files = prsa_files(shared)
    week = ("2015-07-01", "2015-07-08")
    register(files, ["--postgres", pg_url], *week)
    servers = []
    for k in range(2):
        workdir = tmp_path / f"gw{k}"
        workdir.mkdir()
        servers.append(Server(["--postgres", pg_url], workdir))
        servers[-1].start()
    try:
        opts = ("--speed", "0", "--ack-timeout", "20", "--max-seconds", "600")
        sims = [simulate(files[k::2], servers[k].port, *week, *opts) for k in range(2)]
        for k, sim in enumerate(sims):
            stats = finish(sim, 900)
            assert stats["acked"] == stats["frames"] == 6 * 168, k
    finally:
        for server in servers:
            server.stop()
    n = assert_store_equals_source(files, pg_url, *week)
    print(f"\ntwo gateways, one PostgreSQL: {n} values stored exactly once")
