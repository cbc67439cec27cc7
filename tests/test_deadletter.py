"""Dead letters are kept, rotated by size, never split, never overwritten, never deleted.

The frames in ``deadletter.jsonl`` were acknowledged (DESIGN §5: an acknowledged frame is
never lost), so the platform may not delete them; the file is rotated by size instead
(:func:`shanshui.ingest.deadletters.append_dead_letters`, used by the journal and its writer),
and ``/metrics`` shows the files, lines and bytes kept. The defects of review 13b
(``/work/notes/review13b.md``: findings 1, 3, 4 and 5) each have a test here.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shanshui.ingest import deadletters as dl
from shanshui.ingest.journal import (
    DeadLetterTally,
    GroupCommitter,
    Journal,
    append_dead_letters,
)
from shanshui.ingest.metrics import GatewayMetrics
from shanshui.ingest.writer import JournalWriter

ROTATED = re.compile(r"^deadletter-(?P<stamp>\d{8}T\d{6}Z)-(?P<n>\d{3})\.jsonl$")
NOON = 1_795_694_400.0  # 2026-11-26T12:00:00Z


def _files(folder: Path) -> list[Path]:
    """Dead-letter files, oldest first, as ``ls`` lists them: the names sort in time order
    (review 13b, finding 5), the current ``deadletter.jsonl`` last."""
    files = sorted(folder.glob("deadletter*.jsonl"))
    for path in files[:-1]:
        assert ROTATED.match(path.name), path.name
    return files


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
        assert 0 < path.stat().st_size <= limit
    assert files[-1].name == "deadletter.jsonl"
    assert _lines(tmp_path) == sent  # nothing lost, nothing repeated, nothing split


def test_rotations_within_one_second_sort_in_time_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Review 13b, finding 5: "…Z-1.jsonl" sorted before "…Z.jsonl" ("-" < "."), so `ls` and
    # `cat deadletter-*.jsonl` replayed them out of order. Four rotations at the same UTC
    # second, then one a second later: the sorted names are the order of the rotations.
    clock = [NOON]
    monkeypatch.setattr(dl.time, "time", lambda: clock[0])
    for i in range(5):
        append_dead_letters(tmp_path, [{"n": i, "pad": "x" * 80}], max_bytes=100)
    clock[0] = NOON + 1
    append_dead_letters(tmp_path, [{"n": 5, "pad": "x" * 80}], max_bytes=100)
    names = [p.name for p in _files(tmp_path)]
    assert names == [
        "deadletter-20261126T120000Z-000.jsonl",
        "deadletter-20261126T120000Z-001.jsonl",
        "deadletter-20261126T120000Z-002.jsonl",
        "deadletter-20261126T120000Z-003.jsonl",
        "deadletter-20261126T120001Z-000.jsonl",
        "deadletter.jsonl",
    ]
    assert [d["n"] for d in _lines(tmp_path)] == [0, 1, 2, 3, 4, 5]


def test_a_name_taken_at_the_last_moment_is_never_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Review 13b, finding 1: the free name was checked (exists) and then used (rename), and
    # rename() replaces a file: another process rotating in the same second in between lost
    # its dead letters. Here a file appears at the chosen name just before the rotation
    # makes it (the other process winning the race): it must stay as it was.
    monkeypatch.setattr(dl.time, "time", lambda: NOON)
    append_dead_letters(tmp_path, [{"n": 0, "pad": "x" * 80}], max_bytes=100)
    theirs = b'{"theirs": true}\n'
    real_link, real_rename = os.link, os.rename

    raced: list[str] = []

    def racing(real):  # type: ignore[no-untyped-def]
        def call(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
            if Path(dst).name.startswith("deadletter-") and not raced:
                Path(dst).write_bytes(theirs)  # the other process's rotated file, just now
                raced.append(Path(dst).name)
            return real(src, dst, *args, **kwargs)

        return call

    monkeypatch.setattr(dl.os, "link", racing(real_link))
    monkeypatch.setattr(dl.os, "rename", racing(real_rename))
    append_dead_letters(tmp_path, [{"n": 1, "pad": "x" * 80}], max_bytes=100)
    contents = sorted(p.read_bytes() for p in tmp_path.glob("deadletter*.jsonl"))
    assert raced and (tmp_path / raced[0]).read_bytes() == theirs  # theirs intact
    ours = [json.loads(line)["n"] for c in contents if c != theirs for line in c.splitlines()]
    assert sorted(ours) == [0, 1]  # and ours are all kept


_HAMMER = """
import sys
from shanshui.ingest.deadletters import append_dead_letters
for i in range(int(sys.argv[3])):  # one by one, each returned line acknowledged
    append_dead_letters(sys.argv[1], [{"who": sys.argv[2], "i": i, "pad": "x" * 400}],
                        max_bytes=2048)
