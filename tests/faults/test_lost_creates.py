"""A create whose answer is lost, seen by several replicas at once: one ticket, never two — also
while the ticketing system's search index lags behind (Jira) and the look-up finds nothing yet."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from adapters.jira.simulator import JiraSimulator
from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState, utcnow
from connector.core.store import outbox_table
from connector.demo.tools import send_email
from tests.adapters.jira.test_jira_end_to_end import jira_config
from tests.conftest import EMAIL
from tests.faults.replicas import run_together


@pytest.fixture
def sim() -> Iterator[JiraSimulator]:
    simulator = JiraSimulator.seeded_demo("http://127.0.0.1")
    with simulator.serve():
        yield simulator


def replicas(sim: JiraSimulator, db: Path, count: int) -> list[Connector]:
    config = parse_config(jira_config(sim, db), "jira-replicas.yaml")
    out = [Connector.from_config(config, env=sim.demo_env(), worker_id=f"replica-{i}") for i in range(count)]
    for replica in out:
        replica.register_tool(send_email)
    return out


def make_due(conn: Connector, age: timedelta = timedelta(0)) -> None:
    """The outbox's next attempt time has come; with ``age``, the lost answer is that old."""
    values: dict = {"next_attempt_at": utcnow() - timedelta(seconds=1)}
    if age:
        values["ambiguous_since"] = utcnow() - age
    with conn.store.transaction() as tx:
        tx.execute(update(outbox_table).where(outbox_table.c.delivered_at.is_(None)).values(**values))


def test_lost_create_answer_with_search_lag_makes_one_issue_across_replicas(sim, workdir):
    sim.search_lag = 8  # a new issue stays invisible to the next 8 searches (within the grace)
    sim.drop_create_answers = 1  # the first create lands, its answer is lost
    nodes = replicas(sim, workdir / "connector.db", 3)
    try:
        first = nodes[0]
        request = asyncio.run(first.service.submit("send_email", EMAIL, {"agent": "a"}))
        assert request.state is RequestState.SUBMITTED  # answer lost: not ticketed yet
        for _ in range(6):  # every replica retries at once, again and again, inside the grace
            make_due(first)
            run_together([node.process_outbox for node in nodes])
            assert len(sim.issues) == 1
        make_due(first, age=timedelta(minutes=10))  # past the grace: a look-up finds it now
        for _ in range(4):
            run_together([node.process_outbox for node in nodes])
            make_due(first)
        after = first.store.get(request.id)
        assert after.state is RequestState.TICKETED and after.ticket.key == "OPS-1"
        assert len(sim.issues) == 1
    finally:
        for node in nodes:
            node.close()


def test_create_refused_before_anything_happened_is_made_once_after_the_grace(sim, workdir):
    sim.inject_fault(503, method="POST", path=r"/issue$")  # nothing was created
    nodes = replicas(sim, workdir / "connector.db", 2)
    try:
        request = asyncio.run(nodes[0].service.submit("send_email", EMAIL, {"agent": "a"}))
        make_due(nodes[0])
        run_together([node.process_outbox for node in nodes])
        assert len(sim.issues) == 0  # within the grace nobody re-creates on a maybe
        make_due(nodes[0], age=timedelta(minutes=10))
        run_together([node.process_outbox for node in nodes])
        assert len(sim.issues) == 1
        assert nodes[0].store.get(request.id).state is RequestState.TICKETED
    finally:
        for node in nodes:
            node.close()


def test_a_create_answered_after_the_connector_gave_up_is_recorded_when_it_lands(sim, workdir, monkeypatch):
    """The issue's POST is held past the bridge's budget (a hung call the adapter's own timeouts
    did not bound): the core gives up and schedules a retry no sooner than the call could still
    take, while the thread goes on; when Jira answers, that thread records the ticket itself. No
    retry by any replica then makes a second issue, and the request is ticketed once."""
    nodes = replicas(sim, workdir / "connector.db", 2)
    try:
        first = nodes[0]
        bridge = first.service.ctx.adapters["jira"]
        monkeypatch.setattr(bridge, "budget", lambda method: 0.4)
        slow = lambda r: r.method == "POST" and r.path.endswith("/issue")  # noqa: E731
        sim.inject_chaos(1.0, statuses=(), lost=False, slow=1.5, applies=slow)
        request = asyncio.run(first.service.submit("send_email", EMAIL, {"agent": "a"}))
        assert request.state is RequestState.SUBMITTED  # the bridge gave up after 0.4 s
        with first.store.engine.connect() as tx:
            retry_at = tx.execute(outbox_table.select()).mappings().one()["next_attempt_at"]
        assert (retry_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)).total_seconds() > 0.2
        deadline = time.monotonic() + 10
        while first.store.get(request.id).state is RequestState.SUBMITTED and time.monotonic() < deadline:
            time.sleep(0.05)
        sim.clear_faults()
        landed = first.store.get(request.id)
        assert landed.state is RequestState.TICKETED and landed.ticket.key == "OPS-1"  # no retry yet
        for _ in range(3):
            make_due(first)
            run_together([node.process_outbox for node in nodes])
        assert len(sim.issues) == 1
        rows = first.store.audit.rows(first.store.engine, request.id)
        ticketed = [r for r in rows if r["event"] == "ticketed"]
        assert len(ticketed) == 1
    finally:
        for node in nodes:
            node.close()
