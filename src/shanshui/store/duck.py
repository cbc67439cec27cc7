"""The embedded store: one DuckDB file (or ``:memory:``), one process."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from shanshui.errors import StoreError
from shanshui.store.sql import Dialect, Query
from shanshui.store.sqlstore import SQLStore

#: DuckDB's words for a file another process holds (an ``IOException``, DuckDB 1.x and 2.x):
#: ``Could not set lock on file "…": Conflicting lock is held in <program> (PID <n>)…``.
#: DuckDB (``LocalFileSystem::OpenFile``) says "Could not set lock on file" for *every*
#: failed ``F_SETLK``; only when ``F_GETLK`` then finds the holder does it add "Conflicting
#: lock is held". Otherwise it adds ``strerror(errno)`` ("No locks available": NFS without
#: lockd, some CIFS or container volumes), and nothing holds the file: that is not StoreBusy.
_LOCK_HELD = re.compile(r"Could not set lock on file.*Conflicting lock is held", re.DOTALL)
_HOLDER = re.compile(r"held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


class StoreBusy(StoreError):  # noqa: N818 - "busy" says it: the store is not wrong
    """Another process holds the DuckDB file (DuckDB lets one process open a file).

    A :class:`~shanshui.errors.StoreError` (choice): neither the input's fault (PeerError)
    nor a programming mistake (CallerError) but the store unable to serve now; the CLI
    prints it as ``error: …`` with exit 1, the API answers 503 (it never opens the file
    again: it reads through cursors of the serving process's own connection).

    Attributes: ``path`` (the file), ``pid`` (the holder's process id, or None when DuckDB's
    message does not say it) and ``program`` (the holder's executable, or None).
    """

    def __init__(self, path: str, pid: int | None, program: str | None) -> None:
        self.path = path
        self.pid = pid
        self.program = program
        holder = "another process"
        if pid is not None:
            holder = f"process {pid}" + (f" ({program})" if program else "")
        super().__init__(
            f"the DuckDB file {path} is held by {holder}, perhaps a running shanshui serve; "
            "DuckDB lets one process open a file at a time. Stop that process and retry, or "
            "send the readings to the running server (HTTP ingest: POST /api/v1/ingest on its "
            "HTTP port), or keep the store in PostgreSQL (--postgres URL), which many "
            "processes share"
        )

    @classmethod
    def parse(cls, path: str, message: str) -> StoreBusy | None:
        """The error for DuckDB's lock ``message``, or None when it is about something else.

        Only a conflicting lock held by another process is StoreBusy; any other failure to
        lock the file (a file system without locks, …) is None: the caller keeps DuckDB's own
        words (a StoreError naming the file, see :meth:`SQLStore._session`)."""
        if not _LOCK_HELD.search(message):
            return None
        found = _HOLDER.search(message)
        if found is None:
            return cls(path, None, None)
        return cls(path, int(found["pid"]), found["program"])


class DuckDBStore(SQLStore):
    """:class:`~shanshui.store.Store` on a DuckDB database file.

    DuckDB lets one process open a file for writing; share the store object between the
    threads of that process (calls are serialised). A commit is durable: DuckDB fdatasyncs
    its write-ahead log before the commit returns (checked with strace). Bulk writes stage
    the Arrow table in place (``register``), without copying it.
    """

    dialect: Dialect = "duckdb"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        super().__init__(f"duckdb://{self.path}")  # open_store(url) opens it again
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._staged: list[str] = []

    def reader(self) -> DuckDBStore:
        """Another store on the same open database, for reading beside this one's writes.

        Its connection is ``cursor()`` of this store's: a separate DuckDB connection to the
        same database instance, with its own transactions and its own lock, so reads do not
        wait behind this store's write batches. DuckDB's MVCC gives every read transaction a
        consistent snapshot of what was committed when it began; a write batch is never seen
        half done. Use one reader per thread at a time (a reader serialises its own calls);
        close readers before this store. Reading is all it is for: its writes would conflict
        with the writer's (DuckDB aborts one of two transactions writing the same rows).
        """
        return _DuckDBReader(self)

    def _ensure_connected(self) -> None:
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            try:
                conn = duckdb.connect(self.path)
            except duckdb.IOException as exc:  # a lock held by another process: say so
                busy = StoreBusy.parse(self.path, str(exc))
                if busy is None:  # DuckDB's own words, as a StoreError (SQLStore._session)
                    raise
                raise busy from exc
            conn.execute("set TimeZone = 'UTC'")
            self._conn = conn

    @property
    def _c(self) -> duckdb.DuckDBPyConnection:
        assert self._conn is not None, "not connected"
        return self._conn

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(duckdb.Error):
                conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        conn = self._c
        conn.begin()
        try:
            yield
            conn.commit()
        except BaseException:
            with suppress(duckdb.Error):
                conn.rollback()
            raise
        finally:
            for name in self._staged:
                with suppress(duckdb.Error):
                    conn.unregister(name)
            self._staged.clear()

    def _execute(self, q: Query, params: dict[str, Any] | None = None) -> int:
        cur = self._c.execute(q.text, params or None)
        try:
            row = cur.fetchone()
        except duckdb.Error:  # a statement without a result (DDL)
            return 0
        return int(row[0]) if row and isinstance(row[0], int) else 0

    def _script(self, text: str) -> None:
        self._c.execute(text)

    def _rows(self, q: Query, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self._c.execute(q.text, params or None).fetchall()

    def _table(self, name: str, params: Mapping[str, Any], schema: pa.Schema) -> pa.Table:
        q = self._q(name)
        # a relation (not a DB-API cursor) hands its result to Arrow without an extra copy
        result = self._c.sql(q.text, params=q.bind(params) or None).to_arrow_table()
        return result.rename_columns(schema.names).cast(schema)

    def _stage(self, name: str, table: pa.Table) -> None:
        self._c.register(name, table)
        self._staged.append(name)

    def _lock_schema(self) -> None:
        """One process holds a DuckDB file: nothing to serialise."""

    def _db_errors(self) -> tuple[type[BaseException], ...]:
        return (duckdb.Error,)

    def _connection_lost(self, exc: BaseException) -> bool:
        return isinstance(exc, duckdb.FatalException)


class _DuckDBReader(DuckDBStore):
    """A :meth:`DuckDBStore.reader`: a cursor of the writer's connection (same database)."""

    def __init__(self, parent: DuckDBStore) -> None:
        super().__init__(parent.path)
        self._parent = parent

    def _ensure_connected(self) -> None:
        if self._conn is None:
            parent = self._parent
            with parent._lock:
                if parent._closed:
                    raise duckdb.ConnectionException("the writer store is closed")
                parent._ensure_connected()
                conn = parent._c.cursor()
            conn.execute("set TimeZone = 'UTC'")
            self._conn = conn

    def _connection_lost(self, exc: BaseException) -> bool:
        # a cursor cannot reopen the file itself: drop it and take a fresh one next call
        return isinstance(exc, (duckdb.FatalException, duckdb.ConnectionException))

    def migrate(self) -> list[int]:
        """The writer migrates; a reader has nothing to apply."""
        return []
