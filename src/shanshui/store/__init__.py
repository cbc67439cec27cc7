"""``shanshui.store`` — where every reading is kept once: one interface, two back ends.

:func:`open_store` picks the back end from its argument:

- a path, ``duckdb:///path`` or ``:memory:`` → :class:`DuckDBStore` (embedded, one file);
- ``postgresql://…`` / ``postgres://…`` → :class:`PostgresStore` (server, psycopg 3).

Both have the same schema (``migrations/<dialect>/``), the same SQL (``queries/``) and pass
the same contract tests. See :class:`Store` for the operations and :func:`seed` for the
national air-station list.
"""

from __future__ import annotations

from pathlib import Path

from shanshui.store.api import (
    KINDS,
    PERIODS,
    ROLES,
    STATISTICS,
    STATUSES,
    AuditEntry,
    Device,
    Observation,
    ObservationBatch,
    Parameter,
    Region,
    Site,
    Store,
    StoreError,
    StoreInputError,
    WriteResult,
)
from shanshui.store.duck import DuckDBStore, StoreBusy
from shanshui.store.passwords import hash_password, verify_password
from shanshui.store.postgres import PostgresStore
from shanshui.store.seed import AIR_PARAMETERS, SeedResult, seed

__all__ = [
    "AIR_PARAMETERS",
    "KINDS",
    "PERIODS",
    "ROLES",
    "STATISTICS",
    "STATUSES",
    "AuditEntry",
    "Device",
    "DuckDBStore",
    "Observation",
    "ObservationBatch",
    "Parameter",
    "PostgresStore",
    "Region",
    "SeedResult",
    "Site",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreInputError",
    "WriteResult",
    "hash_password",
    "open_store",
    "seed",
    "verify_password",
]


def open_store(target: str | Path, *, migrate: bool = True) -> Store:
    """Open the store at ``target``; with ``migrate`` (default) bring its schema up to date.

    ``target``: a DuckDB file path (``Path`` or ``str``), ``duckdb:///abs/path``,
    ``duckdb://rel/path``, ``:memory:``, or a PostgreSQL URL ``postgresql://user@host/db``.
    """
    store: Store
    text = str(target)
    if isinstance(target, str) and text.startswith(("postgresql://", "postgres://")):
        store = PostgresStore(text)
    else:
        path = text.removeprefix("duckdb://") if isinstance(target, str) else text
        if not path:
            raise StoreInputError(f"no DuckDB path in {text!r}")
        store = DuckDBStore(path)
    if migrate:
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
    return store
