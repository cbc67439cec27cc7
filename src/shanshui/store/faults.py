"""Whether a store refused a write for what it holds or for its own state.

A write the store refuses for its data (a value out of range, a text PostgreSQL cannot hold
such as a NUL byte, a wrong type, a broken constraint) fails again when retried: the writer
must set it aside (the gateway's journal writer dead-letters the record, DESIGN §5: bad
input changes nothing for others). A write refused for the store's state (the database
down, a full disk, a lock or statement timeout) may work later: it is retried and nothing
is set aside. The SQL stores raise :class:`~shanshui.errors.StoreError` with the driver's
exception as its cause (:meth:`~shanshui.store.sqlstore.SQLStore._session`).
"""

from __future__ import annotations

from typing import Final

import duckdb
import psycopg

from shanshui.store.api import StoreInputError

#: Driver errors caused by the data written, not by the database's state (PostgreSQL's
#: SQLSTATE classes 22 data exception and 23 integrity constraint violation; DuckDB's
#: conversion, range, constraint and input errors).
DATA_ERRORS: Final = (
    duckdb.ConversionException, duckdb.OutOfRangeException, duckdb.ConstraintException,
    duckdb.InvalidInputException, psycopg.DataError, psycopg.IntegrityError,
)  # fmt: skip


def refused_for_data(error: BaseException) -> bool:
    """Whether ``error`` says the store refused the data written (writing it again fails
    again), not that the store is in trouble: the store's own check
    (:class:`~shanshui.store.api.StoreInputError`), a value the caller could not encode
    (``ValueError``), or a driver's data error as the cause."""
    if isinstance(error, (StoreInputError, ValueError)):
        return True
    return isinstance(error.__cause__, DATA_ERRORS)


__all__ = ["DATA_ERRORS", "refused_for_data"]
