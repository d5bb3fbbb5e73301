"""The core flow through a real AssistantAgent, the local desk and SQLite: what a user sees."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from connector.app.runtime import Connector
from connector.core.errors import ConflictError
from connector.core.models import RequestState, Verdict, utcnow
from connector.demo.tools import send_email
from tests.conftest import EMAIL, agent_calls, sent_mail


async def decide(
    conn: Connector,
    request_id: str,
    verdict: Verdict,
    actor: str,
    reason: str = "",
    edited: dict | None = None,
):
    request = conn.store.get(request_id)
    conn.adapters["desk"].decide(request.ticket.key, verdict, actor, reason, edited)
    after = await conn.service.refresh(request_id)
    await conn.process_outbox()
    return conn.store.get(after.id)


async def decide_once_ticketed(conn: Connector, verdict: Verdict, actor: str, reason: str = "") -> None:
    """A human who decides on the desk as soon as the waiting tool's ticket exists."""
    while not conn.store.list([RequestState.TICKETED]):
        await asyncio.sleep(0.02)
    request = conn.store.list([RequestState.TICKETED])[0]
    conn.adapters["desk"].decide(request.ticket.key, verdict, actor, reason)


def only_request(conn: Connector):
    requests = conn.store.list()
    assert len(requests) == 1
    return requests[0]


async def test_gated_tool_keeps_name_and_schema(connector):
    gated = connector.gate(send_email)
    assert gated.name == "send_email"
    assert gated.schema == send_email.schema


async def test_approve_runs_once_and_comments_on_ticket(connector, workdir):
    answer = await agent_calls(connector.gate(send_email, agent="assistant"), "send_email", EMAIL)
    request = only_request(connector)
    assert "pending" in answer and request.ticket.key in answer
    assert request.state is RequestState.TICKETED
    assert sent_mail(workdir) == []  # nothing ran before the decision

    after = await decide(connector, request.id, Verdict.APPROVED, "alice")
    assert after.state is RequestState.SUCCEEDED
    assert after.approver == "alice"
    assert len(sent_mail(workdir)) == 1

    # the same decision seen again (poll, duplicate webhook) does not run it again
    await connector.poll_once()
    await connector.service.refresh(request.id)
    await connector.service.execute(request.id)
    assert len(sent_mail(workdir)) == 1
    ticket = connector.adapters["desk"].ticket(request.ticket.key)
    assert ticket["status"] == "done"
    assert [c["body"].startswith("Executed send_email") for c in ticket["comments"]] == [True]


async def test_reject_tells_the_agent_why_and_runs_nothing(connector, workdir):
    gated = connector.gate(send_email, wait=True, wait_timeout=5, wait_interval=0.05)
    human = decide_once_ticketed(connector, Verdict.REJECTED, "alice", "tone too casual")
    answer, _ = await asyncio.gather(agent_calls(gated, "send_email", EMAIL), human)
    assert "Rejected by alice" in answer and "tone too casual" in answer
    assert only_request(connector).state is RequestState.REJECTED
    assert sent_mail(workdir) == []


async def test_wait_mode_returns_the_real_result(connector, workdir):
    gated = connector.gate(send_email, wait=True, wait_timeout=5, wait_interval=0.05)
    human = decide_once_ticketed(connector, Verdict.APPROVED, "carol")  # an approver via the group
    answer, _ = await asyncio.gather(agent_calls(gated, "send_email", EMAIL), human)
    assert "executed" in answer and "sent to jane@example.com" in answer
    assert len(sent_mail(workdir)) == 1


async def test_wait_mode_times_out_as_pending(connector, workdir):
    gated = connector.gate(send_email, wait=True, wait_timeout=0.2, wait_interval=0.05)
    answer = await agent_calls(gated, "send_email", EMAIL)
    assert "pending" in answer
    assert only_request(connector).state is RequestState.TICKETED


async def test_edit_runs_with_edited_validated_arguments(connector, workdir):
    await agent_calls(connector.gate(send_email), "send_email", EMAIL)
    request = only_request(connector)
    edited = {**request.arguments, "subject": "Refund update"}
    after = await decide(connector, request.id, Verdict.APPROVED, "alice", edited=edited)
    assert after.state is RequestState.SUCCEEDED
    assert after.approved_arguments["subject"] == "Refund update"
    assert after.arguments["subject"] == "Your refund"  # the proposal is kept
    assert sent_mail(workdir)[0]["subject"] == "Refund update"
    events = [r["event"] for r in connector.store.audit.rows(connector.store.engine, request.id)]
    assert "edited" in events


