"""Answers cached per write generation: the latest-values map is the same for every client
until new data arrive, so it is computed once and served as bytes to all of them; a series
of a past period changes only when late data or corrections arrive, so it is kept a minute."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
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
    max_age: float
    follow: bool  # stale when the generation moves


class ResponseCache:
    """Serialised answers by key, at most ``max_age`` seconds old, and (unless an entry is
    made with ``follow=False``) only while the write generation is unchanged. Writes the
    generation does not count (another process, the HTTP ingest) show within ``max_age``.

    While one thread recomputes a stale entry, the others are answered the stale one (at
    most one computation per key at a time; no thundering herd). At most ``max_bytes`` are
    kept; the least recently used entries go first.
    """

    def __init__(
        self,
        generation: Callable[[], int] | None = None,
        max_age: float = 2.0,
        max_bytes: int = 256 << 20,
    ) -> None:
        self.generation = generation
        self.max_age = max_age
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._size = 0
        self._busy: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def _now_generation(self) -> int | None:
        return self.generation() if self.generation is not None else None

    @staticmethod
    def _fresh(entry: _Entry | None, generation: int | None) -> bool:
        return (
            entry is not None
            and (not entry.follow or entry.generation == generation)
            and time.monotonic() - entry.made < entry.max_age
        )

    def fresh(self, key: str) -> bytes | None:
        """The entry of ``key`` when it is fresh (cheap: no computation, no waiting)."""
        entry = self._entries.get(key)
        if entry is not None and self._fresh(entry, self._now_generation()):
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
            return entry.body
        return None

    def _put(self, key: str, entry: _Entry) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            self._size -= len(old.body) if old is not None else 0
            self._entries[key] = entry
            self._size += len(entry.body)
            while self._size > self.max_bytes and len(self._entries) > 1:
                _, dropped = self._entries.popitem(last=False)
                self._size -= len(dropped.body)

    def get(
        self,
        key: str,
        compute: Callable[[], bytes],
        *,
        max_age: float | None = None,
        follow: bool = True,
    ) -> bytes:
        """The cached answer of ``key``, computing it with ``compute`` when stale; a new
        entry lives ``max_age`` seconds (default: the cache's) and, with ``follow``, only
        while the generation is unchanged."""
        generation = self._now_generation()
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
            age = self.max_age if max_age is None else max_age
            self._put(key, _Entry(body, generation, time.monotonic(), age, follow))
            return body
        finally:
            busy.release()
            with self._lock:
                if len(self._busy) > 10_000:
                    self._busy.clear()

    def clear(self) -> None:
        """Forget every entry (after the API itself changed data)."""
        with self._lock:
            self._entries.clear()
            self._size = 0


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
