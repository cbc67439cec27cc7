"""A DuckDB store file held by another process (a running ``shanshui serve``).

DuckDB lets one process open a file: a second process gets an ``IOException`` "Could not set
lock on file … Conflicting lock is held in … (PID n)". The store raises
:class:`~shanshui.store.duck.StoreBusy` instead (which file, which PID, what to do), and the
CLI prints it as one ``error: …`` line with exit status 1. DuckDB's lock is per process, so
the holder here is a real second process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from shanshui.cli import app
from shanshui.errors import StoreError
from shanshui.store import DuckDBStore, open_store
from shanshui.store.duck import StoreBusy

_HOLD = (
    "import sys, duckdb\n"
    "conn = duckdb.connect(sys.argv[1])\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"  # hold until the test closes our stdin
)


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A migrated store file held open by a second process: (path, its PID)."""
    path = tmp_path / "store.duckdb"
    open_store(path).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        yield path, proc.pid
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def test_open_store_raises_store_busy_with_file_and_pid(held: tuple[Path, int]) -> None:
    path, pid = held
    with pytest.raises(StoreBusy) as info:
        open_store(path)
    busy = info.value
    assert isinstance(busy, StoreError)
    assert busy.pid == pid
    assert busy.path == str(path)
    text = str(busy)
    assert "\n" not in text
    assert str(path) in text and f"process {pid}" in text
    # what to do: stop it, send to its HTTP ingest (the real route), or use PostgreSQL
    assert "POST /api/v1/ingest" in text and "--postgres" in text and "Stop" in text
    assert "Conflicting lock" not in text


@pytest.mark.parametrize(
    "args",
    [
        ["import", "long", "{csv}", "--db", "{db}"],
        ["init", "--db", "{db}"],
        ["sites", "list", "--db", "{db}"],
        ["devices", "list", "--db", "{db}"],
        [
            "aqi",
            "daily",
            "--db",
            "{db}",
            "--station",
            "1001A",
            "--from",
            "2024-01-01",
            "--to",
            "2024-01-02",
        ],
        # a second server on a held file: ports 0, so only the store's lock can stop it
        ["serve", "--db", "{db}", "--port", "0", "--http-port", "0"],
    ],
    ids=["import", "init", "sites", "devices", "aqi", "serve"],
)
def test_cli_prints_one_clean_line_and_exits_1(
    held: tuple[Path, int], tmp_path: Path, args: list[str]
) -> None:
    path, pid = held
    csv = tmp_path / "long.csv"
    csv.write_text("site,time,parameter,value\n1001A,2024-01-01T00:00:00+08:00,PM2.5,10\n")
    argv = [a.format(csv=csv, db=path) for a in args]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1, result.output
    # handled (typer.Exit), not an exception escaping the command (also exit status 1)
    assert isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error:"), lines[0]
    assert str(path) in lines[0] and f"process {pid}" in lines[0]
    assert "POST /api/v1/ingest" in lines[0]
    assert "IO Error" not in result.output and "Traceback" not in result.output


def test_the_serving_process_reads_its_own_file_without_a_lock_error(tmp_path: Path) -> None:
    # The API reads through reader() stores: cursors of the serving process's connection,
    # never a second open of the file, so it cannot meet StoreBusy.
    store = open_store(tmp_path / "store.duckdb")
    assert isinstance(store, DuckDBStore)
    try:
        reader = store.reader()
        try:
            assert reader.sites() == []
        finally:
            reader.close()
    finally:
        store.close()


#: DuckDB's words when it cannot lock the file and cannot learn why, on a file system without
#: locks (NFS without lockd): ``LocalFileSystem::OpenFile`` adds ``strerror(errno)`` instead
#: of "Conflicting lock is held …" (seen with DuckDB 2.0.1, review 13b finding 2).
NO_LOCKS = (
    'IO Error: Could not set lock on file "{path}": No locks available. '
    "See also https://duckdb.org/docs/current/connect/concurrency"
)


