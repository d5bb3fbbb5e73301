"""Quorum and separation of duties, on every system that records several people's votes (Jira:
vote comments or the status move, ServiceNow: approver rows): N distinct allowed approvers, one
per group where the route says so; the requester and the connector's own account never count, the
same person twice counts once, any allowed rejection rejects; each vote is audited once and
listed on the ticket once, also with several replicas polling at the same moment."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from connector.app.runtime import Connector
from connector.core.models import RequestState
from connector.demo.tools import send_email
from connector.testing.contract import ContractSystem
from tests.conftest import sent_mail
from tests.contract.fixtures import events, served_with_webhooks, ticketed

QUORUM = "    quorum: 2\n"


@pytest.fixture
def voting(system: ContractSystem) -> ContractSystem:
    if not system.votes_possible:
        pytest.skip(f"{system.kind}: one decision per ticket (no votes)")
    system.second = system.add_person("carol", "security")  # type: ignore[attr-defined]
    return system


def quorum_conn(system: ContractSystem, rules: str = QUORUM, worker: str | None = None) -> Connector:
    conn = system.quorum_connector([system.approver, system.second], rules, worker)  # type: ignore[attr-defined]
    conn.register_tool(send_email)
    return conn


@pytest.fixture
def qconn(voting: ContractSystem) -> Iterator[Connector]:
    conn = quorum_conn(voting)
    yield conn
    conn.close()


def vote_notes(system: ContractSystem, conn: Connector, ticket) -> list[str]:
    comments = system.driver_for(conn).comments(ticket)
    return [c for c in comments if "Vote recorded" in c or "Vote not counted" in c]


async def settle(conn: Connector) -> None:
    await conn.poll_once()
    await conn.process_outbox()


async def test_a_quorum_is_reached_across_two_polls_and_runs_once(voting, qconn, workdir):
    request = await ticketed(qconn)
    voting.vote(request.ticket, voting.approver)
    await settle(qconn)
    assert qconn.store.get(request.id).state is RequestState.TICKETED
    assert sent_mail(workdir) == []
    assert any("1 of 2 approvals" in n for n in vote_notes(voting, qconn, request.ticket))
    voting.vote(request.ticket, voting.second)  # type: ignore[attr-defined]
    await settle(qconn)
    await settle(qconn)
    assert qconn.store.get(request.id).state is RequestState.SUCCEEDED
    assert len(sent_mail(workdir)) == 1
    votes = events(qconn, request.id, "vote")
    assert len(votes) == 2 and all(v["details"]["counted"] for v in votes)
    assert len(vote_notes(voting, qconn, request.ticket)) == 2


async def test_the_same_person_twice_counts_once(voting, qconn, workdir):
    request = await ticketed(qconn)
    voting.vote(request.ticket, voting.approver)
    await settle(qconn)
    voting.vote(request.ticket, voting.approver)
    await settle(qconn)
    assert qconn.store.get(request.id).state is RequestState.TICKETED
    assert sent_mail(workdir) == []
    assert all("1 of 2 approvals" in n for n in vote_notes(voting, qconn, request.ticket))


async def test_the_requester_and_the_connectors_account_never_count(voting, workdir):
    conn = quorum_conn(voting)
    try:
        context = {"agent": "a", "requester": voting.second}  # type: ignore[attr-defined]
        submitted = await conn.service.submit(
            "send_email", {"to": "jane@example.com", "subject": "s", "body": "b"}, context
        )
        voting.vote(submitted.ticket, voting.approver)
        voting.vote(submitted.ticket, voting.second)  # type: ignore[attr-defined]
        if hasattr(voting.sim, "advance"):
            voting.sim.advance(2)  # the connector's account votes last: it must not hide the others
        voting.vote(submitted.ticket, voting.connector_account)
        await settle(conn)
        await settle(conn)
        assert conn.store.get(submitted.id).state is RequestState.TICKETED
        assert sent_mail(workdir) == []
        counted = {v["details"]["voter"]: v["details"]["counted"] for v in events(conn, submitted.id, "vote")}
        assert sum(counted.values()) == 1, counted
        notes = vote_notes(voting, conn, submitted.ticket)
        assert any("not counted" in n and "requested this call" in n for n in notes)
    finally:
        conn.close()


async def test_one_allowed_rejection_rejects(voting, qconn, workdir):
    request = await ticketed(qconn)
    voting.vote(request.ticket, voting.approver)
    voting.vote(request.ticket, voting.second, approve=False)  # type: ignore[attr-defined]
    await settle(qconn)
    after = qconn.store.get(request.id)
    assert after.state is RequestState.REJECTED
    assert sent_mail(workdir) == []


async def test_one_approver_per_group(voting, workdir):
    third = voting.add_person("dave", "security")
    rules = (
        "    quorum: 2\n    from_groups: [security, "
        + ("CAB Approval" if voting.kind == "servicenow" else "change-approvers")
        + "]\n"
    )
    conn = voting.quorum_connector([voting.approver, voting.second, third], rules)  # type: ignore[attr-defined]
    conn.register_tool(send_email)
    try:
        request = await ticketed(conn)
        voting.vote(request.ticket, voting.second)  # type: ignore[attr-defined]
        voting.vote(request.ticket, third)  # two of security: not one per group
        await settle(conn)
        assert conn.store.get(request.id).state is RequestState.TICKETED
        assert any("still needed from" in n for n in vote_notes(voting, conn, request.ticket))
        voting.vote(request.ticket, voting.approver)
        await settle(conn)
        await settle(conn)
        assert conn.store.get(request.id).state is RequestState.SUCCEEDED
        assert len(sent_mail(workdir)) == 1
    finally:
        conn.close()


async def test_answering_another_members_group_row_is_no_membership(voting, workdir):
    """ServiceNow: a person who answers the approver row a group asked of one of its members (a
    delegate, an admin) votes as themself, with their own groups, not as a member of that group."""
    if voting.kind != "servicenow":
        pytest.skip(f"{voting.kind}: votes carry no group of their own")
    third = voting.add_person("dave", "security")
    rules = "    quorum: 2\n    from_groups: [security, CAB Approval]\n"
    conn = voting.quorum_connector([voting.approver, voting.second, third], rules)  # type: ignore[attr-defined]
    conn.register_tool(send_email)
    try:
        request = await ticketed(conn)
        voting.vote(request.ticket, voting.second)  # type: ignore[attr-defined]  # security
        sim = voting.sim
        cab_member = sim.require_user(voting.approver)["sys_id"]
        [row] = [
            r
            for r in sim.rows["sysapproval_approver"].values()
            if r["sysapproval"] == request.ticket.id and r["approver"] == cab_member
        ]
        sim.write("sysapproval_approver", row["sys_id"], {"state": "approved"}, third)  # dave answers it
        await settle(conn)
        await settle(conn)
        assert conn.store.get(request.id).state is RequestState.TICKETED  # CAB Approval still needed
        assert sent_mail(workdir) == []
    finally:
        conn.close()


def test_replicas_polling_at_once_list_each_vote_once(voting, workdir):
    first, second = quorum_conn(voting, worker="replica-a"), quorum_conn(voting, worker="replica-b")
    try:
        request = asyncio.run(ticketed(first))
        voting.vote(request.ticket, voting.approver)
        barrier = threading.Barrier(2)
        failures: list[BaseException] = []

        def replica(conn: Connector) -> None:
            try:
                barrier.wait(timeout=10)  # both re-read the ticket and count its votes at once
                asyncio.run(conn.service.refresh(request.id, wait=False))
                asyncio.run(conn.process_outbox())
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=replica, args=(c,)) for c in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert failures == []
        asyncio.run(settle(second))
        assert len(events(first, request.id, "vote")) == 1
        assert len(vote_notes(voting, first, request.ticket)) == 1
        assert first.store.get(request.id).state is RequestState.TICKETED
    finally:
        first.close()
        second.close()


async def test_votes_are_counted_on_their_webhooks_without_a_poll(voting, qconn, workdir):
    """A served connector with the system's webhooks pointed at it: each vote (a Jira vote
    comment, a ServiceNow approver's answer) is hinted at once, so it is counted within moments,
    not at the next poll (30 s away here); the quorum's second vote runs the call once."""
    from tests.connector.service_harness import wait_until

    request = await ticketed(qconn)
    with served_with_webhooks(voting, qconn):
        voting.vote(request.ticket, voting.approver)
        wait_until(lambda: len(events(qconn, request.id, "vote")) == 1, timeout=10)
        assert qconn.store.get(request.id).state is RequestState.TICKETED
        voting.vote(request.ticket, voting.second)  # type: ignore[attr-defined]
        wait_until(lambda: qconn.store.get(request.id).state is RequestState.SUCCEEDED, timeout=10)
    decided = events(qconn, request.id, "decided")
    assert decided and decided[0]["details"]["source"] == "webhook"
    assert len(events(qconn, request.id, "vote")) == 2
    assert len(sent_mail(workdir)) == 1
