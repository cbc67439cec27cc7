"""The gateway journal keeps every synced record across crashes (DESIGN §5)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shanshui.ingest.journal import GroupCommitter, Journal, JournalError, Position


def pending(directory: Path) -> list[bytes]:
    with Journal(directory) as journal:
        return [payload for payload, _ in journal.pending()]


def payloads(n: int) -> list[bytes]:
    return [f"record-{i}".encode() * (1 + i % 7) for i in range(n)]


def test_records_survive_reopen(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for payload in payloads(100):
        journal.append(payload)
    journal.sync()
    journal.close()
    assert pending(tmp_path) == payloads(100)


def test_torn_tail_is_cut_and_appends_continue(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for payload in payloads(10):
        journal.append(payload)
    journal.close()
    segment = next(tmp_path.glob("seg-*.log"))
    intact = segment.stat().st_size
    with open(segment, "ab") as handle:  # a crash in the middle of writing a record
        handle.write(b"\x40\x00\x00\x00\x01\x02\x03\x04half a rec")
    with Journal(tmp_path) as journal:
        assert segment.stat().st_size == intact
        journal.append(b"after the crash")
    assert pending(tmp_path) == [*payloads(10), b"after the crash"]


def test_corrupted_record_stops_reading(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append(b"first")
    journal.append(b"second")
    journal.close()
    segment = next(tmp_path.glob("seg-*.log"))
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF  # flip a bit of the last payload: its CRC no longer matches
    segment.write_bytes(bytes(data))
    assert pending(tmp_path) == [b"first"]


def test_checkpoint_skips_applied_and_drops_old_segments(tmp_path: Path) -> None:
    journal = Journal(tmp_path, segment_bytes=200)
    positions = [journal.append(p) for p in payloads(50)]
    journal.sync()
    assert len(journal.segments()) > 3
    end_of_20 = list(journal.read_from(Position(journal.segments()[0], 0)))[19][1]
    journal.set_checkpoint(end_of_20)
    assert [p for p, _ in journal.pending()] == payloads(50)[20:]
    assert min(journal.segments()) == end_of_20.segment
    assert positions[0] < positions[-1]
    journal.close()


def test_oversize_record_is_refused(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    with pytest.raises(JournalError):
        journal.append(b"x" * (16 * 1024 * 1024 + 1))
    assert list(journal.pending()) == []
    journal.close()


def test_group_commit_batches_concurrent_writers(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    syncs = 0
    real_sync = journal.sync

    def counting_sync() -> None:
        nonlocal syncs
        syncs += 1
        real_sync()

    journal.sync = counting_sync  # type: ignore[method-assign]

    async def main() -> None:
        committer = GroupCommitter(journal)
        committer.start()
        await asyncio.gather(*(committer.commit([p]) for p in payloads(500)))
        await committer.close()

    asyncio.run(main())
    journal.close()
    assert sorted(pending(tmp_path)) == sorted(payloads(500))
    assert 1 <= syncs < 500  # many writers share one fsync


def test_synced_records_survive_kill_9(tmp_path: Path) -> None:
    """A child acknowledges records after sync and is killed -9: every ack'd record is there."""
    script = textwrap.dedent(
        f"""
        import sys
        from shanshui.ingest.journal import Journal
        j = Journal({str(tmp_path)!r}, segment_bytes=4096)
        i = 0
        while True:
            j.append(b"r%d" % i)
            if i % 10 == 9:
                j.sync()
                print(i, flush=True)  # acknowledged up to i
            i += 1
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, env={**os.environ}
    )
    assert child.stdout is not None
    acked = -1
    for _ in range(200):
        acked = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    stored = pending(tmp_path)
    assert len(stored) >= acked + 1
    assert stored[: acked + 1] == [b"r%d" % i for i in range(acked + 1)]


def test_zeros_after_the_last_record_are_not_records(tmp_path: Path) -> None:
    # A crash after the file was extended can leave zeros: crc32(b"") == 0, so a zero header
    # must not read as an empty record.
    with Journal(tmp_path) as journal:
        journal.append(b"one")
        with pytest.raises(JournalError):
            journal.append(b"")
    segment = next(tmp_path.glob("seg-*.log"))
    with open(segment, "ab") as handle:
        handle.write(bytes(64))
    assert pending(tmp_path) == [b"one"]


def test_corruption_before_the_last_segment_is_dead_lettered_and_reading_goes_on(
    tmp_path: Path,
) -> None:
    # Review 16b, finding 1: a segment that is not the last was fsync-ed whole at rotation;
    # its bad record is damage, dead-lettered, and every other record is still read.
    with Journal(tmp_path, segment_bytes=64) as journal:
        for payload in payloads(20):
            journal.append(payload)
    first = tmp_path / "seg-00000000000000000001.log"
    data = bytearray(first.read_bytes())
    data[9] ^= 0xFF  # the first record's payload: its CRC no longer matches
    first.write_bytes(bytes(data))
    with Journal(tmp_path) as journal:
        assert [p for p, _ in journal.pending()] == payloads(20)[1:]
    assert '"segment": 1, "offset": 0' in (tmp_path / "deadletter.jsonl").read_text()


def test_a_failed_fsync_stops_all_acknowledgements(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    calls = 0

    def failing_once() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError(5, "Input/output error")

    journal.sync = failing_once  # type: ignore[method-assign]

    async def main() -> list[bool]:
        committer = GroupCommitter(journal)
        committer.start()
        outcomes = []
        for payload in (b"first", b"second"):
            try:
                await committer.commit([payload])
                outcomes.append(True)
            except JournalError:
                outcomes.append(False)
        await committer.close()
        return outcomes

    # the second commit is refused although a second fsync would "succeed" (fsyncgate)
    assert asyncio.run(main()) == [False, False]
    assert calls == 1
    journal.close()


def test_sync_fsyncs_the_segment_it_flushed_even_if_rotation_closes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sync() fsyncs outside its lock; a rotation in that moment closes the segment's file.
    # The fsync must still reach that segment (not EBADF, and not whichever file reused
    # the descriptor's number).
    journal = Journal(tmp_path, segment_bytes=4096)
    journal.append(b"x" * 1000)
    first = os.stat(tmp_path / "seg-00000000000000000001.log").st_ino
    real_fsync = os.fsync
    synced: list[int] = []

    def fsync(fd: int) -> None:
        if not synced:
            synced.append(-1)
            journal.append(b"y" * 3500)  # rotates: segment 1 is closed, segment 2 opened
            assert journal.end().segment == 2
            synced[0] = os.fstat(fd).st_ino
        real_fsync(fd)

    monkeypatch.setattr("shanshui.ingest.journal.os.fsync", fsync)
    journal.sync()
    journal.close()
    assert synced[0] == first


def test_a_new_journal_fsyncs_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first segment's name is made durable before anything is acknowledged in it.
    calls: list[str] = []
    monkeypatch.setattr(Journal, "_fsync_directory", lambda self: calls.append("dir"))
    Journal(tmp_path / "j").close()
    assert calls == ["dir"]
    Journal(tmp_path / "j").close()  # reopening an existing segment: nothing new to name
    assert calls == ["dir"]


def test_bad_bytes_followed_by_intact_records_are_dead_lettered_not_cut(tmp_path: Path) -> None:
    # A damaged record in the middle of the last segment is not a torn tail: the records
    # after it were synced and acknowledged (DESIGN §5), so they are read, kept on reopen,
    # and the bad record's bytes go to deadletter.jsonl, once.
    import base64
    import json

    journal = Journal(tmp_path)
    for payload in (b"first", b"second", b"third"):
        journal.append(payload)
    journal.close()
    segment = next(tmp_path.glob("seg-*.log"))
    data = bytearray(segment.read_bytes())
    second = 8 + len(b"first")
    data[second + 8] ^= 0xFF  # the second payload's first byte: its CRC no longer matches
    segment.write_bytes(bytes(data))
    with Journal(tmp_path) as journal:
        assert segment.stat().st_size == len(data)  # nothing cut
        assert [p for p, _ in journal.pending()] == [b"first", b"third"]
        assert [p for p, _ in journal.pending()] == [b"first", b"third"]
        journal.append(b"fourth")
    assert pending(tmp_path) == [b"first", b"third", b"fourth"]
    lines = (tmp_path / "deadletter.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert first["journal"] == {"segment": 1, "offset": second, "length": 8 + len(b"second")}
    assert base64.b64decode(first["payload_b64"])[8:] == bytes([b"s"[0] ^ 0xFF]) + b"econd"
    assert len(lines) == 1  # once, whatever the opens (damage-noted: review 18, finding 4)


def test_reading_up_to_the_durable_point_does_not_judge_what_follows(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append(b"synced")
    journal.sync()
    durable = journal.end()
    journal.close()
    segment = next(tmp_path.glob("seg-*.log"))
    with open(segment, "ab") as handle:  # an append in progress, past the durable point
        handle.write(b"\x40\x00\x00\x00\x01\x02")
    reader = Journal.__new__(Journal)  # read without opening for append (no truncation)
    reader.directory = tmp_path
    reader._dead = set()
    assert [p for p, _ in reader.read_from(Position(1, 0), durable)] == [b"synced"]
    assert not (tmp_path / "deadletter.jsonl").exists()
