"""A throwaway PostgreSQL cluster on loopback for the store's contract tests.

``initdb`` into a fresh temporary folder, ``pg_ctl start`` on 127.0.0.1 and a free port (unix
socket in the same folder), one fresh database per test, stop and remove everything at the
end of the session. As root, ``initdb`` refuses to run, so the cluster then belongs to the
``postgres`` OS user (Debian's package creates it): the server runs with that uid.

Without PostgreSQL binaries the tests skip with the reason printed (``pytest -ra``), except
when ``SHANSHUI_REQUIRE_POSTGRES=1`` (CI): then they fail.

Use it from a test module with ``pytest_plugins = ["pg"]`` and the fixtures ``pg_cluster``
(session), ``pg_url`` (a new empty database per test) and ``store`` (a migrated store, once
on DuckDB in ``tmp_path`` and once on PostgreSQL: the contract tests).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from shanshui.store import Store

REQUIRE_ENV = "SHANSHUI_REQUIRE_POSTGRES"


def find_bindir() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: Debian's newest version, else from PATH."""

    def version(path: str) -> tuple[int, ...]:
        part = Path(path).parent.parent.name
        return tuple(int(x) for x in part.split(".") if x.isdigit())

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One running throwaway PostgreSQL cluster."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="shanshui-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._names = itertools.count(1)
        self._user: dict[str, Any] = {}
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root, ignore_errors=True)
                raise RuntimeError("running as root and there is no 'postgres' OS user") from None
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def _run(self, *args: str) -> None:
        proc = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.root,
            **self._user,
        )
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {proc.stdout}{proc.stderr}{log}")

    def start(self) -> None:
        # trust authentication is safe here: the server listens on 127.0.0.1 and a private
        # socket folder only, and lives for one test session.
        # A real locale (as Debian's clusters have) rather than C, so that collation
        # mistakes show in tests; C where the system has no C.UTF-8.
        for locale in ("C.UTF-8", "C"):
            try:
                self._run(
                    "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", f"--locale={locale}", "--no-sync",
                )  # fmt: skip
                break
            except RuntimeError:
                if locale == "C":
                    raise
                shutil.rmtree(self.data, ignore_errors=True)
        last: Exception | None = None
        for _ in range(3):  # the free port can be taken between probe and start: retry
            self.port = _free_port()
            opts = (
                f"-c listen_addresses=127.0.0.1 -c port={self.port} -k {self.root} "
                "-c max_connections=50 -c shared_buffers=64MB"
            )
            try:
                self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data),
                          "-l", str(self.log), "-o", opts)  # fmt: skip
                return
            except RuntimeError as exc:
                last = exc
        raise RuntimeError(f"could not start PostgreSQL: {last}")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data))
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"t{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'create database "{name}"')  # name is ours, not input
        return self.url(name)


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster | None]:
    """A started cluster for a benchmark's run, stopped and removed at the end; None, with
    the reason printed, where there are no PostgreSQL server binaries."""
    bindir = find_bindir()
    if bindir is None:
        print("postgres: skipped, no server binaries (initdb, pg_ctl)")
        yield None
        return
    cluster = Cluster(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster for the whole session (skip or fail when there is none)."""
    required = os.environ.get(REQUIRE_ENV) == "1"
    bindir = find_bindir()
    if bindir is None:
        reason = (
            "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or PATH"
        )
        if required:
            pytest.fail(f"{reason}, and {REQUIRE_ENV}=1")
        pytest.skip(reason)
    try:
        cluster = Cluster(bindir)
        cluster.start()
    except (RuntimeError, OSError) as exc:
        cluster_root = locals().get("cluster")
        if cluster_root is not None:
            cluster_root.stop()
        if required:
            pytest.fail(f"throwaway PostgreSQL cluster did not start: {exc}")
        pytest.skip(f"throwaway PostgreSQL cluster did not start: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """The URL of a fresh, empty database in the session's cluster."""
    return pg_cluster.create_database()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store: DuckDB in ``tmp_path``, then PostgreSQL (a fresh database)."""
    from shanshui.store import open_store

    target: str | Path = tmp_path / "store.duckdb"
    if request.param == "postgres":
        target = request.getfixturevalue("pg_url")
    s = open_store(target)
    try:
        yield s
    finally:
        s.close()
