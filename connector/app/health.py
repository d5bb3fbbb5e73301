"""The last successful poll of each system, remembered in memory so that ``/healthz`` and
``/metrics`` still tell its age after the store goes down (the store's cursor row is the truth
shared by replicas; this process's cache is the last of it that was seen, or a poll it ran itself).
An operator paged for "store down" then still sees whether decisions were flowing until then."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from connector.core.models import utcnow

if TYPE_CHECKING:
    from connector.core.store import Store


class PollAges:
    """Per system, the latest successful poll this process knows of; thread-safe (the store is
    read from worker threads, polls are noted from the event loop)."""

    def __init__(self) -> None:
        self._last: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self.store_up: bool | None = None  # None until the store was first asked

    def note(self, system: str, when: datetime | None = None) -> None:
        when = when or utcnow()
        with self._lock:
            if system not in self._last or when > self._last[system]:
                self._last[system] = when

    def last(self, system: str) -> datetime | None:
        with self._lock:
            return self._last.get(system)

    def refresh(self, store: Store, systems: Iterable[str]) -> bool:
        """Ask the store (blocking: call it off the event loop) and fold each system's stored last
        success into the cache. False when the store is down: the cache answers alone."""
        try:
            up = store.ping()
            if up:
                for system in systems:
                    _, last = store.cursor(system)
                    if last is not None:
                        self.note(system, last)
        except Exception:  # noqa: BLE001 - a health probe reports the store down, never raises
            up = False
        self.store_up = up
        return up

    def age(self, system: str, now: datetime | None = None) -> float | None:
        last = self.last(system)
        return None if last is None else max(0.0, ((now or utcnow()) - last).total_seconds())


def health_report(store: Store, ages: PollAges, systems: list[str], stale_after: float) -> tuple[dict, int]:
    """``/healthz``'s body and status: 503 when the store is down, with each system's last poll
    age from the cache (``"from": "memory"``); ``degraded`` when a system has not polled within
    ``stale_after`` seconds."""
    store_ok = ages.refresh(store, systems)
    now = utcnow()
    body_systems: dict[str, Any] = {}
    degraded = False
    for name in systems:
        age = ages.age(name, now)
        fresh = age is not None and age <= stale_after
        degraded |= not fresh
        body_systems[name] = {
            "last_successful_poll_age_seconds": None if age is None else round(age, 1),
            "ok": fresh,
            "from": "store" if store_ok else "memory",
        }
    status = "ok" if store_ok and not degraded else ("degraded" if store_ok else "down")
    body = {"status": status, "store": "ok" if store_ok else "unreachable", "systems": body_systems}
    return body, 200 if store_ok else 503


class PollAgeGauges(Collector):
    """``approval_last_successful_poll_age_seconds{system}`` and ``approval_store_up`` at scrape
    time: the store is asked first, and when it is down the ages come from the cache."""

    def __init__(self, store: Store, ages: PollAges, systems: list[str]) -> None:
        self.store, self.ages, self.systems = store, ages, systems

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = self.ages.refresh(self.store, self.systems)
        gauge = GaugeMetricFamily(
            "approval_last_successful_poll_age_seconds",
            "Seconds since the last successful poll of each system (kept while the store is down)",
            labels=["system"],
        )
        now = utcnow()
        for system in self.systems:
            age = self.ages.age(system, now)
            if age is not None:
                gauge.add_metric([system], age)
        yield gauge
        store = GaugeMetricFamily("approval_store_up", "1 if the store answered this scrape, else 0")
        store.add_metric([], 1.0 if up else 0.0)
        yield store
