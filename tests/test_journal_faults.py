"""The gateway's journal under damage and storage faults (review 16b, findings 1 to 5).

Reference behaviour: DESIGN §5 (an acknowledged frame is never lost; the server keeps
serving everyone else) and §4 (a replay is idempotent), and the remedies written in
``notes/review16b.md``. Storage faults are made by monkeypatching ``os.write`` and
``os.fsync`` of :mod:`shanshui.ingest.journal`, never by filling a real disk.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import logging
import os
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fakes import Directory
from shanshui.hj212 import Message, encode
from shanshui.ingest import journal as journal_module
from shanshui.ingest.gateway import Gateway
from shanshui.ingest.journal import (
    GroupCommitter,
    Journal,
    JournalError,
    JournalFailed,
    JournalFull,
    Position,
)
from shanshui.ingest.metrics import GatewayMetrics
from shanshui.ingest.serve import ServeConfig, serve
from shanshui.ingest.writer import JournalWriter
from shanshui.store import open_store

SEG1 = "seg-00000000000000000001.log"
SEG2 = "seg-00000000000000000002.log"
SEG3 = "seg-00000000000000000003.log"


REC = 38  # bytes of one record of records(): an 8-byte header and 30 bytes of payload
SEG5 = "seg-00000000000000000005.log"


def records(n: int) -> list[bytes]:
    return [f"record-{i:03d}".encode() * 3 for i in range(n)]  # 30 bytes each


def three_segments(folder: Path) -> list[bytes]:
    """30 records over segments of at most 240 bytes: 6 records (228 bytes) in each of
    segments 1 to 5."""
    with Journal(folder, segment_bytes=240) as journal:
        for payload in records(30):
            journal.append(payload)
    return records(30)


def dead_letters(folder: Path) -> list[dict[str, Any]]:
    path = folder / "deadletter.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


# -- finding 1: damage in a segment that is not the last --------------------------------------


def test_a_bad_record_in_an_earlier_segment_is_dead_lettered_and_the_rest_read(
    tmp_path: Path,
) -> None:
    sent = three_segments(tmp_path)
    flip(tmp_path / SEG1, REC * 2 + 8)  # the third record's payload: its CRC fails
    with Journal(tmp_path) as journal:
        got = [p for p, _ in journal.pending()]
        assert journal.damaged_bytes == REC
    assert got == sent[:2] + sent[3:]  # every intact record, before and after the damage
    (line,) = dead_letters(tmp_path)
    assert line["journal"] == {"segment": 1, "offset": REC * 2, "length": REC}
    assert base64.b64decode(line["payload_b64"])[8:] == bytes([sent[2][0] ^ 0xFF]) + sent[2][1:]


def test_an_earlier_segment_that_lost_its_tail_keeps_the_rest_and_the_fragment(
    tmp_path: Path,
) -> None:
    # review 16b, f4 truncate_first: bytes cut off segment 1; segments 2 and 3 still read
    sent = three_segments(tmp_path)
    size = (tmp_path / SEG1).stat().st_size
    os.truncate(tmp_path / SEG1, size - 20)
    with Journal(tmp_path) as journal:
        got = [p for p, _ in journal.pending()]
    assert got == sent[:5] + sent[6:]
    (line,) = dead_letters(tmp_path)
    assert line["journal"] == {"segment": 1, "offset": REC * 5, "length": REC - 20}
    assert "fsync-ed whole" in line["reason"]


def test_the_running_writer_reads_past_damage_in_an_earlier_segment(tmp_path: Path) -> None:
    # the writer reads up to the durable point (read_from's ``until``), segment after segment
    journal = Journal(tmp_path, segment_bytes=240)
    sent = records(30)
    for payload in sent:
        journal.append(payload)
    journal.sync()
    flip(tmp_path / SEG2, 8)  # the first record of segment 2
    got = [p for p, _ in journal.read_from(Position(1, 0), journal.end())]
    journal.close()
    assert got == sent[:6] + sent[7:]


def test_a_journal_error_in_the_writer_is_not_a_store_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> GatewayMetrics:
        journal = Journal(tmp_path)
        committer = GroupCommitter(journal)
        metrics = GatewayMetrics()
        writer = JournalWriter(journal, committer, object(), metrics)  # type: ignore[arg-type]
        calls = 0

        def step() -> tuple[int, int]:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise JournalError("no space for the journal checkpoint")
            writer.stop()
            return 0, 0

        writer.step = step  # type: ignore[method-assign]
        writer._aggregate = lambda force=False: None  # type: ignore[method-assign]
        await asyncio.wait_for(writer.run(), 10)
        journal.close()
        return metrics

    metrics = asyncio.run(main())
    assert metrics.value("shanshui_gateway_store_errors_total") == 0
    events = [r.getMessage() for r in caplog.records]
    assert "journal step failed; retrying" in events
    assert "store write failed; retrying" not in events


# -- finding 2: a checkpoint checked against the disk -----------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("3 999999\n", "past the segment's valid end"),  # review 16b f3 past_end
        ("8 0\n", "not on disk"),  # f3 missing_segment
        ("\0\0garbage", "does not read"),  # f3 garbage
        ("1 50\n", "between records"),  # inside the second record (38..76)
    ],
)
def test_an_untrustworthy_checkpoint_replays_from_the_oldest_segment(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, problem: str
) -> None:
    sent = three_segments(tmp_path)
    (tmp_path / "checkpoint").write_text(text)
    with caplog.at_level(logging.ERROR, logger="shanshui.ingest"), Journal(tmp_path) as journal:
        assert journal.checkpoint() == Position(1, 0)
        assert [p for p, _ in journal.pending()] == sent
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and problem in errors[0].__dict__["problem"]


def test_a_checkpoint_past_a_truncated_last_segment_replays_it(tmp_path: Path) -> None:
    # f3 truncated_seg: the checkpoint was the last segment's end, the segment lost bytes
    sent = three_segments(tmp_path)
    with Journal(tmp_path, segment_bytes=240) as journal:
        journal.set_checkpoint(journal.end())
        assert journal.segments() == [5]
    os.truncate(tmp_path / SEG5, REC * 3)
    with Journal(tmp_path) as journal:
        assert journal.checkpoint() == Position(5, 0)
        assert [p for p, _ in journal.pending()] == sent[24:27]


def test_a_good_checkpoint_is_kept(tmp_path: Path) -> None:
    sent = three_segments(tmp_path)
    (tmp_path / "checkpoint").write_text(f"2 {REC * 2}\n")
    with Journal(tmp_path) as journal:
        assert journal.checkpoint() == Position(2, REC * 2)
        assert [p for p, _ in journal.pending()] == sent[8:]


def test_no_segment_is_deleted_for_a_checkpoint_past_the_end(tmp_path: Path) -> None:
    three_segments(tmp_path)
    with Journal(tmp_path) as journal:
        with pytest.raises(JournalError, match="past the journal's end"):
            journal.set_checkpoint(Position(9, 0))
        assert journal.segments() == [1, 2, 3, 4, 5]


# -- finding 4 (brief 3): what the open cuts, and missing segments ----------------------------


def test_a_damaged_last_record_is_dead_lettered_before_the_cut(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sent = three_segments(tmp_path)
    last = tmp_path / SEG5
    before = last.read_bytes()
    flip(last, len(before) - 1)  # the last record's last payload byte (f4 flip_last_record)
    with caplog.at_level(logging.WARNING, logger="shanshui.ingest"), Journal(tmp_path) as journal:
        assert [p for p, _ in journal.pending()] == sent[:-1]
        assert journal.damaged_bytes == REC
    assert last.stat().st_size == len(before) - REC
    (line,) = dead_letters(tmp_path)
    assert line["reason"] == "cut at open: torn tail or damaged last record"
    assert line["journal"] == {"segment": 5, "offset": len(before) - REC, "length": REC}
    cut = base64.b64decode(line["payload_b64"])
    assert cut[:-1] == before[-REC:-1] and cut[-1] == before[-1] ^ 0xFF
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "journal tail cut at open and dead-lettered"
    ]


def test_a_missing_segment_is_an_error_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sent = three_segments(tmp_path)
    (tmp_path / SEG2).unlink()
    (tmp_path / SEG3).unlink()
    with caplog.at_level(logging.ERROR, logger="shanshui.ingest"), Journal(tmp_path) as journal:
        assert journal.missing_segments == [2, 3]
        assert [p for p, _ in journal.pending()] == sent[:6] + sent[18:]
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.__dict__["missing_segments"] == [2, 3]


# -- finding 3 (brief 4): a full disk, and failed fsyncs --------------------------------------


def _fail_writes(monkeypatch: pytest.MonkeyPatch, code: int, half: bool = False) -> list[bool]:
    """Make the journal's ``os.write`` fail with ``code`` while ``switch[0]``; with ``half``,
    its first call writes half of what it was given (a short write, as a filling disk does)."""
    switch = [True]
    real = os.write
    short: list[int] = []

    def write(fd: int, data: Any) -> int:
        if not switch[0]:
            return real(fd, data)
        if half and not short:
            short.append(len(data))
            return real(fd, bytes(data[: len(data) // 2]))
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(journal_module.os, "write", write)
    return switch


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
@pytest.mark.parametrize("half", [False, True])
def test_a_full_disk_refuses_the_group_then_acknowledges_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, half: bool
) -> None:
    journal = Journal(tmp_path)
    segment = tmp_path / SEG1

    async def main() -> list[object]:
        committer = GroupCommitter(journal)
        committer.start()
        await committer.commit([b"before"])
        durable = segment.stat().st_size
        switch = _fail_writes(monkeypatch, code, half)
        full = await asyncio.gather(
            committer.commit([b"a" * 100]), committer.commit([b"b" * 100]), return_exceptions=True
        )
        assert segment.stat().st_size == durable  # cut back to the durable end
        assert committer.full and committer.failed is None
        switch[0] = False  # space is back: no restart needed
        await committer.commit([b"after"])
        assert not committer.full and committer.durable == journal.end()
        await committer.close()
        return full

    outcome = asyncio.run(main())
    assert all(isinstance(o, JournalFull) for o in outcome), outcome
    journal.close()
    with Journal(tmp_path) as again:
        assert [p for p, _ in again.pending()] == [b"before", b"after"]


def test_records_appended_before_a_cut_are_never_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Commit a's record waits in the buffer; commit b's append rotates, and the rotation's
    # write of that buffer is refused: a's record is dropped with it, so a is refused too,
    # although a's own sync (with nothing left to write) goes through.
    journal = Journal(tmp_path, segment_bytes=300)

    async def main() -> list[object]:
        committer = GroupCommitter(journal)
        committer.start()
        await committer.commit([b"x" * 100])
        switch = _fail_writes(monkeypatch, errno.ENOSPC)
        generation = journal.generation
        outcome = await asyncio.gather(
            committer.commit([b"a" * 150]), committer.commit([b"b" * 150]), return_exceptions=True
        )
        assert journal.generation == generation + 1
        switch[0] = False
        await committer.commit([b"c" * 150])
        await committer.close()
        return outcome

    outcome = asyncio.run(main())
    assert all(isinstance(o, JournalFull) for o in outcome), outcome
    journal.close()
    with Journal(tmp_path) as again:
        assert [p for p, _ in again.pending()] == [b"x" * 100, b"c" * 150]


def _fail_fsync_once(monkeypatch: pytest.MonkeyPatch, which: Callable[[int], bool]) -> list[int]:
    real = os.fsync
    failed: list[int] = []

    def fsync(fd: int) -> None:
        if not failed and which(fd):
            failed.append(fd)
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    monkeypatch.setattr(journal_module.os, "fsync", fsync)
    return failed


def _is_directory(fd: int) -> bool:
    return os.path.isdir(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else False


@pytest.mark.parametrize("where", ["rotation", "directory", "sync"])
def test_any_failed_fsync_fails_the_journal_for_good(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    # f7: commit a (in segment 1) and commit b (whose append rotates) in one loop turn; the
    # rotation's fsync of segment 1, or the directory's, or sync's fails (EIO): fsyncgate
    if where == "directory" and not os.path.exists("/proc/self/fd"):
        pytest.skip("no /proc/self/fd to tell the directory's descriptor apart")
    journal = Journal(tmp_path, segment_bytes=300)

    async def main() -> tuple[list[object], object, GroupCommitter]:
        committer = GroupCommitter(journal)
        committer.start()
        await committer.commit([b"x" * 100])
        which = {
            "rotation": lambda fd: not _is_directory(fd),
            "directory": _is_directory,
            "sync": lambda fd: True,
        }[where]
        _fail_fsync_once(monkeypatch, which)
        pair = [committer.commit([b"a" * 150])]
        if where != "sync":
            pair.append(committer.commit([b"b" * 150]))  # rotates
        first = await asyncio.gather(*pair, return_exceptions=True)
        later = (await asyncio.gather(committer.commit([b"c"]), return_exceptions=True))[0]
        await committer.close()
        return first, later, committer

    first, later, committer = asyncio.run(main())
    assert all(isinstance(o, JournalFailed) for o in first), first
    assert isinstance(later, JournalFailed)
    assert committer.failed is not None and committer.broken.is_set()
    assert journal.failed is not None
    journal.close()  # no sync of a failed journal; the folder is given back
    Journal(tmp_path).close()


# -- finding 5 (brief 5): connections, serve and /metrics -------------------------------------


class _Registry(Directory):
    dropped_notes = 0


class _FailingCommitter:
    async def commit(self, payloads: list[bytes]) -> None:
        raise JournalError("journal sync failed, journal closed: [Errno 28] No space left")


def _frame(mn: str = "88888880000001") -> bytes:
    msg = Message.build(
        st="22", cn="2061", qn="20160801085857223", pw="123456", mn=mn, flag=5,
        data_time="20160801080000", items={"a34004": {"Avg": "35.5", "Flag": "N"}},
    )  # fmt: skip
    return encode(msg)


def test_a_connection_the_journal_refuses_closes_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> GatewayMetrics:
        metrics = GatewayMetrics()
        gateway = Gateway(_Registry(), _FailingCommitter(), metrics)  # type: ignore[arg-type]
        port = await gateway.start("127.0.0.1", 0)
        for _ in range(2):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_frame())
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, no 9014
            writer.close()
        await gateway.close()
        return metrics

    with caplog.at_level(logging.INFO, logger="shanshui.ingest"):
        metrics = asyncio.run(main())
    assert metrics.value("shanshui_gateway_connections_closed_total", reason="journal") == 2
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "connection closed: the journal cannot take its frames"
    ] * 2
    assert all(r.exc_info is None for r in warnings)


def test_serve_stops_with_the_failure_and_metrics_show_the_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "journal"
    three_segments(folder)
    (folder / "checkpoint").write_text(f"5 {REC * 6}\n")  # all applied: nothing to replay
    (folder / SEG2).unlink()
    with open(folder / SEG5, "ab") as handle:
        handle.write(b"\x40\x00\x00\x00torn")  # a torn tail, 8 bytes
    db = tmp_path / "store.duckdb"
    open_store(db).close()
    made: dict[str, Any] = {}

    class Committer(GroupCommitter):
        def __init__(self, journal: Journal) -> None:
            super().__init__(journal)
            made["committer"] = self

    class Metrics(GatewayMetrics):
        def __init__(self) -> None:
            super().__init__()
            made["metrics"] = self

    monkeypatch.setattr("shanshui.ingest.serve.GroupCommitter", Committer)
    monkeypatch.setattr("shanshui.ingest.serve.GatewayMetrics", Metrics)
    config = ServeConfig(
        target=str(db), journal=folder, host="127.0.0.1", port=0, http_port=0, rules_every=0
    )

    async def main() -> str:
        ready: asyncio.Future[dict[str, int]] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve(config, stop=asyncio.Event(), ready=ready.set_result))
        info = await asyncio.wait_for(ready, 30)
        url = f"http://127.0.0.1:{info['http_port']}/metrics"
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(url).read().decode())
        _fail_fsync_once(monkeypatch, lambda fd: True)
        with pytest.raises(JournalFailed):
            await made["committer"].commit([b"never acknowledged"])
        with pytest.raises(JournalFailed):  # serve stops by itself and raises the failure
            await asyncio.wait_for(task, 30)
        return text

    with caplog.at_level(logging.INFO, logger="shanshui.ingest"):
        text = asyncio.run(main())
    assert "shanshui_gateway_journal_missing_segments 1.0" in text
    assert "shanshui_gateway_journal_damaged_bytes 8.0" in text
    assert "shanshui_gateway_journal_failed 0.0" in text
    assert made["metrics"].value("shanshui_gateway_journal_failed") == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        "journal segments missing: their acknowledged records are lost",
        "journal failed: nothing more is acknowledged; the gateway stops (exit 1) for its "
        "supervisor to restart it, and the restart recovers what is on disk",
    ]
    Journal(folder).close()  # the folder was given back


def test_a_tail_that_cannot_be_dead_lettered_for_lack_of_space_stays_and_the_journal_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full disk and a torn tail at open: the tail is left in its segment and new records go
    # to the next one, so serve starts (it failed at every restart while the disk stayed
    # full: review 18, finding 2); once space is back, reading dead-letters the tail and
    # every record, old and new, is read.
    sent = three_segments(tmp_path)
    last = tmp_path / SEG5
    with last.open("ab") as handle:
        handle.write(b"\x40\x00\x00\x00torn")  # a torn tail, 8 bytes

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_module, "append_dead_letters", no_space)
    with Journal(tmp_path, segment_bytes=240) as journal:
        journal.append(b"after the full disk")
        journal.sync()
    assert last.read_bytes().endswith(b"torn")  # kept, not cut
    monkeypatch.undo()
    with Journal(tmp_path, segment_bytes=240) as journal:
        assert [p for p, _ in journal.pending()] == [*sent, b"after the full disk"]
    (line,) = dead_letters(tmp_path)
    assert line["journal"]["segment"] == 5 and line["journal"]["length"] == 8


def test_damage_is_dead_lettered_once_whatever_the_restarts(tmp_path: Path) -> None:
    # The checkpoint has not passed the damage yet (the store down, the gateway restarted):
    # every start reads it again, and dead-lettered it again (review 18, finding 4). It is
    # dead-lettered once; the records around it are read at every start.
    sent = three_segments(tmp_path)
    flip(tmp_path / SEG1, REC * 2 + 8)
    for _ in range(3):
        with Journal(tmp_path) as journal:
            assert [p for p, _ in journal.pending()] == sent[:2] + sent[3:]
    assert len(dead_letters(tmp_path)) == 1
    # once the segment is gone, so is its note
    with Journal(tmp_path) as journal:
        journal.set_checkpoint(Position(2, 0))
    with Journal(tmp_path):
        pass
    assert (tmp_path / journal_module.DAMAGE_NOTED).read_text() == ""


def test_damage_at_the_offset_of_a_tail_cut_earlier_is_dead_lettered(tmp_path: Path) -> None:
    # A torn tail cut at open leaves its offset to the next records: later damage of an
    # acknowledged record there is dead-lettered, not taken for the cut tail (review 19 #2).
    with Journal(tmp_path) as journal:
        for payload in records(3):
            journal.append(payload)
        journal.sync()
        cut_at = journal.end().offset
    with (tmp_path / SEG1).open("ab") as handle:
        handle.write(b"\x40\x00\x00\x00torn")
    with Journal(tmp_path) as journal:  # cuts the tail (dead-lettered once)
        for payload in (b"new record one", b"new record two"):
            journal.append(payload)
        journal.sync()
    flip(tmp_path / SEG1, cut_at + 8)  # the first new record's payload
    with Journal(tmp_path) as journal:
        got = [p for p, _ in journal.pending()]
    assert got == [*records(3), b"new record two"]
    assert [(d["journal"]["offset"], d["journal"]["length"]) for d in dead_letters(tmp_path)] == [
        (cut_at, 8),
        (cut_at, 8 + len(b"new record one")),
    ]
