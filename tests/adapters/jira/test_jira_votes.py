"""Votes on Jira beyond the contract suite: JSM approvals with several approvers (the approval's
``approvers`` array and each ``approverDecision``), and the vote comments' rules (someone who
rewrites another person's vote comment makes it no vote)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.jira.contract import JiraContract
from connector.core.models import RequestState
from connector.demo.tools import send_email
from tests.conftest import sent_mail
from tests.contract.fixtures import events, submit


class JsmContract(JiraContract):
    def votes_config(self, text: str) -> str:
        return text.replace("    decision:\n", "    decision:\n      mode: jsm\n", 1)


@pytest.fixture
def jira(workdir) -> Iterator[JiraContract]:
    system = JsmContract(workdir)
    system.start()
    system.sim.approval_transitions = {"approved": "Approve", "declined": "Reject"}
    system.add_person("carol", "security")
    yield system
    system.stop()


@pytest.fixture
def conn(jira):
    connector = jira.quorum_connector(["alice", "carol", "bob"], "    quorum: 2\n")
    connector.register_tool(send_email)
    yield connector
    connector.close()


async def settle(conn) -> None:
    await conn.poll_once()
    await conn.process_outbox()


async def test_jsm_approvers_reach_the_quorum_one_answer_at_a_time(jira, conn, workdir):
    request = await submit(conn)
    jira.sim.add_approval(request.ticket.key, ["alice", "carol"], required=2)
    jira.sim.answer_approval(request.ticket.key, "alice", "approve")
    await settle(conn)
    assert conn.store.get(request.id).state is RequestState.TICKETED
    jira.sim.answer_approval(request.ticket.key, "carol", "approve")  # JSM completes, moves to Approved
    await settle(conn)
    await settle(conn)
    assert conn.store.get(request.id).state is RequestState.SUCCEEDED
    assert len(sent_mail(workdir)) == 1
    assert [v["details"]["voter"] for v in events(conn, request.id, "vote")] == ["Alice Approver", "Carol"]


async def test_a_jsm_approval_completed_by_the_requester_runs_nothing(jira, conn, workdir):
    request = await submit(conn, requester="bob@example.com")
    jira.sim.add_approval(request.ticket.key, ["alice", "bob"], required=2)
    jira.sim.answer_approval(request.ticket.key, "alice", "approve")
    jira.sim.answer_approval(request.ticket.key, "bob", "approve")  # JSM says approved ...
    await settle(conn)
    await settle(conn)
    assert jira.sim.status_of(request.ticket.key) == "Approved"
    assert conn.store.get(request.id).state is RequestState.TICKETED  # ... the connector counts 1 of 2
    assert sent_mail(workdir) == []
    counted = {v["details"]["voter"]: v["details"]["counted"] for v in events(conn, request.id, "vote")}
    assert counted == {"Alice Approver": True, "Bob Requester": False}


async def test_an_edit_between_two_jsm_approvers_never_runs(jira, conn, workdir):
    """JSM gives one time for the whole approval, not one per approver: an edit made after the
    first approver answered cannot be shown to come before that answer, so it is refused (the
    first approver never saw it), and nothing runs."""
    request = await submit(conn)
    jira.sim.add_approval(request.ticket.key, ["alice", "carol"], required=2)
    jira.sim.answer_approval(request.ticket.key, "alice", "approve")
    await settle(conn)
    forged = {**request.arguments, "to": "attacker@example.com"}
    jira.driver.edit_arguments(request.ticket, "carol", forged)  # carol may approve, and edits
    jira.sim.answer_approval(request.ticket.key, "carol", "approve")  # JSM completes
    await settle(conn)
    await settle(conn)
    assert conn.store.get(request.id).state is RequestState.TICKETED
    assert sent_mail(workdir) == []
    [refused] = events(conn, request.id, "decision_refused")
    assert "no time of their own" in refused["details"]["reason"]


@pytest.fixture
def plain(workdir) -> Iterator[tuple[JiraContract, object]]:
    """A quorum of two (alice, carol) voting by comment, on the plain Jira simulator."""
    system = JiraContract(workdir)
    system.start()
    system.add_person("carol", "security")
    connector = system.quorum_connector(["alice", "carol"], "    quorum: 2\n")
    connector.register_tool(send_email)
    yield system, connector
    connector.close()
    system.stop()


async def test_a_vote_comment_rewritten_by_someone_else_is_no_vote(plain, workdir):
    system, conn = plain
    request = await submit(conn)
    system.vote(request.ticket, "alice")
    system.sim.comment(request.ticket.key, "looks fine", actor="carol")
    comment = system.sim.issue(request.ticket.key).comments[-1]
    system.sim.users["mallory"].groups.add("jira-administrators")  # may edit anyone's comment
    system.sim.edit_comment(request.ticket.key, comment["id"], "/approve", actor="mallory")
    await settle(conn)
    await settle(conn)
    assert conn.store.get(request.id).state is RequestState.TICKETED
    assert sent_mail(workdir) == []
    assert [v["details"]["voter"] for v in events(conn, request.id, "vote")] == ["Alice Approver"]
