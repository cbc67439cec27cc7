"""``shanshui simulate``: frames carry exactly the source's values, and the replay resends
what was not acknowledged, reconnecting like a data logger (HJ 212-2017 §6.5.1).

Reference values: the CNEMC file read by :func:`shanshui.formats.read_cnemc` (the formats
module's reader of ``shared/data/cnemc``), never the simulator itself.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shanshui import formats
from shanshui.cli import app
from shanshui.hj212 import CST, Decoder, Frame, decode_frame
from shanshui.ingest.readings import to_rows
from shanshui.ingest.session import ack_frame
from shanshui.ingest.simulate import (
    ReplayStats,
    SimDevice,
    device_identity,
    devices_from_table,
    hourly_frame,
    load_table,
    replay,
    synthetic_devices,
)
from shanshui.store import open_store


def test_identity_is_a_2017_mn_and_a_six_digit_password() -> None:
    mn, pw = device_identity("1001A")
    assert len(mn) == 24 and all(c in "0123456789ABCDEF" for c in mn)
    assert len(pw) == 6 and pw.isdigit()
    assert device_identity("1001A") == (mn, pw)
    assert device_identity("1001A", "other")[1] != pw or device_identity("1002A")[0] != mn


def test_hourly_frame_is_a_2061_with_flag_5() -> None:
    when = datetime(2014, 1, 1, 8, tzinfo=CST)
    frame = hourly_frame("M1", "123456", when, {"PM2.5": 35.0, "CO": 0.3, "DEWP": -3.5})
    msg = decode_frame(frame.data)
    assert (msg.cn, msg.st, msg.flag, msg.data_time_raw) == ("2061", "22", 5, "20140101080000")
    assert set(msg.items) == {"a34004", "a21005", "DEWP"}  # HJ 212-2017 Appendix B codes
    assert msg.items["a21005"]["Avg"] == "0.3" and msg.items["a34004"]["Flag"] == "N"


def test_cnemc_day_round_trips_through_frames(shared: Path) -> None:
    path = shared / "data" / "cnemc" / "china_sites" / "china_sites_20250101.csv.gz"
    source = formats.read_cnemc(path)
    beijing = source[source["site"] == "1001A"]
    table = load_table([path])
    table = table[table["site"] == "1001A"]
    (device,) = devices_from_table(table)
    assert len(device.frames) == beijing["time"].nunique()
    got = {}
    for f in device.frames:
        for row in to_rows(decode_frame(f.data), "1001A"):
            got[row[1], row[4]] = row[5]
    expected = {
        (r.parameter, int(r.time.timestamp()) * 1_000_000): r.value for r in beijing.itertuples()
    }
    assert got == expected


class AckServer:
    """Acknowledges frames, but drops the first connection after ``drop_after`` frames and
    never answers the frames whose QN ends in ``silent`` the first time it sees them."""

    def __init__(self, drop_after: int) -> None:
        self.drop_after = drop_after
        self.connections = 0
        self.seen: dict[str, int] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        first = self.connections == 1
        decoder = Decoder()
        n = 0
        while data := await reader.read(65536):
            for event in decoder.feed(data):
                if not isinstance(event, Frame):
                    continue
                n += 1
                if first and n > self.drop_after:
                    writer.close()
                    return
                qn = event.message.qn or ""
                self.seen[qn] = self.seen.get(qn, 0) + 1
                if qn.startswith("2024010103") and self.seen[qn] == 1:
                    continue  # lost answer: the device must resend after its timeout
                writer.write(ack_frame(event.message))
        writer.close()


def test_replay_resends_and_reconnects() -> None:
    devices = synthetic_devices(1, 12, start=datetime(2024, 1, 1, tzinfo=CST))

    async def scenario() -> tuple[object, AckServer]:
        server = AckServer(drop_after=5)
        tcp = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = tcp.sockets[0].getsockname()[1]
        stats = await replay(devices, "127.0.0.1", port, window=4, ack_timeout=0.3, max_seconds=30)
        tcp.close()
        return stats, server

    stats, server = asyncio.run(scenario())
    assert stats.acked == stats.frames == 12  # type: ignore[attr-defined]
    assert stats.connects >= 2 and stats.resent >= 1  # type: ignore[attr-defined]
    assert set(server.seen) == {f.qn for f in devices[0].frames}
    assert server.seen["20240101030000000"] >= 2


class OneDeviceServer:
    """A gateway that answers only the device ``mn`` (the others are unknown to it: HJ 212
    gives an unknown device no answer, the gateway lists it as pending)."""

    def __init__(self, mn: str) -> None:
        self.mn = mn

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = Decoder()
        while data := await reader.read(65536):
            for event in decoder.feed(data):
                if isinstance(event, Frame) and event.message.mn == self.mn:
                    writer.write(ack_frame(event.message))
        writer.close()


def test_a_device_the_gateway_never_answers_is_reported_once() -> None:
    """A replay reports its counts as it goes and names, once, each device that had no frame
    acknowledged after SILENT_AFTER timeouts (an unregistered device resends until
    max_seconds: the operator must learn why nothing lands)."""
    devices = synthetic_devices(2, 3, start=datetime(2024, 1, 1, tzinfo=CST))
    heard, unheard = devices
    calls: list[tuple[ReplayStats, list[str]]] = []

    def progress(total: ReplayStats, silent: list[SimDevice]) -> None:
        calls.append((total, [d.mn for d in silent]))

    async def scenario() -> ReplayStats:
        server = OneDeviceServer(heard.mn)
        tcp = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = tcp.sockets[0].getsockname()[1]
        stats = await replay(
            devices, "127.0.0.1", port, ack_timeout=0.1, max_seconds=1.5, progress=progress,
            every=0.1,
        )  # fmt: skip
        tcp.close()
        return stats

    stats = asyncio.run(scenario())
    assert stats.acked == 3 and stats.frames == 6
    named = [mn for _, silent in calls for mn in silent]
    assert named == [unheard.mn]  # once, and never the device that was answered
    assert calls[-1][0].acked == 3 and calls[-1][0].resent > 0


def test_the_cli_warns_of_silent_devices_and_says_how_to_register_them(tmp_path: Path) -> None:
    """``shanshui simulate`` against a gateway that knows none of its devices: a start event,
    a warning on stderr naming the device and the register command, exit status 2."""
    import json
    import subprocess
    import sys

    async def scenario() -> subprocess.CompletedProcess[bytes]:
        server = OneDeviceServer("no such device")
        tcp = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = tcp.sockets[0].getsockname()[1]
        cmd = [
            sys.executable, "-m", "shanshui.cli", "simulate", "--synthetic", "1", "--hours", "2",
            "--port", str(port), "--speed", "0", "--ack-timeout", "0.2", "--max-seconds", "2",
        ]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await proc.communicate()
        tcp.close()
        assert proc.returncode is not None
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)

    done = asyncio.run(scenario())
    events = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert events[0] == {"event": "start", "devices": 1, "frames": 2}
    assert events[-1]["event"] == "done" and events[-1]["acked"] == 0
    assert "progress" in {e["event"] for e in events}
    mn = device_identity("SYN00001")[0]
    err = done.stderr.decode()
    assert err.count("warning: 1 device(s) had no frame acknowledged") == 1
    assert mn in err and "shanshui simulate … --register --db STORE --synthetic 1" in err
    assert done.returncode == 2


def test_register_builds_no_frame_and_registers_each_station(
    shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``simulate FILES --register`` (README): one active device per station of the files,
    under the identity the replay uses. It registers without building the replay's frames (a
    PRSA set's 420,000 took minutes, README check of 2026-11-27): building them fails here."""
    import shanshui.cli.simulate as cli_simulate
    import shanshui.ingest.simulate as ingest_simulate

    def no_frames(*args: object, **kwargs: object) -> object:
        raise AssertionError("--register built the replay's frames")

    monkeypatch.setattr(cli_simulate, "devices_from_table", no_frames)
    monkeypatch.setattr(ingest_simulate, "hourly_frame", no_frames)
    path = shared / "data/cnemc/china_sites/china_sites_20250101.csv.gz"
    sites = sorted(set(formats.read_cnemc(path)["site"].astype(str)))
    db = tmp_path / "s.duckdb"
    args = ["simulate", str(path), "--register", "--db", str(db), "--hash-cost", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f'"devices": {len(sites)}' in result.output
    with open_store(db) as store:
        devices = {d.mn: d for d in store.devices()}
    for site in sites[:50]:
        mn, _ = device_identity(site)
        assert devices[mn].site == site and devices[mn].status == "active"
