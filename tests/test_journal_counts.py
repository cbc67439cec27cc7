"""Old journal records (versions 1 and 2) are counted as journaled, like version 3 ones.

A journal written before an upgrade replays after it (``shanshui.ingest.payload``: "the
reader keeps accepting" version 1; version 2 likewise). Its readings reach the store and must
count in ``shanshui_gateway_observations_journaled_total`` too. The segment here is built byte
by byte from the layouts the modules document, not with their encoders:

- segment record (``shanshui.ingest.journal``): ``length u32 LE | crc32(payload) u32 | payload``
- version 2 payload (``shanshui.ingest.payload``): ``u8 2 | i64 received [µs UTC] | u32 frames
  F | u32 readings R | i64[F] time | u32[F] readings per frame | 7 x (u32 length | UTF-8
  text)``: site, period, MN (F items), parameter, statistic, value, flag (R items), joined by
  U+001F
- version 1 payload: compact JSON ``{"r": received, "s": [...], "p", "k", "d", "t", "v",
  "f", "m"}`` with one item per reading.
"""

from __future__ import annotations

import asyncio
import json
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shanshui.ingest.journal import GroupCommitter, Journal
from shanshui.ingest.metrics import GatewayMetrics
from shanshui.ingest.writer import JournalWriter
from shanshui.store import AIR_PARAMETERS, Site, open_store

RECEIVED = 1_700_000_000_000_000  # µs UTC
HOUR_US = int(datetime(2014, 1, 1, 0, tzinfo=UTC).timestamp()) * 1_000_000  # 08:00 Beijing


def _v2(frames: list[tuple[str, int, list[tuple[str, str]]]]) -> bytes:
    """A version 2 payload: frames of (site, time [µs], [(parameter, value)]) of hourly avg."""
    readings = [r for _, _, rs in frames for r in rs]
    head = struct.pack("<BqII", 2, RECEIVED, len(frames), len(readings))
    times = b"".join(struct.pack("<q", t) for _, t, _ in frames)
    counts = b"".join(struct.pack("<I", len(rs)) for _, _, rs in frames)
    texts = [
        [s for s, _, _ in frames],
        ["hour"] * len(frames),
        ["MNOLD"] * len(frames),
        [p for p, _ in readings],
        ["avg"] * len(readings),
        [v for _, v in readings],
        ["N"] * len(readings),
    ]
    blobs = b""
    for items in texts:
        blob = "\x1f".join(items).encode()
        blobs += struct.pack("<I", len(blob)) + blob
    return head + times + counts + blobs


def _v1(site: str, time_us: int, readings: list[tuple[str, float]]) -> bytes:
    n = len(readings)
    obj: dict[str, Any] = {
        "r": RECEIVED, "s": [site] * n, "p": [p for p, _ in readings], "k": ["avg"] * n,
        "d": ["hour"] * n, "t": [time_us] * n, "v": [v for _, v in readings], "f": ["N"] * n,
        "m": ["MNOLD"] * n,
    }  # fmt: skip
    return json.dumps(obj, separators=(",", ":")).encode()


def _segment(payloads: list[bytes]) -> bytes:
    return b"".join(struct.pack("<II", len(p), zlib.crc32(p)) + p for p in payloads)


def _old_journal(folder: Path) -> None:
    folder.mkdir()
    hour2 = HOUR_US + 3_600_000_000
    payloads = [
        _v2(
            [("1001A", HOUR_US, [("PM2.5", "35"), ("NO2", "40")]), ("1001A", hour2, [("SO2", "7")])]
        ),
        _v1("1001A", HOUR_US, [("PM10", 60.0), ("CO", 0.8)]),
        _v2([("1001A", hour2, [("O3", "90")])]),
    ]  # 3 + 2 + 1 readings
    (folder / "seg-00000000000000000001.log").write_bytes(_segment(payloads))


def _metrics_after_replay(tmp_path: Path, *, ahead: bool = False) -> tuple[GatewayMetrics, Any]:
    store = open_store(tmp_path / "s.duckdb")
    store.upsert_sites([Site("1001A", "Wanshouxigong", "air")])
    store.upsert_parameters(AIR_PARAMETERS)
    metrics = GatewayMetrics()

    async def run() -> None:
        journal = Journal(tmp_path / "j")
        committer = GroupCommitter(journal)
        committer.start()
        writer = JournalWriter(journal, committer, store, metrics)
        try:
            if ahead:  # the store down: the writer decodes ahead, then applies
                writer.count_ahead(deadline=float("inf"))
            await writer.replay()
        finally:
            await committer.close()
            journal.close()

    asyncio.run(run())
    return metrics, store


def test_old_records_are_counted_as_journaled(tmp_path: Path) -> None:
    _old_journal(tmp_path / "j")
    metrics, store = _metrics_after_replay(tmp_path)
    try:
        assert len(store.observations("1001A")) == 6  # the records do replay
        assert metrics.value("shanshui_gateway_observations_journaled_total") == 6
        assert metrics.value("shanshui_gateway_observations_stored_total") == 6
    finally:
        store.close()


def test_old_records_counted_ahead_are_not_counted_again(tmp_path: Path) -> None:
    # count_ahead (while the store is down) then the replay read the same records: once
    _old_journal(tmp_path / "j")
    metrics, store = _metrics_after_replay(tmp_path, ahead=True)
    try:
        assert metrics.value("shanshui_gateway_observations_journaled_total") == 6
    finally:
        store.close()
