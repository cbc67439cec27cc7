"""Dead letters are kept, rotated by size, never split, never overwritten, never deleted.

The frames in ``deadletter.jsonl`` were acknowledged (DESIGN §5: an acknowledged frame is
never lost), so the platform may not delete them; the file is rotated by size instead
(:func:`shanshui.ingest.journal.append_dead_letters`, used by the journal and its writer), and
``/metrics`` shows the files, lines and bytes kept.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from shanshui.ingest import journal as jr
from shanshui.ingest.journal import (
    DeadLetterTally,
    GroupCommitter,
    Journal,
    append_dead_letters,
)
from shanshui.ingest.metrics import GatewayMetrics
from shanshui.ingest.writer import JournalWriter

ROTATED = re.compile(r"^deadletter-(?P<stamp>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?\.jsonl$")


def _files(folder: Path) -> list[Path]:
    """Dead-letter files, oldest first: the rotated ones by time and number, then the
    current one."""

    def order(path: Path) -> tuple[str, int]:
        found = ROTATED.match(path.name)
        assert found, path.name
        return found["stamp"], int(found["n"] or 0)

    rotated = sorted(folder.glob("deadletter-*.jsonl"), key=order)
    current = folder / "deadletter.jsonl"
    return rotated + ([current] if current.exists() else [])


def _lines(folder: Path) -> list[dict[str, object]]:
    out = []
    for path in _files(folder):
        text = path.read_text(encoding="utf-8")
        assert text.endswith("\n"), path  # a file ends with a whole line
        out += [json.loads(line) for line in text.splitlines()]  # every line whole JSON
    return out


def test_rotates_by_size_keeping_every_line_whole_and_in_order(tmp_path: Path) -> None:
    limit = 1000
    sent = [{"reason": f"bad frame {i}", "payload_b64": "QUJD" * (i % 7 + 1)} for i in range(120)]
    for i in range(0, len(sent), 3):  # batches of three, as the writer appends them
        append_dead_letters(tmp_path, sent[i : i + 3], max_bytes=limit)
    files = _files(tmp_path)
    assert len(files) > 3
    for path in files[:-1]:
        assert ROTATED.match(path.name), path.name
        assert 0 < path.stat().st_size <= limit
    assert files[-1].name == "deadletter.jsonl"
    assert _lines(tmp_path) == sent  # nothing lost, nothing repeated, nothing split


def test_a_full_file_is_never_overwritten_within_one_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # three rotations at the same UTC second (2026-11-26T12:00:00Z) get three names
    monkeypatch.setattr(jr.time, "time", lambda: 1_795_694_400.0)
    for i in range(4):
        append_dead_letters(tmp_path, [{"n": i, "pad": "x" * 80}], max_bytes=100)
    names = sorted(p.name for p in tmp_path.glob("deadletter-*.jsonl"))
    assert names == [
        "deadletter-20261126T120000Z-1.jsonl",
        "deadletter-20261126T120000Z-2.jsonl",
        "deadletter-20261126T120000Z.jsonl",
    ]
    kept = [json.loads(p.read_text())["n"] for p in tmp_path.glob("deadletter*.jsonl")]
    assert sorted(kept) == [0, 1, 2, 3]


def test_a_line_longer_than_the_limit_fills_a_file_alone(tmp_path: Path) -> None:
    append_dead_letters(tmp_path, [{"n": 0}], max_bytes=50)
    append_dead_letters(tmp_path, [{"n": 1, "big": "y" * 200}], max_bytes=50)
    append_dead_letters(tmp_path, [{"n": 2}], max_bytes=50)
    files = _files(tmp_path)
    assert [len(p.read_text().splitlines()) for p in files] == [1, 1, 1]
    assert [d["n"] for d in _lines(tmp_path)] == [0, 1, 2]


def test_the_journal_dead_letters_through_the_rotating_helper(tmp_path: Path) -> None:
    # Journal._dead_letter (bad bytes followed by intact records, see test_journal) rotates
    # too: two journal objects each dead-letter the same bad bytes once (two lines of about
    # 150 bytes), over a 100-byte limit: two files, the first renamed with its time.
    journal = Journal(tmp_path)
    for payload in (b"first", b"second", b"third"):
        journal.append(payload)
    journal.close()
    segment = next(tmp_path.glob("seg-*.log"))
    data = bytearray(segment.read_bytes())
    data[8 + len(b"first") + 8] ^= 0xFF
    segment.write_bytes(bytes(data))
    for _ in range(2):
        with Journal(tmp_path) as again:
            again.deadletter_bytes = 100
            assert [p for p, _ in again.pending()] == [b"first", b"third"]
    files = _files(tmp_path)
    assert len(files) == 2 and ROTATED.match(files[0].name)
    assert [d["reason"] for d in _lines(tmp_path)] == [
        "corrupt journal bytes followed by intact records"
    ] * 2


def test_the_writer_dead_letters_rotate_and_show_on_metrics(tmp_path: Path) -> None:
    async def run() -> GatewayMetrics:
        journal = Journal(tmp_path)
        journal.deadletter_bytes = 300
        committer = GroupCommitter(journal)
        committer.start()
        metrics = GatewayMetrics()
        writer = JournalWriter(journal, committer, object(), metrics)  # type: ignore[arg-type]
        try:
            for i in range(10):
                writer._dead_letters([{"reason": f"refused {i}", "pad": "z" * 60}], "record")
        finally:
            await committer.close()
            journal.close()
        return metrics

    metrics = asyncio.run(run())
    files = _files(tmp_path)
    assert len(files) >= 3
    assert [d["reason"] for d in _lines(tmp_path)] == [f"refused {i}" for i in range(10)]
    # /metrics: the lines and bytes kept, all files (counted here from the files themselves)
    on_disk = sum(p.stat().st_size for p in files)
    assert metrics.value("shanshui_gateway_dead_letter_lines") == 10
    assert metrics.value("shanshui_gateway_dead_letter_bytes") == on_disk
    assert metrics.value("shanshui_gateway_dead_letter_files") == len(files)
    assert metrics.value("shanshui_gateway_dead_letters_total", kind="record") == 10
    assert b"shanshui_gateway_dead_letter_bytes " in metrics.render()


def test_the_tally_follows_appends_and_rotations(tmp_path: Path) -> None:
    tally = DeadLetterTally(tmp_path)
    assert tally.usage() == (0, 0, 0)
    total = 0
    for i in range(30):
        total += append_dead_letters(tmp_path, [{"n": i}, {"n": -i}], max_bytes=120)
        files, lines, size = tally.usage()
        assert (lines, size) == (2 * (i + 1), total)
        assert files == len(list(tmp_path.glob("deadletter*.jsonl")))
    # a half-written line (a crash mid-append elsewhere) is not a line until it ends
    with open(tmp_path / "deadletter.jsonl", "ab") as handle:
        handle.write(b'{"n": "par')
    assert tally.usage()[1] == 60
    with open(tmp_path / "deadletter.jsonl", "ab") as handle:
        handle.write(b'tial"}\n')
    assert tally.usage()[1] == 61
