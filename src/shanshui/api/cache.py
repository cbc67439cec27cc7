"""Answers cached per write generation: the latest-values map is the same for every client
until new data arrive, so it is computed once and served as bytes to all of them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Expiring", "ResponseCache"]

T = TypeVar("T")


@dataclass
class _Entry:
    body: bytes
    generation: int | None
    made: float


class ResponseCache:
    """Serialised answers by key, valid while the generation is unchanged and at most
    ``max_age`` seconds old (writes the generation does not count — another process, the
    HTTP ingest — show within ``max_age``).

    While one thread recomputes a stale entry, the others are answered the stale one (at
    most one computation per key at a time; no thundering herd).
    """

    def __init__(self, generation: Callable[[], int] | None = None, max_age: float = 2.0) -> None:
        self.generation = generation
        self.max_age = max_age
        self._entries: dict[str, _Entry] = {}
        self._busy: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def _fresh(self, entry: _Entry | None, generation: int | None) -> bool:
        return (
            entry is not None
            and entry.generation == generation
            and time.monotonic() - entry.made < self.max_age
        )

    def fresh(self, key: str) -> bytes | None:
        """The entry of ``key`` when it is fresh (cheap: no computation, no waiting)."""
        entry = self._entries.get(key)
        generation = self.generation() if self.generation is not None else None
        return entry.body if self._fresh(entry, generation) and entry is not None else None

    def get(self, key: str, compute: Callable[[], bytes]) -> bytes:
        """The cached answer of ``key``, computing it with ``compute`` when stale."""
        generation = self.generation() if self.generation is not None else None
        entry = self._entries.get(key)
        if self._fresh(entry, generation):
            assert entry is not None
            return entry.body
        with self._lock:
            busy = self._busy.setdefault(key, threading.Lock())
        if entry is not None and not busy.acquire(blocking=False):
            return entry.body  # another thread is recomputing it
        if entry is None:
            busy.acquire()
        try:
            entry = self._entries.get(key)
            if self._fresh(entry, generation):
                assert entry is not None
                return entry.body
            body = compute()
            self._entries[key] = _Entry(body, generation, time.monotonic())
            return body
        finally:
            busy.release()

    def clear(self) -> None:
        """Forget every entry (after the API itself changed data)."""
        self._entries.clear()


class Expiring(Generic[T]):
    """One value recomputed at most every ``max_age`` seconds (the site list: thousands of
    rows that change when a station is added, read by most requests)."""

    def __init__(self, compute: Callable[[], T], max_age: float = 10.0) -> None:
        self.compute = compute
        self.max_age = max_age
        self._value: T | None = None
        self._made = -float("inf")
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._value is None or time.monotonic() - self._made > self.max_age:
                self._value = self.compute()
                self._made = time.monotonic()
            return self._value

    def clear(self) -> None:
        self._value = None
