"""End to end through the core: a real AssistantAgent calls the gated send_email, the issue opens
in the simulated Jira, a human transitions it, the poll finds the decision, the call runs once and
the outcome is commented back. Named test_jira_end_to_end (tests/connector has test_end_to_end)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.jira.simulator import JiraSimulator
from connector.agents.autogen.gate import approval_context
from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState
from connector.demo.tools import send_email
from tests.conftest import EMAIL, agent_calls, sent_mail

REPO = Path(__file__).resolve().parents[3]


def jira_config(sim: JiraSimulator, db: Path, approvers: list[str] | None = None) -> str:
    text = (REPO / "config" / "jira-customer-email.yaml").read_text()
    text = text.replace("https://example.atlassian.net", sim.base_url)
    text = text.replace("sqlite:///approval-connector.db", f"sqlite:///{db}")
    text = text.replace("base_delay: 0.5", "base_delay: 0.01")  # keep the 429 storm fast
    if approvers is not None:
        text = text.replace(
            '      - "group:support-leads"\n      - "5b10a2844c20165700ede21a"\n',
            "".join(f'      - "{a}"\n' for a in approvers),
        )
    return text


@pytest.fixture
def sim(acr_jira) -> JiraSimulator:
    return acr_jira.sim  # the testing kit's seeded Jira, in-process on responses


def connect(sim: JiraSimulator, workdir: Path, approvers: list[str] | None = None) -> Connector:
    config = parse_config(jira_config(sim, workdir / "connector.db", approvers), "jira-e2e.yaml")
    return Connector.from_config(config, env=sim.demo_env())


@pytest.fixture
def conn(sim, workdir) -> Iterator[Connector]:
    connector = connect(sim, workdir)
    yield connector
    connector.close()


async def ask(conn: Connector, requester: str = "bob@example.com"):
    with approval_context(requester=requester, rationale="customer asked for a refund"):
        answer = await agent_calls(conn.gate(send_email, agent="support-agent"), "send_email", EMAIL)
    [request] = conn.store.list()
    return answer, request


async def test_group_approver_is_accepted(sim, workdir):
    conn = connect(sim, workdir, approvers=["group:change-approvers"])
    try:
        _, request = await ask(conn)
        sim.transition(request.ticket.key, "Approve", actor="alice")
        await conn.poll_once()
        assert conn.store.get(request.id).state is RequestState.SUCCEEDED
    finally:
        conn.close()


async def test_rejection_runs_nothing_and_closes(conn, sim, workdir):
    _, request = await ask(conn)
    sim.comment(request.ticket.key, "Not this wording", actor="alice")
    sim.transition(request.ticket.key, "Reject", actor="alice")
    await conn.poll_once()
    await conn.process_outbox()
    after = conn.store.get(request.id)
    assert after.state is RequestState.REJECTED and sent_mail(workdir) == []
    assert sim.status_of(request.ticket.key) == "Done"


async def test_429_storm_loses_nothing(conn, sim, workdir):
    _, request = await ask(conn)
    sim.transition(request.ticket.key, "Approve", actor="alice")
    sim.inject_fault(429, times=12, headers={"Retry-After": "0"})
    for _ in range(6):
        await conn.poll_once()
        await conn.process_outbox()
    assert conn.store.get(request.id).state is RequestState.SUCCEEDED
    assert len(sent_mail(workdir)) == 1 and len(sim.comment_bodies(request.ticket.key)) == 1
    assert sim.status_of(request.ticket.key) == "Done"
    assert sim._faults == []  # every injected 429 was met