async def test_invalid_edit_is_refused_and_nothing_runs(connector, workdir):
    await agent_calls(connector.gate(send_email), "send_email", EMAIL)
    request = only_request(connector)
    after = await decide(
        connector, request.id, Verdict.APPROVED, "alice", edited={**request.arguments, "to": "not-an-address"}
    )
    assert after.state is RequestState.TICKETED
    assert sent_mail(workdir) == []
    comments = connector.adapters["desk"].ticket(request.ticket.key)["comments"]
    assert "Edited arguments refused" in comments[-1]["body"]


async def test_expiry_runs_nothing_and_says_so(connector, workdir, acr_clock):
    await agent_calls(connector.gate(send_email), "send_email", EMAIL)
    request = only_request(connector)
    assert await connector.expire_due() == 0
    acr_clock.advance("61m")  # the route's deadline is 1h
    assert await connector.expire_due() == 1
    await connector.process_outbox()
    # the expired ticket is closed: a late approval is refused and changes nothing
    with pytest.raises(ConflictError, match="already closed"):
        connector.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
    await connector.poll_once()
    after = connector.store.get(request.id)
    assert after.state is RequestState.EXPIRED
    assert sent_mail(workdir) == []
    assert "expired" in after.outcome().message().lower()
    comments = connector.adapters["desk"].ticket(request.ticket.key)["comments"]
    assert any("deadline" in c["body"] for c in comments)


async def test_approval_seen_after_deadline_expires_instead(connector, workdir, acr_clock):
    await agent_calls(connector.gate(send_email), "send_email", EMAIL)
    request = only_request(connector)
    connector.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
    acr_clock.advance("61m")  # the poll only sees it after the deadline (1h)
    await connector.poll_once()
    assert connector.store.get(request.id).state is RequestState.EXPIRED
    assert sent_mail(workdir) == []


async def test_invalid_arguments_store_nothing(connector):
    answer = await agent_calls(connector.gate(send_email), "send_email", {"to": "jane@example.com"})
    assert "validation error" in answer.lower()
    assert connector.store.list() == []


async def test_unauthorized_approver_and_requester_run_nothing(connector, workdir):
    from connector.agents.autogen.gate import approval_context

    with approval_context(requester="carol"):
        await agent_calls(connector.gate(send_email), "send_email", EMAIL)
    request = only_request(connector)
    after = await decide(connector, request.id, Verdict.APPROVED, "mallory")
    assert after.state is RequestState.TICKETED
    assert sent_mail(workdir) == []
    comments = connector.adapters["desk"].ticket(request.ticket.key)["comments"]
    assert "mallory is not an allowed approver" in comments[-1]["body"]
    events = [r["event"] for r in connector.store.audit.rows(connector.store.engine, request.id)]
    assert "decision_refused" in events
    # the same refused decision polled again is not commented twice
    await connector.poll_once()
    await connector.process_outbox()
    assert len(connector.adapters["desk"].ticket(request.ticket.key)["comments"]) == 1


async def test_requester_cannot_approve_own_request(connector, workdir):
    from connector.agents.autogen.gate import approval_context

    with approval_context(requester="carol"):
        await agent_calls(connector.gate(send_email), "send_email", EMAIL)
    request = only_request(connector)
    after = await decide(connector, request.id, Verdict.APPROVED, "carol")  # carol is in 'leads'
    assert after.state is RequestState.TICKETED
    assert sent_mail(workdir) == []


async def test_policy_auto_and_deny(connector, workdir):
    answer = await agent_calls(connector.gate(send_email), "send_email", {**EMAIL, "to": "ops@ourco.example"})
    assert "executed" in answer
    answer = await agent_calls(
        connector.gate(send_email), "send_email", {**EMAIL, "to": "x@competitor.example"}
    )
    assert "Denied by policy" in answer
    states = sorted(r.state.value for r in connector.store.list())
    assert states == ["DENIED", "SUCCEEDED"]
    assert [m["to"] for m in sent_mail(workdir)] == ["ops@ourco.example"]