"""


def test_two_processes_rotating_one_folder_lose_nothing(tmp_path: Path) -> None:
    # Review 13b, finding 1 (/tmp/rev13b.DH2m/f3): two processes appending to one folder
    # without a Journal (no folder lock) lost 28 to 42 of 6,000 lines at rotation. With link
    # (EEXIST: next number) and unlink nothing is replaced: every line returned is kept.
    count = 400
    procs = [
        subprocess.Popen([sys.executable, "-c", _HAMMER, str(tmp_path), who, str(count)])
        for who in "AB"
    ]
    assert [proc.wait(120) for proc in procs] == [0, 0]
    kept = set()
    for path in tmp_path.glob("deadletter*.jsonl"):
        for line in path.read_bytes().splitlines():
            obj = json.loads(line)  # every line whole JSON
            kept.add((obj["who"], obj["i"]))
    assert kept == {(w, i) for w in "AB" for i in range(count)}


def test_a_line_longer_than_the_limit_fills_a_file_alone(tmp_path: Path) -> None:
    append_dead_letters(tmp_path, [{"n": 0}], max_bytes=50)
    append_dead_letters(tmp_path, [{"n": 1, "big": "y" * 200}], max_bytes=50)
    append_dead_letters(tmp_path, [{"n": 2}], max_bytes=50)
    files = _files(tmp_path)
    assert [len(p.read_text().splitlines()) for p in files] == [1, 1, 1]
    assert [d["n"] for d in _lines(tmp_path)] == [0, 1, 2]


def test_a_torn_last_line_stays_a_line_of_its_own(tmp_path: Path) -> None:
    # Review 13b, finding 3 (/tmp/rev13b.DH2m/f5): a kill -9 during an append left half a
    # line, and the next append (the writer redoing its batch) was glued to it: one line
    # that is not JSON, with the re-appended dead letter inside it.
    append_dead_letters(tmp_path, [{"n": 0}])
    path = tmp_path / "deadletter.jsonl"
    with open(path, "ab") as handle:
        handle.write(b'{"n": 1, "payload_b64": "QUJDQU')  # what the kill left
    written = append_dead_letters(tmp_path, [{"n": 1}, {"n": 2}])
    lines = path.read_bytes().splitlines()
    assert lines == [b'{"n": 0}', b'{"n": 1, "payload_b64": "QUJDQU', b'{"n": 1}', b'{"n": 2}']
    assert written == 1 + len(b'{"n": 1}\n{"n": 2}\n')  # the newline that ends the fragment


def test_a_torn_line_is_ended_before_a_rotation_too(tmp_path: Path) -> None:
    # the first new line does not fit: the fragment is ended, then the file is rotated
    path = tmp_path / "deadletter.jsonl"
    path.write_bytes(b'{"n": 0}\n{"half')
    append_dead_letters(tmp_path, [{"n": 1, "pad": "z" * 100}], max_bytes=50)
    first, current = _files(tmp_path)
    assert first.read_bytes() == b'{"n": 0}\n{"half\n'
    assert json.loads(current.read_bytes()) == {"n": 1, "pad": "z" * 100}


def test_each_file_share_of_a_batch_is_one_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Review 13b, finding 3: lines written one by one through an 8 KiB buffer reached the
    # kernel cut at 8 KiB, so a kill between two write() calls left half a line. A batch
    # now reaches each file in one write() call: 200 lines of 400 bytes, one file, one write.
    writes: list[int] = []
    real_write = os.write

    def counting(fd: int, data: bytes) -> int:
        writes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(dl.os, "write", counting)
    batch = [{"i": i, "payload_b64": "QUJD" * 95} for i in range(200)]
    written = append_dead_letters(tmp_path, batch)
    assert writes == [written] and written == (tmp_path / "deadletter.jsonl").stat().st_size
    writes.clear()  # over two files: one write each
    append_dead_letters(tmp_path, batch, max_bytes=written + written // 2)
    assert len(writes) == 2


def test_the_journal_dead_letters_through_the_rotating_helper(tmp_path: Path) -> None:
    # Journal._dead_letter (bad bytes followed by intact records, see test_journal) rotates
    # too: two damaged records, each dead-lettered once (two lines of about 150 bytes), over
    # a 100-byte limit: two files, the first renamed with its time.
    journal = Journal(tmp_path)
    payloads = (b"first", b"second", b"third", b"fourth", b"fifth")
    for payload in payloads:
        journal.append(payload)
    journal.close()
    segment = next(tmp_path.glob("seg-*.log"))
    data = bytearray(segment.read_bytes())
    starts = [sum(8 + len(p) for p in payloads[:i]) for i in range(len(payloads))]
    data[starts[1] + 8] ^= 0xFF  # "second" and "fourth": their CRCs fail
    data[starts[3] + 8] ^= 0xFF
    segment.write_bytes(bytes(data))
    for _ in range(2):  # the second open dead-letters nothing again (damage-noted)
        with Journal(tmp_path) as again:
            again.deadletter_bytes = 100
            assert [p for p, _ in again.pending()] == [b"first", b"third", b"fifth"]
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


def test_one_scrape_reads_the_tally_once() -> None:
    # review 13b, finding 4: the three dead-letter gauges of one scrape share one reading
    calls: list[int] = []

    def usage() -> tuple[int, int, int]:
        calls.append(1)
        return (2, 7, 300)

    metrics = GatewayMetrics()
    metrics.watch_dead_letters(usage)
    text = metrics.render()
    assert b"shanshui_gateway_dead_letter_lines 7.0" in text
    assert b"shanshui_gateway_dead_letter_files 2.0" in text
    assert len(calls) == 1


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


def _read_here() -> int:
    """Bytes this thread has read so far (``rchar`` of /proc/thread-self/io, Linux)."""
    text = Path("/proc/thread-self/io").read_text()
    return int(re.search(r"^rchar: (\d+)$", text, re.MULTILINE)[1])  # type: ignore[index]


@pytest.mark.skipif(
    not Path("/proc/thread-self/io").exists(),
    reason="needs /proc/thread-self/io (Linux) to count the bytes a thread reads",
)
def test_the_tally_reads_little_on_the_scraping_thread(tmp_path: Path) -> None:
    # Review 13b, finding 4 (/tmp/rev13b.DH2m/f2): each /metrics scrape runs usage() on the
    # gateway's event loop; the first after a start read every kept file in full (20 MB for
    # 5 files there, 64 MiB each in production) and the first after a rotation re-read the
    # rotated file. Here 4 rotated files of ~2 MiB: on the calling thread usage() reads at
    # most its inline budget (1 MiB), a thread counts the rest, and a rotation of a counted
    # file reads nothing again.
    line = {"reason": "x", "payload_b64": "A" * 4000}
    for _ in range(4):
        append_dead_letters(tmp_path, [line] * 500, max_bytes=2 * 1024 * 1024)
    kept = sum(p.stat().st_size for p in tmp_path.glob("deadletter*.jsonl"))
    lines = sum(len(p.read_bytes().splitlines()) for p in tmp_path.glob("deadletter*.jsonl"))
    assert kept > 6 * 1024 * 1024 and len(list(tmp_path.glob("deadletter-*.jsonl"))) == 3
    before = _read_here()
    tally = DeadLetterTally(tmp_path)  # a restart: nothing counted yet
    first = tally.usage()
    read_first = _read_here() - before
    assert read_first < 1024 * 1024 + 64 * 1024, read_first  # TALLY_INLINE_BYTES: 1 MiB
    assert first[0] == 4 and first[2] == kept  # files and bytes exact at once (stat)
    assert tally.wait(60)
    assert tally.usage() == (4, lines, kept)  # the thread counted every line
    before = _read_here()
    for _ in range(3):  # one scrape: three gauges
        tally.usage()
    assert _read_here() - before < 4096  # nothing read again
    # one more line, which rotates the current file (2 MB): only the new line is read
    current = (tmp_path / "deadletter.jsonl").stat().st_size
    append_dead_letters(tmp_path, [line], max_bytes=current + 1)
    before = _read_here()
    assert tally.usage() == (5, lines + 1, kept + len(json.dumps(line)) + 1)
    assert _read_here() - before < 64 * 1024


def test_a_write_refused_part_way_leaves_no_half_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full disk takes part of a dead letter and refuses the rest: the part is cut back, so
    # that it neither stays as a broken line nor takes the space freed next (review 19 #1).
    import errno

    dl.append_dead_letters(tmp_path, [{"reason": "first"}])
    before = (tmp_path / "deadletter.jsonl").read_bytes()
    real_write = os.write

    def half_then_full(fd: int, data: bytes | memoryview) -> int:
        if len(data) > 8:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dl.os, "write", half_then_full)
    with pytest.raises(OSError, match="No space"):
        dl.append_dead_letters(tmp_path, [{"reason": "second", "pad": "x" * 200}])
    monkeypatch.undo()
    assert (tmp_path / "deadletter.jsonl").read_bytes() == before
    dl.append_dead_letters(tmp_path, [{"reason": "second"}])
    assert [d["reason"] for d in _lines(tmp_path)] == ["first", "second"]
