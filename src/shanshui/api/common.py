"""Helpers the routes share: the store lock, day parameters, pagination, frame → JSON."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import pandas as pd
from fastapi import Query, Request

from shanshui.api.errors import ApiError
from shanshui.store import Store

#: The time convention every time-labelled answer states (DESIGN §4).
TIME_CONVENTION = (
    "hourly values are labelled by the START of the hour in Beijing time (UTC+8, "
    "Asia/Shanghai); days are natural days 00:00-24:00 Beijing time"
)

#: Longest span of days one request may ask for (keeps every answer bounded).
MAX_DAYS = 3700

Limit = Annotated[int, Query(ge=1, le=1000, description="items per page")]
Offset = Annotated[int, Query(ge=0, description="items to skip")]


@contextmanager
def store_of(request: Request) -> Iterator[Store]:
    """The app's store, one request at a time (a DuckDB connection is not thread-safe)."""
    lock: threading.Lock = request.app.state.store_lock
    with lock:
        yield request.app.state.store


def day_span(first: dt.date, last: dt.date, *, max_days: int = MAX_DAYS) -> None:
    """Refuse ``to`` before ``from`` and spans over ``max_days`` (422, the one error shape)."""
    if last < first:
        raise ApiError(422, "validation_failed", f"'to' {last} is before 'from' {first}")
    if (last - first).days + 1 > max_days:
        raise ApiError(422, "validation_failed", f"at most {max_days} days per request")


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