async def test_concurrent_executors_run_once(config, workdir):
    """Two connectors (two engines, as two replicas would have) race on one approved request."""
    first, second = Connector.from_config(config), Connector.from_config(config)
    try:
        await agent_calls(first.gate(send_email), "send_email", EMAIL)
        request = only_request(first)
        first.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
        second.register_tool(send_email)
        results = await asyncio.gather(
            first.service.refresh(request.id),
            second.service.refresh(request.id),
            first.poll_once(),
            second.poll_once(),
        )
        assert len(sent_mail(workdir)) == 1
        assert results[0].state is RequestState.SUCCEEDED or results[1].state is RequestState.SUCCEEDED
        claims = [
            r for r in first.store.audit.rows(first.store.engine, request.id) if r["event"] == "claimed"
        ]
        assert len(claims) == 1
    finally:
        first.close()
        second.close()


async def test_crash_mid_run_is_in_doubt_not_rerun(connector, workdir):
    await agent_calls(connector.gate(send_email), "send_email", EMAIL)
    request = only_request(connector)
    connector.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
    decision = connector.adapters["desk"].read_decision(request.ticket, request)
    # a process records the approval and claims the run, then dies before finishing
    with connector.store.transaction() as conn:
        connector.store.transition(
            conn, request.id, [RequestState.TICKETED], RequestState.APPROVED, approver=decision.actor.id
        )
    assert connector.store.claim(request.id, "dead-worker", timedelta(seconds=-1))
    assert await connector.recover() == 1
    await connector.process_outbox()
    after = connector.store.get(request.id)
    assert after.state is RequestState.IN_DOUBT
    assert sent_mail(workdir) == []
    assert "check by hand" in connector.adapters["desk"].ticket(request.ticket.key)["comments"][-1]["body"]


async def test_crash_mid_run_reruns_idempotent_tool(connector, workdir):
    await agent_calls(connector.gate(send_email, idempotent=True), "send_email", EMAIL)
    request = only_request(connector)
    with connector.store.transaction() as conn:
        connector.store.transition(
            conn, request.id, [RequestState.TICKETED], RequestState.APPROVED, approver="alice"
        )
    assert connector.store.claim(request.id, "dead-worker", timedelta(seconds=-1))
    await connector.recover()
    assert connector.store.get(request.id).state is RequestState.SUCCEEDED
    assert len(sent_mail(workdir)) == 1


async def test_tampered_stored_arguments_do_not_run(connector, workdir):
    await agent_calls(connector.gate(send_email), "send_email", EMAIL)
    request = only_request(connector)
    from sqlalchemy import update

    from connector.core.store import requests_table

    with connector.store.transaction() as conn:
        conn.execute(
            update(requests_table)
            .where(requests_table.c.id == request.id)
            .values(arguments='{"to": "attacker@evil.example", "subject": "x", "body": "y", "cc": []}')
        )
    after = await decide(connector, request.id, Verdict.APPROVED, "alice")
    assert after.state is RequestState.TAMPERED  # a distinct outcome: never run, never will be
    assert "digest" in after.error
    assert sent_mail(workdir) == []


async def test_ticket_creation_failure_is_retried_not_lost(connector, workdir, monkeypatch):
    from connector.core.errors import UnavailableError

    desk = connector.adapters["desk"]
    real_create = desk.create_ticket
    calls = {"n": 0}

    def flaky(request):
        calls["n"] += 1
        if calls["n"] == 1:
            raise UnavailableError("desk down", system="desk")
        return real_create(request)

    monkeypatch.setattr(desk, "create_ticket", flaky)
    answer = await agent_calls(connector.gate(send_email), "send_email", EMAIL)
    assert "being retried" in answer
    request = only_request(connector)
    assert request.state is RequestState.SUBMITTED
    from sqlalchemy import update

    from connector.core.store import outbox_table

    with connector.store.transaction() as conn:  # make the retry due now
        conn.execute(update(outbox_table).values(next_attempt_at=utcnow()))
    await connector.process_outbox()
    after = connector.store.get(request.id)
    assert after.state is RequestState.TICKETED and after.ticket is not None
