"""A journal folder belongs to one process (review 13b, finding 1).

Two processes on one journal folder (two ``shanshui serve --postgres URL`` started in the same
directory share the default ``./shanshui-journal``) interleaved segments, moved each other's
checkpoint and lost dead letters at rotation: DESIGN §5's "a frame the gateway acknowledged is
never lost" broke. :class:`~shanshui.ingest.journal.Journal` now holds an exclusive ``flock``
on the folder's ``lock`` file while it is open; a second one gets
:class:`~shanshui.ingest.journal.JournalBusy` (which folder, that another gateway uses it,
what to do), and ``shanshui serve`` prints it as one ``error:`` line with exit status 1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shanshui.cli import app
from shanshui.errors import ShanshuiError, StoreError
from shanshui.ingest.journal import Journal, JournalBusy, JournalError
from shanshui.ingest.serve import ServeConfig, serve
from shanshui.store import open_store

_HOLD = (
    "import sys\n"
    "from shanshui.ingest.journal import Journal\n"
    "journal = Journal(sys.argv[1])\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"  # hold until the test closes our stdin
    "journal.close()\n"
)


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A journal folder a second process holds open: (folder, that process)."""
    folder = tmp_path / "journal"
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        yield folder, proc
    finally:
        if proc.poll() is None:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=30)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()


def test_a_second_process_is_refused_with_folder_pid_and_what_to_do(
    held: tuple[Path, subprocess.Popen[str]],
) -> None:
    folder, proc = held
    segments = sorted(p.name for p in folder.iterdir())
    with pytest.raises(JournalBusy) as info:
        Journal(folder)
    busy = info.value
    assert isinstance(busy, JournalError) and isinstance(busy, StoreError)
    assert isinstance(busy, ShanshuiError)
    assert busy.pid == proc.pid and busy.directory == folder
    text = str(busy)
    assert "\n" not in text
    assert str(folder) in text and f"process {proc.pid}" in text
    assert "another gateway" in text and "--journal" in text
    assert sorted(p.name for p in folder.iterdir()) == segments  # nothing touched


def test_the_lock_goes_with_the_process_even_on_kill_9(
    held: tuple[Path, subprocess.Popen[str]],
) -> None:
    folder, proc = held
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert (folder / "lock").exists()  # left behind, holding nothing
    with Journal(folder) as journal:
        journal.append(b"after the other gateway died")
        journal.sync()


def test_a_second_journal_in_the_same_process_is_refused_until_the_first_closes(
    tmp_path: Path,
) -> None:
    # CHOICE (journal.Journal's docstring): not re-entrant within a process: two objects on
    # one folder would interleave segments as two processes do. A restart closes the first.
    first = Journal(tmp_path)
    first.append(b"one")
    with pytest.raises(JournalBusy) as info:
        Journal(tmp_path)
    assert info.value.pid == os.getpid()
    first.close()
    with Journal(tmp_path) as again:
        assert [p for p, _ in again.pending()] == [b"one"]
    first.close()  # closing twice: nothing more to release


def test_a_refused_open_does_not_cut_the_holder_s_segment(tmp_path: Path) -> None:
    # The torn-tail cut on open is only safe for the folder's owner: a second opener that
    # judged the holder's unsynced appends a "torn tail" would truncate acknowledged records.
    holder = Journal(tmp_path)
    holder.append(b"synced")
    holder.sync()
    segment = next(tmp_path.glob("seg-*.log"))
    with open(segment, "ab") as handle:  # the holder's next record, half written
        handle.write(b"\x40\x00\x00\x00\x01\x02")
    size = segment.stat().st_size
    with pytest.raises(JournalBusy):
        Journal(tmp_path)
    assert segment.stat().st_size == size
    holder.close()


def test_serve_prints_one_line_and_exits_1_when_the_journal_folder_is_held(
    held: tuple[Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    folder, proc = held
    db = tmp_path / "store.duckdb"
    open_store(db).close()
    argv = ["serve", "--db", str(db), "--journal", str(folder), "--port", "0", "--http-port", "0"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # handled, no traceback
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: the journal folder"), lines[0]
    assert str(folder) in lines[0] and f"process {proc.pid}" in lines[0]
    assert "--journal" in lines[0] and "Traceback" not in result.output
    # the refused serve closed the store it had opened: another process can open it now
    free = subprocess.run(
        [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()", str(db)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert free.returncode == 0, free.stderr


def test_serve_failing_at_start_gives_the_folder_and_the_store_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # review 14, finding 3: an unreadable checkpoint (read when the writer starts) stopped
    # serve() with the folder still locked by this process and the store still open. Since
    # review 16b an unreadable checkpoint replays the journal instead (test_journal_faults),
    # so the writer's start is made to fail here.
    folder = tmp_path / "journal"
    journal = Journal(folder)
    journal.append(b"x")
    journal.sync()
    journal.close()

    def failing_writer(*args: object, **kwargs: object) -> None:
        raise JournalError("corrupt checkpoint file (made to fail by the test)")

    monkeypatch.setattr("shanshui.ingest.serve.JournalWriter", failing_writer)
    db = tmp_path / "store.duckdb"
    open_store(db).close()
    config = ServeConfig(target=str(db), journal=folder, port=0, http_port=0, rules_every=0)
    with pytest.raises(JournalError, match="checkpoint"):
        asyncio.run(serve(config, stop=asyncio.Event()))
    Journal(folder).close()  # not JournalBusy naming this very process
    open_store(db).close()


def test_serve_on_a_port_in_use_prints_one_line_and_exits_1(tmp_path: Path) -> None:
    # review 15, finding 5: a busy device port printed an 85-line traceback
    db = tmp_path / "store.duckdb"
    open_store(db).close()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["serve", "--db", str(db), "--journal", str(tmp_path / "j"), "--host",
                "127.0.0.1", "--port", str(port), "--http-port", "0"]  # fmt: skip
        result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert str(port) in lines[0] and "Traceback" not in result.output
    Journal(tmp_path / "j").close()  # the folder was given back
