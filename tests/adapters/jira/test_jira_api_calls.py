"""Jira API calls per approval, counted from the simulator's request log, through a real Connector
built from the shipped config/jira-customer-email.yaml (only its URLs and database path changed):
create, decision and outcome of one approval cost at most 3 calls on the webhook path (POST
issue, one GET issue that also yields the transitions, one POST transitions carrying the comment)
and at most 3 plus the shared search pages on the poll path. What is looked up once per process
or per person (serverInfo, fields, /myself, an approver's groups) is counted apart and must not
grow with the number of approvals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses

from adapters.jira.simulator import JiraSimulator
from connector.agents.autogen.gate import approval_context
from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState
from connector.demo.tools import send_email
from tests.adapters.intake import deliver_webhooks
from tests.adapters.jira.test_jira_end_to_end import REPO
from tests.conftest import EMAIL, agent_calls, sent_mail

HOOK = "https://connector.example.com/webhooks/jira"
# Calls made once per process, per person or per poll cycle, not per approval:
SHARED = re.compile(r"^GET .*/(serverInfo|field|myself|user|user/search)$|^POST .*/search/jql$")


def shipped_config(sim: JiraSimulator, db: Path) -> Connector:
    text = (REPO / "config" / "jira-customer-email.yaml").read_text()
    text = text.replace("https://example.atlassian.net", sim.base_url)
    text = text.replace("sqlite:///approval-connector.db", f"sqlite:///{db}")
    return Connector.from_config(parse_config(text, "jira-customer-email.yaml"), env=sim.demo_env())


@pytest.fixture
def sim() -> Iterator[JiraSimulator]:
    simulator = JiraSimulator.seeded_demo("https://acme.atlassian.test")
    simulator.users["alice"].groups.add("support-leads")  # the config's group approvers
    simulator.register_webhook(HOOK, simulator.demo_env()["JIRA_WEBHOOK_SECRET"])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        simulator.install(rsps)
        yield simulator


@pytest.fixture
def conn(sim, workdir) -> Iterator[Connector]:
    connector = shipped_config(sim, workdir / "connector.db")
    yield connector
    connector.close()


async def one_approval(conn: Connector, sim: JiraSimulator, path: str) -> tuple[list[str], list[str]]:
    """Calls made for one approval from submission to the outcome on the ticket: (per approval,
    shared)."""
    start = len(sim.calls)
    known = {r.id for r in conn.store.list()}
    with approval_context(requester="bob@example.com", rationale="customer asked for a refund"):
        await agent_calls(conn.gate(send_email, agent="support-agent"), "send_email", EMAIL)
    [request] = [r for r in conn.store.list() if r.id not in known]
    sent = len(sim.webhooks_sent)
    sim.transition(request.ticket.key, "Approve", actor="alice")
    if path == "webhook":
        await deliver_webhooks(conn, "jira", sim.webhooks_sent[sent:])
    else:
        await conn.poll_once()
    await conn.process_outbox()
    done = conn.store.get(request.id)
    assert done.state is RequestState.SUCCEEDED and sim.status_of(request.ticket.key) == "Done"
    calls = [f"{m} {p}" for m, p, _ in sim.calls[start:]]
    return [c for c in calls if not SHARED.match(c)], [c for c in calls if SHARED.match(c)]


OWN = {  # per approval, in order: create, (the re-read), the outcome
    "webhook": [
        "POST /rest/api/2/issue",
        "GET /rest/api/2/issue/{id}",
        "POST /rest/api/2/issue/{id}/transitions",
    ],
    "poll": [
        "POST /rest/api/2/issue",
        "GET /rest/api/2/issue/{id}/transitions",
        "POST /rest/api/2/issue/{id}/transitions",
    ],
}


@pytest.mark.parametrize("path", ["webhook", "poll"])
async def test_three_calls_per_approval(conn, sim, workdir, path):
    first, shared_first = await one_approval(conn, sim, path)
    second, shared_second = await one_approval(conn, sim, path)
    for own in (first, second):
        assert [re.sub(r"/issue/\d+", "/issue/{id}", c) for c in own] == OWN[path]
    assert sum(c.endswith("/user") for c in shared_first + shared_second) == 1  # alice's groups, once
    # the requester, resolved to a Jira identity (to keep them from approving), once per process
    assert sum(c.endswith("/user/search") for c in shared_first + shared_second) == 1
    # nothing else grows with the approvals but the poll's one search page per cycle
    assert shared_second == ([] if path == "webhook" else ["POST /rest/api/2/search/jql"])
    assert len(sent_mail(workdir)) == 2
