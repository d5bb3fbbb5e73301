"""Prometheus metrics, one registry per connector so tests and replicas don't share counters."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from connector.app.health import PollAgeGauges, PollAges
from connector.core.models import WAITING_STATES
from connector.core.observe import Recorder

if TYPE_CHECKING:
    from connector.core.store import Store


class _StoreGauges(Collector):
    """Gauges read from the store at scrape time (pending by route, outbox backlog)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            families = list(self._families())
        except Exception:  # noqa: BLE001 - store down: /metrics still answers (approval_store_up 0)
            return
        yield from families

    def _families(self) -> Iterator[GaugeMetricFamily]:
        pending = GaugeMetricFamily(
            "approval_requests_pending", "Requests waiting for a decision", labels=["route"]
        )
        states = GaugeMetricFamily("approval_requests", "Stored requests by state", labels=["state"])
        waiting = {s.value for s in WAITING_STATES}
        per_route: dict[str, int] = {}
        per_state: dict[str, int] = {}  # summed over routes: one series per state, never two
        for route, state, count in self.store.count_by("route", "state"):
            per_state[state] = per_state.get(state, 0) + count
            if state in waiting:
                per_route[route] = per_route.get(route, 0) + count
        for state, count in per_state.items():
            states.add_metric([state], count)
        for route, count in per_route.items():
            pending.add_metric([route], count)
        yield pending
        yield states
        problems = GaugeMetricFamily(
            "approval_requests_with_problems",
            "Requests being skipped, by why (tool, ticket, report)",
            labels=["kind"],
        )
        for kind, count in self.store.count_by("problem_kind"):
            if kind:
                problems.add_metric([kind], count)
        yield problems
        backlog = GaugeMetricFamily("approval_outbox_backlog", "Outbox items not yet delivered")
        backlog.add_metric([], self.store.outbox_backlog())
        yield backlog


class Metrics(Recorder):
    """The core's Recorder as Prometheus counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.decisions = Counter("approval_decisions", "Decisions applied", ["result"], registry=r)
        self.runs = Counter("approval_runs", "Tool runs by outcome", ["outcome"], registry=r)
        self.webhooks = Counter(
            "approval_webhook_deliveries", "Webhook deliveries by status", ["system", "status"], registry=r
        )
        self.api_calls = Counter(
            "approval_api_calls", "Ticketing API calls", ["system", "outcome"], registry=r
        )
        self.poll_duration = Histogram(
            "approval_poll_duration_seconds", "Duration of one poll of one system", ["system"], registry=r
        )
        self.poll_errors = Counter("approval_poll_errors", "Failed polls", ["system"], registry=r)
        self.adapter_calls = Counter(
            "approval_adapter_calls",
            "Adapter method calls through the bridge",
            ["system", "method", "outcome"],
            registry=r,
        )
        self.adapter_seconds = Histogram(
            "approval_adapter_call_seconds", "Duration of adapter calls", ["system", "method"], registry=r
        )
        self.poll_ages = PollAges()  # last successful poll per system, kept while the store is down
        self.problems = Counter(
            "approval_request_problems", "Requests marked and skipped, by kind", ["kind"], registry=r
        )

    def watch_store(self, store: Store, systems: Iterable[str] = ()) -> None:
        self.registry.register(_StoreGauges(store))
        self.registry.register(PollAgeGauges(store, self.poll_ages, list(systems)))

    # --- Recorder ---------------------------------------------------------------------------------
    def decision(self, result: str) -> None:
        self.decisions.labels(result=result).inc()

    def run(self, outcome: str) -> None:
        self.runs.labels(outcome=outcome).inc()

    def poll(self, system: str, seconds: float, ok: bool) -> None:
        self.poll_duration.labels(system=system).observe(seconds)
        if ok:
            self.poll_ages.note(system)
        else:
            self.poll_errors.labels(system=system).inc()

    def adapter_call(self, system: str, method: str, outcome: str, seconds: float) -> None:
        self.adapter_calls.labels(system=system, method=method, outcome=outcome).inc()
        self.adapter_seconds.labels(system=system, method=method).observe(seconds)

    def api_call(self, system: str, outcome: str) -> None:
        self.api_calls.labels(system=system, outcome=outcome).inc()

    def problem(self, kind: str) -> None:
        self.problems.labels(kind=kind).inc()

    def count_api_call(self, system: str, outcome: str) -> None:
        self.api_call(system, outcome)

    def render(self) -> bytes:
        return generate_latest(self.registry)
