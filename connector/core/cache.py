"""A small thread-safe cache whose entries expire: adapters keep identity and group look-ups in
it, so a person who approves again (or a group approver) costs no API call per approval, while a
change made in the ticketing system (someone removed from a group) is seen within the TTL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """``get_or_load(key, load)``: the cached value while it is younger than ``ttl`` seconds,
    else ``load()`` (outside the lock: a slow look-up does not block other keys). Failures are
    not cached; ``None`` answers are (a name that resolves to nobody stays unknown for a TTL)."""

    def __init__(
        self, ttl: float, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[K, tuple[float, V]] = {}

    def _live(self, key: K) -> tuple[bool, V | None]:
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        if self.clock() - entry[0] >= self.ttl:
            del self._entries[key]
            return False, None
        return True, entry[1]

    def get_many(self, keys: Iterable[K]) -> dict[K, V]:
        """The live entries among ``keys`` (for batched look-ups: load only the others)."""
        out: dict[K, V] = {}
        with self._lock:
            for key in keys:
                live, value = self._live(key)
                if live:
                    out[key] = value  # type: ignore[assignment]
        return out

    def put(self, key: K, value: V) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries and key not in self._entries:
                oldest = min(self._entries, key=lambda k: self._entries[k][0])
                del self._entries[oldest]
            self._entries[key] = (self.clock(), value)

    def get_or_load(self, key: K, load: Callable[[], V]) -> V:
        if self.ttl <= 0:
            return load()
        with self._lock:
            live, found = self._live(key)
        if live:
            return found  # type: ignore[return-value]
        value = load()
        self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
