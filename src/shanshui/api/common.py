"""Helpers the routes share: read stores, day parameters, pagination, frame → JSON."""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Annotated, Any

import pandas as pd
from fastapi import Query, Request

from shanshui.api.cache import Expiring
from shanshui.api.errors import ApiError
from shanshui.store import DuckDBStore, PostgresStore, Site, Store

__all__ = [
    "MAX_DAYS",
    "TIME_CONVENTION",
    "From",
    "Limit",
    "Offset",
    "ReaderPool",
    "To",
    "day_span",
    "next_month",
    "page",
    "records",
    "sites_of",
    "store_of",
    "writer_of",
]

#: The time convention every time-labelled answer states (DESIGN §4).
TIME_CONVENTION = (
    "hourly values are labelled by the START of the hour in Beijing time (UTC+8, "
    "Asia/Shanghai); days are natural days 00:00-24:00 Beijing time"
)

#: Longest span of days one request may ask for (keeps every answer bounded).
MAX_DAYS = 3700
#: The days a request may name (pandas' nanosecond times span 1677–2262).
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(2199, 12, 31)

#: The natural days a request spans, ``from`` … ``to`` both included (Beijing time).
From = Annotated[dt.date, Query(alias="from", description="first natural day, YYYY-MM-DD")]
To = Annotated[dt.date, Query(alias="to", description="last natural day (included)")]
Limit = Annotated[int, Query(ge=1, le=1000, description="items per page")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="items to skip")]


class ReaderPool:
    """Stores the API reads from, one request (thread) at a time each.

    - DuckDB: :meth:`~shanshui.store.DuckDBStore.reader` stores — cursors of the writer's
      connection, i.e. separate connections to the same database; MVCC gives each read a
      committed snapshot, and reads never wait behind the writer's batches.
    - PostgreSQL: stores with their own connections to the same URL (opened on first use).
    - Anything else (a test double): the store itself, one request at a time.

    The writer store itself is for the API's few writes (:func:`writer_of`).
    """

    def __init__(self, store: Store, size: int = 4) -> None:
        self.store = store
        self._own: list[Store] = []
        if isinstance(store, DuckDBStore):
            self._own = [store.reader() for _ in range(size)]
        elif isinstance(store, PostgresStore):
            self._own = [PostgresStore(store.url) for _ in range(size)]
        members = self._own or [store]
        self._free: queue.LifoQueue[Store] = queue.LifoQueue()
        for member in members:
            self._free.put(member)

    @contextmanager
    def acquire(self, timeout: float = 30.0) -> Iterator[Store]:
        """A free read store for the block (waits up to ``timeout`` [s]; then 503)."""
        try:
            member = self._free.get(timeout=timeout)
        except queue.Empty:
            raise ApiError(503, "busy", "every store connection is busy; retry") from None
        try:
            yield member
        finally:
            self._free.put(member)

    def close(self) -> None:
        """Close the pool's own stores (not the writer store)."""
        for member in self._own:
            with suppress(Exception):
                member.close()
        self._own = []


@contextmanager
def store_of(request: Request) -> Iterator[Store]:
    """A read store of the app for the block (see :class:`ReaderPool`)."""
    pool: ReaderPool = request.app.state.readers
    with pool.acquire() as store:
        yield store


def sites_of(request: Request) -> list[Site]:
    """Every site of the store, read at most every 10 s (a new station shows within 10 s)."""
    cached: Expiring[list[Site]] = request.app.state.sites
    return cached.get()


@contextmanager
def writer_of(request: Request) -> Iterator[Store]:
    """The app's writer store (the one the gateway writes to), for the API's own writes.

    The store serialises its calls itself; with DuckDB it is the process's only writer.
    """
    lock: threading.Lock = request.app.state.write_lock
    with lock:
        yield request.app.state.store


def day_span(first: dt.date, last: dt.date, *, max_days: int = MAX_DAYS) -> None:
    """Refuse ``to`` before ``from`` and spans over ``max_days`` (422, the one error shape)."""
    for day in (first, last):  # beyond these the time arithmetic leaves its range
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ApiError(
                422, "validation_failed", f"days from {FIRST_DAY} to {LAST_DAY} only, not {day}"
            )
    if last < first:
        raise ApiError(422, "validation_failed", f"'to' {last} is before 'from' {first}")
    if (last - first).days + 1 > max_days:
        raise ApiError(422, "validation_failed", f"at most {max_days} days per request")


def next_month(day: dt.date) -> dt.date:
    """The first day of the calendar month after ``day``'s."""
    return dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def page(items: list[Any], limit: int, offset: int) -> dict[str, Any]:
    """``{"total", "limit", "offset", "items"}`` of one page."""
    return {
        "total": len(items),
        "limit": limit,
        "offset": offset,
        "items": items[offset : offset + limit],
    }


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (NaN and NA → null)."""
    if frame.empty:
        return []
    out: list[dict[str, Any]] = json.loads(
        frame.to_json(orient="records", force_ascii=False, double_precision=10)
    )
    return out
