"""TtlCache: what adapters keep identity and group look-ups in."""

from __future__ import annotations

import pytest

from connector.core.cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_value_is_reused_until_it_expires():
    clock, loads = Clock(), []
    cache: TtlCache[str, str] = TtlCache(10, clock=clock)

    def load() -> str:
        loads.append(1)
        return f"v{len(loads)}"

    assert cache.get_or_load("k", load) == "v1"
    clock.now = 9.9
    assert cache.get_or_load("k", load) == "v1"
    clock.now = 10.0
    assert cache.get_or_load("k", load) == "v2" and len(loads) == 2


def test_none_is_cached_but_a_failure_is_not():
    cache: TtlCache[str, str | None] = TtlCache(60)
    assert cache.get_or_load("nobody", lambda: None) is None
    assert cache.get_or_load("nobody", lambda: "late") is None

    def fail() -> str:
        raise RuntimeError("unavailable")

    with pytest.raises(RuntimeError):
        cache.get_or_load("k", fail)
    assert cache.get_or_load("k", lambda: "ok") == "ok"


def test_get_many_returns_only_live_entries():
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(5, clock=clock)
    cache.put("a", 1)
    clock.now = 3
    cache.put("b", 2)
    clock.now = 6
    assert cache.get_many(["a", "b", "c"]) == {"b": 2}


def test_zero_ttl_always_loads_and_size_is_bounded():
    cache: TtlCache[str, int] = TtlCache(0)
    assert [cache.get_or_load("k", lambda n=n: n) for n in range(3)] == [0, 1, 2]
    clock = Clock()
    small: TtlCache[int, int] = TtlCache(60, max_entries=2, clock=clock)
    for n in range(3):
        clock.now = n
        small.put(n, n)
    assert small.get_many([0, 1, 2]) == {1: 1, 2: 2}