def test_parse_without_pid_and_other_messages() -> None:
    # a conflicting lock without the holder's PID still says the file is busy
    busy = StoreBusy.parse(
        "x.duckdb", 'IO Error: Could not set lock on file "x.duckdb": Conflicting lock is held'
    )
    assert busy is not None and busy.pid is None
    assert "another process" in str(busy)
    assert StoreBusy.parse("x.duckdb", "IO Error: No space left on device") is None


def test_a_lock_failure_that_is_no_conflict_is_not_store_busy() -> None:
    # Review 13b, finding 2: DuckDB says "Could not set lock on file" for every failed
    # F_SETLK; without "Conflicting lock is held" nothing holds the file.
    assert StoreBusy.parse("x.duckdb", NO_LOCKS.format(path="x.duckdb")) is None


@pytest.fixture
def no_locks(monkeypatch: pytest.MonkeyPatch) -> None:
    """duckdb.connect failing as on a file system without locks (ENOLCK)."""

    def connect(path: str, *args: object, **kwargs: object) -> None:
        raise duckdb.IOException(NO_LOCKS.format(path=path))

    monkeypatch.setattr("shanshui.store.duck.duckdb.connect", connect)


@pytest.mark.usefixtures("no_locks")
def test_no_locks_keeps_duckdbs_words_as_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    with pytest.raises(StoreError) as info:
        open_store(path)
    assert not isinstance(info.value, StoreBusy)
    text = str(info.value)
    assert "No locks available" in text and str(path) in text and "\n" not in text
    assert "another process" not in text and "Stop" not in text


@pytest.mark.usefixtures("no_locks")
@pytest.mark.parametrize("command", [["devices", "list"], ["init"]], ids=["devices", "init"])
def test_cli_prints_duckdbs_words_in_one_line_when_locks_fail(
    tmp_path: Path, command: list[str]
) -> None:
    path = tmp_path / "store.duckdb"
    path.touch()  # "devices list" refuses a missing --db before opening it
    result = CliRunner().invoke(app, [*command, "--db", str(path)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "No locks available" in lines[0] and "held by" not in lines[0]


_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>

/* Record locks fail with ENOLCK, as on an NFS mount without lockd. */
static int refuse(int cmd) { return cmd == F_SETLK || cmd == F_GETLK; }

#define SHIM(NAME)                                                      \
    int NAME(int fd, int cmd, ...) {                                    \
        va_list ap;                                                     \
        va_start(ap, cmd);                                              \
        void *arg = va_arg(ap, void *);                                 \
        va_end(ap);                                                     \
        if (refuse(cmd)) { errno = ENOLCK; return -1; }                 \
        int (*next)(int, int, ...) = (int (*)(int, int, ...))dlsym(RTLD_NEXT, #NAME); \
        return next(fd, cmd, arg);                                      \
    }
SHIM(fcntl)
SHIM(fcntl64)
"""


def test_a_real_enolck_from_the_cli(tmp_path: Path) -> None:
    # The whole way, as review 13b's /tmp/rev13b.DH2m/f1 did it: a shim makes fcntl record
    # locks fail with ENOLCK under a real DuckDB, and `shanshui devices list` must print
    # DuckDB's words, not "held by another process".
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not sys.platform.startswith("linux"):
        pytest.skip("needs a C compiler on Linux to build the ENOLCK shim (LD_PRELOAD)")
    (tmp_path / "shim.c").write_text(_SHIM)
    shim = tmp_path / "nolocks.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-o", str(shim), str(tmp_path / "shim.c"), "-ldl"],
        check=True,
        capture_output=True,
    )
    path = tmp_path / "store.duckdb"
    open_store(path).close()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from shanshui.cli import main; sys.exit(main())",
            "devices",
            "list",
            "--db",
            str(path),
        ],
        env={**os.environ, "LD_PRELOAD": str(shim)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "No locks available" in lines[0] and "held by" not in lines[0]


def test_other_io_errors_are_not_store_busy(tmp_path: Path) -> None:
    # a folder where the file should be: DuckDB's own IO error, not a held lock
    folder = tmp_path / "folder.duckdb"
    folder.mkdir()
    with pytest.raises(StoreError) as info:
        open_store(folder)
    assert not isinstance(info.value, StoreBusy)
