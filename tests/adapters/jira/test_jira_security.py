"""What the approver saw is what runs, and only the request's own issue decides, on Jira: the seal
property written at creation and read back with every decision, edited or removed seals ending
the request TAMPERED (nothing runs, the ticket says why), look-ups that take only the connector's
own issues in configured projects, and polls restricted to those projects."""

from __future__ import annotations

import pytest

from connector.core.models import RequestState
from tests.adapters.intake import learn_decision
from tests.adapters.jira.jira_testlib import build_adapter, make_request
from tests.adapters.jira.test_jira_end_to_end import ask, connect
from tests.conftest import sent_mail

SEAL = "approval-connector"
BOT = "712020:0b9d5a1e-1111-4c2e-9f00-bot000000001"


@pytest.fixture
def conn(sim, workdir):
    connector = connect(sim, workdir, approvers=["5b10a2844c20165700ede21a"])
    yield connector
    connector.close()


def seal_on(sim, key: str) -> dict:
    return sim.issue(key).properties[SEAL]


async def test_seal_is_set_with_the_issue_in_one_call(conn, sim):
    _, request = await ask(conn)
    [create] = [b for m, path, b in sim.bodies if m == "POST" and path.endswith("/issue")]
    assert create["properties"] == [{"key": SEAL, "value": seal_on(sim, request.ticket.key)}]
    value = seal_on(sim, request.ticket.key)
    assert value["request"] == request.id
    assert value["seal"].startswith(f"acr1:{request.arguments_digest}:")
    assert sim.call_count("PUT", "/properties/") == 0


def tamper_edit(sim, key: str, value: dict) -> None:
    sim.set_issue_property(key, SEAL, {**value, "seal": value["seal"][:-4] + "0000"}, actor="mallory")


def tamper_remove(sim, key: str, value: dict) -> None:
    sim.delete_issue_property(key, SEAL, actor="mallory")


def tamper_other_request(sim, key: str, value: dict) -> None:
    sim.set_issue_property(key, SEAL, {**value, "request": "another-request"}, actor="mallory")


@pytest.mark.parametrize("tamper", [tamper_edit, tamper_remove, tamper_other_request])
@pytest.mark.parametrize("path", ["poll", "webhook"])
async def test_tampered_seal_never_runs_and_the_ticket_is_told(conn, sim, workdir, tamper, path):
    _, request = await ask(conn)
    key = request.ticket.key
    tamper(sim, key, seal_on(sim, key))
    sim.transition(key, "Approve", actor="alice")
    await learn_decision(conn, path, "jira", key, request.id)
    await conn.process_outbox()
    assert conn.store.get(request.id).state is RequestState.TAMPERED
    assert sent_mail(workdir) == []
    [comment] = sim.comment_bodies(key)
    assert comment.startswith("Not run:") and "nothing was run" in comment


async def test_intact_seal_runs(conn, sim, workdir):
    _, request = await ask(conn)
    sim.transition(request.ticket.key, "Approve", actor="alice")
    await conn.poll_once()
    assert conn.store.get(request.id).state is RequestState.SUCCEEDED and len(sent_mail(workdir)) == 1


# --- look-ups recover lost creates only, and only the connector's own issues -----------------------
def test_find_ticket_ignores_an_issue_someone_else_created_with_the_label(sim):
    adapter = build_adapter(sim)
    request = make_request()
    sim.create_issue("OPS", "decoy", labels=["approval-connector", "acr-req-1"], reporter="mallory")
    assert adapter.find_ticket(request) is None
    ref = adapter.create_ticket(request)
    assert adapter.find_ticket(request) == ref


def test_find_ticket_searches_only_the_routes_project(sim):
    adapter = build_adapter(sim)
    sim.add_project("OTHER", "Other", "10001", {"10009": "Task"}, "Awaiting Approval")
    sim.create_issue("OTHER", "elsewhere", labels=["acr-req-1"], reporter="svc-approval")
    assert adapter.find_ticket(make_request()) is None
    jql = [b["jql"] for m, path, b in sim.bodies if path.endswith("/search/jql")][-1]
    assert jql.startswith('project = "OPS" AND ')


def test_find_ticket_rechecks_the_label_on_every_hit(sim):
    """The index answers for what it indexed (a label removed a moment ago may still match): a hit
    that does not carry the request's label is not taken, even from the connector's own issues."""
    adapter = build_adapter(sim)
    other = adapter.create_ticket(make_request("req-2"))
    stale = sim.issue_json(sim.issue(other.key), ["labels", "creator", "reporter"])
    sim.inject_fault(200, body={"issues": [stale], "isLast": True}, path="/search/jql")
    assert adapter.find_ticket(make_request("req-1")) is None


# --- polls read only configured projects and only the stored issues ----------------------------------
async def test_decoy_with_the_label_in_another_project_decides_nothing(conn, sim, workdir):
    _, request = await ask(conn)
    sim.add_project("PLAY", "Playground", "10002", {"10010": "Task"}, "Awaiting Approval")
    decoy = sim.create_issue("PLAY", "decoy", labels=["approval-connector", f"acr-{request.id}"])
    sim.set_status(decoy.key, "Approved", actor="mallory")
    await conn.poll_once()
    jql = [b["jql"] for m, path, b in sim.bodies if path.endswith("/search/jql")][-1]
    assert jql.startswith('project in ("OPS") AND labels = "approval-connector"')
    assert conn.store.get(request.id).state is RequestState.TICKETED and sent_mail(workdir) == []


async def test_decoy_with_the_label_in_the_same_project_decides_nothing(conn, sim, workdir):
    _, request = await ask(conn)
    decoy = sim.create_issue("OPS", "decoy", labels=["approval-connector", f"acr-{request.id}"])
    sim.transition(decoy.key, "Approve", actor="alice")
    assert conn.adapters["jira"].poll(conn.store.waiting_tickets("jira"), None).events == []
    await conn.poll_once()
    assert conn.store.get(request.id).state is RequestState.TICKETED and sent_mail(workdir) == []
