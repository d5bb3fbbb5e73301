"""Ticketing API calls per approval, counted by the Jira simulator (in-process on ``responses``)
with N requests pending: the webhook path, the poll path, and a per-ticket polling baseline."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import responses

from adapters.jira.simulator import JiraSimulator
from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import DecisionEvent, RequestState

from .setup import Seeded, jira_config, seed_jira_finished, seed_jira_pending

SEARCH_PATH = r"/search(/jql)?$"


class CallWindow:
    """Counts the simulator's answered requests (and the JQL of searches) over one phase."""

    def __init__(self, sim: JiraSimulator) -> None:
        self.sim = sim
        self.start_calls = len(sim.calls)
        self.start_bodies = len(sim.bodies)
        self.started = time.perf_counter()

    def result(self) -> dict[str, Any]:
        calls = self.sim.calls[self.start_calls :]
        bodies = self.sim.bodies[self.start_bodies :]
        jqls = [b.get("jql", "") for m, p, b in bodies if p.endswith("/search/jql") and isinstance(b, dict)]
        distinct = list(dict.fromkeys(jqls))
        return {
            "calls": len(calls),
            "by_endpoint": dict(Counter(f"{m} {_shape(p)}" for m, p, _ in calls)),
            "errors": sum(1 for _, _, s in calls if s >= 400),
            "searches": len(distinct),
            "search_pages": len(jqls),
            "jql_chars_max": max((len(q) for q in distinct), default=0),
            "jql_chars_total": sum(len(q) for q in distinct),
            "seconds": round(time.perf_counter() - self.started, 3),
        }


def _shape(path: str) -> str:
    """'/rest/api/2/issue/OPS-12/transitions' -> '/issue/{key}/transitions' (groups endpoints)."""
    parts = path.split("/rest/api/2", 1)[-1].split("/")
    return "/".join("{key}" if i == 2 and parts[1] == "issue" else s for i, s in enumerate(parts))


def _approve(sim: JiraSimulator, seeded: list[Seeded]) -> None:
    for item in seeded:
        sim.transition(item.key, "Approve", actor="alice")


async def _measure(
    conn: Connector, sim: JiraSimulator, seeded: list[Seeded], ks: list[int], baseline_max: int
):
    service = conn.service
    adapter = conn.adapters["jira"]
    out: dict[str, Any] = {"pending": len(seeded)}
    adapter.service_identities()  # warm-up: GET /myself once per process (cached afterwards)

    window = CallWindow(sim)
    await service.poll_once()
    out["poll_idle"] = window.result()  # a cycle in which nothing was decided

    # (a) webhook path: the hint names the request (its label); the service re-reads the issue
    target, rest = seeded[0], seeded[1:]
    _approve(sim, [target])
    window = CallWindow(sim)
    hint = DecisionEvent(system="jira", ticket_key=target.key, request_id=target.request_id, source="webhook")
    await service.handle_event(hint)
    await service.process_outbox()
    webhook = window.result()
    webhook["state"] = conn.store.get(target.request_id).state.value
    webhook["issue_status"] = sim.status_of(target.key)
    out["webhook"] = webhook

    # (b) poll path: k issues decided between two cycles
    out["poll"] = {}
    for k in ks:
        batch, rest = rest[:k], rest[k:]
        if len(batch) < k:
            break
        _approve(sim, batch)
        window = CallWindow(sim)
        applied = await service.poll_once()
        cycle = window.result()
        window = CallWindow(sim)
        await service.process_outbox()
        reports = window.result()
        succeeded = sum(conn.store.get(b.request_id).state is RequestState.SUCCEEDED for b in batch)
        out["poll"][str(k)] = {
            "decided": k,
            "applied": applied,
            "succeeded": succeeded,
            "cycle": cycle,
            "reports": reports,
            "calls_per_approval": round((cycle["calls"] + reports["calls"]) / k, 2),
        }

    # (c) baseline: one GET /issue per waiting ticket per cycle (what per-ticket polling costs)
    waiting = [r for r in conn.store.list([RequestState.TICKETED], system="jira") if r.ticket]
    sample = waiting[:baseline_max]
    window = CallWindow(sim)
    for request in sample:
        assert request.ticket is not None
        await asyncio.to_thread(adapter.read_decision, request.ticket, request)
    measured = window.result()
    per_ticket = measured["calls"] / len(sample) if sample else 0.0
    out["baseline"] = {
        "waiting": len(waiting),
        "read": len(sample),
        "calls_measured": measured["calls"],
        "calls_per_cycle": round(per_ticket * len(waiting)),
        "extrapolated": len(sample) < len(waiting),
        "seconds_measured": measured["seconds"],
    }
    return out


def run_size(pending: int, ks: list[int], baseline_max: int) -> dict[str, Any]:
    """One fresh simulator + connector + store with ``pending`` waiting requests."""
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp:
        os.environ["APPROVAL_CONNECTOR_DEMO_MAILBOX"] = str(Path(tmp) / "mailbox.jsonl")
        sim = JiraSimulator.seeded_demo("https://acme.atlassian.test")
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            sim.install(rsps)
            config = parse_config(jira_config(sim.base_url, Path(tmp) / "calls.db"), "bench-calls.yaml")
            conn = Connector.from_config(config, env=sim.demo_env())
            try:
                started = time.perf_counter()
                seeded = seed_jira_pending(sim, conn.store, pending + sum(ks) + 1)
                seed_seconds = time.perf_counter() - started
                # the cycle with N pending: N waiting besides the ones decided below
                result = asyncio.run(_measure(conn, sim, seeded, ks, baseline_max))
                result["pending"] = pending
                result["seed_seconds"] = round(seed_seconds, 2)
            finally:
                conn.close()
    return result


def run_history(finished: int, pending: int = 10) -> dict[str, Any]:
    """One idle poll cycle (nothing newly decided) with ``pending`` waiting requests and
    ``finished`` approval issues the connector already closed (Done) inside the poll's window."""
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        sim = JiraSimulator.seeded_demo("https://acme.atlassian.test")
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            sim.install(rsps)
            config = parse_config(jira_config(sim.base_url, Path(tmp) / "history.db"), "bench-history.yaml")
            conn = Connector.from_config(config, env=sim.demo_env())
            try:
                seed_jira_pending(sim, conn.store, pending)
                seed_jira_finished(sim, conn.store, finished)
                conn.adapters["jira"].service_identities()
                window = CallWindow(sim)
                asyncio.run(conn.service.poll_once())  # start-up: the full look back
                sweep = window.result()
                window = CallWindow(sim)
                asyncio.run(conn.service.poll_once())  # steady state: only since the previous poll
                cycle = window.result()
            finally:
                conn.close()
    return {"pending": pending, "finished_in_window": finished, "sweep": sweep, "cycle": cycle}


def run(sizes: list[int], ks: list[int], baseline_max: int, history: list[int]) -> dict[str, Any]:
    return {
        "by_pending": {str(n): run_size(n, ks, baseline_max) for n in sizes},
        "by_finished_in_window": {str(h): run_history(h) for h in history},
    }
