"""Approve with edits, on every system that offers it: the approver edits the arguments where the
ticket keeps them (the desk's edit, a Jira field, a ServiceNow column) and approves; the edited
call runs only when it fits the tool's schema, was made by an allowed approver and before the
approval, and the ticket and the audit say what changed."""

from __future__ import annotations

import json

import pytest

from connector.core.models import RequestState, digest_of
from tests.conftest import sent_mail
from tests.contract.fixtures import events, ticketed


def on_ticket(system) -> None:
    if not system.edits_on_ticket:
        pytest.skip(f"{system.kind}: edits are made with the decision itself, not on the ticket")


async def refused_with(conn, request, workdir, reason: str) -> None:
    """One cycle later: nothing ran, the request still waits, and the refusal says ``reason``."""
    await conn.poll_once()
    await conn.process_outbox()
    assert conn.store.get(request.id).state is RequestState.TICKETED
    assert sent_mail(workdir) == []
    [refused] = events(conn, request.id, "decision_refused")
    assert reason in refused["details"]["reason"]


async def test_an_approved_edit_runs_and_the_ticket_shows_the_diff(system, conn, workdir):
    request = await ticketed(conn)
    edited = {**request.arguments, "subject": "Your refund (corrected)"}
    system.driver_for(conn).approve(request.ticket, system.approver, edited)
    await conn.poll_once()
    await conn.process_outbox()
    after = conn.store.get(request.id)
    assert after.state is RequestState.SUCCEEDED, after
    [mail] = sent_mail(workdir)
    assert mail["subject"] == "Your refund (corrected)"
    [edit] = events(conn, request.id, "edited")
    assert edit["details"]["proposed"] == request.arguments
    assert edit["details"]["approved"] == edited
    assert edit["details"]["approved_digest"] == digest_of(edited) == after.approved_digest
    [ran] = events(conn, request.id, "succeeded")
    assert ran["details"]["executed_digest"] == digest_of(edited)
    comments = system.driver_for(conn).comments(request.ticket)
    [diff] = [c for c in comments if "Approved with edits" in c]
    assert "subject" in diff and '"Your refund (corrected)"' in diff and "body" not in diff


@pytest.mark.parametrize(
    ("change", "said"),
    [({"cc": "boss@example.com"}, "cc"), ({"subject": 42}, "subject")],
    ids=["unknown-key", "invalid-type"],
)
async def test_an_edit_that_does_not_fit_the_schema_runs_nothing(system, conn, workdir, change, said):
    request = await ticketed(conn)
    system.driver_for(conn).approve(request.ticket, system.approver, {**request.arguments, **change})
    await conn.poll_once()
    await refused_with(conn, request, workdir, said)
    comments = system.driver_for(conn).comments(request.ticket)
    assert sum("Edited arguments refused" in c and said in c for c in comments) == 1


async def test_an_edit_that_is_not_json_runs_nothing(system, conn, workdir):
    on_ticket(system)
    request = await ticketed(conn)
    system.edit_arguments(request.ticket, system.approver, '{"to": "jane@example.com", ')
    system.driver_for(conn).approve(request.ticket, system.approver)
    await refused_with(conn, request, workdir, "not valid JSON")


async def test_an_edit_by_someone_who_may_not_approve_never_runs(system, conn, workdir):
    on_ticket(system)
    request = await ticketed(conn)
    forged = {**request.arguments, "to": "attacker@example.com"}
    system.edit_arguments(request.ticket, system.other, forged)  # has edit rights, may not approve
    system.driver_for(conn).approve(request.ticket, system.approver)
    await refused_with(conn, request, workdir, "not an allowed approver")
    comments = system.driver_for(conn).comments(request.ticket)
    assert sum("Decision not accepted" in c and "edited by" in c for c in comments) == 1


async def test_an_edit_after_the_approval_never_runs(system, conn, workdir):
    on_ticket(system)
    request = await ticketed(conn)
    system.driver_for(conn).approve(request.ticket, system.approver)
    system.sim.advance(2) if hasattr(system.sim, "advance") else None
    later = {**request.arguments, "subject": "changed after the approval"}
    system.edit_arguments(request.ticket, system.approver, later)  # before the connector looked
    await refused_with(conn, request, workdir, "after the approval")


async def test_arguments_too_long_for_the_place_leave_it_empty_and_still_decide(system, conn, workdir):
    on_ticket(system)
    request = await ticketed(conn, body="x" * 5000)  # longer than a 4000-character column
    decision = await conn.bridges[system.name].read_decision(request.ticket, request)
    assert decision.edit_problem is None  # never a cut JSON text that refuses every approval
    assert decision.edited_arguments in (None, request.arguments)  # empty, or whole (Jira: 32767)
    system.driver_for(conn).approve(request.ticket, system.approver)
    await conn.poll_once()
    assert conn.store.get(request.id).state is RequestState.SUCCEEDED
    assert len(sent_mail(workdir)) == 1


async def test_an_edit_rewritten_without_a_trace_is_credited_to_nobody_and_never_runs(system, conn, workdir):
    """The approver edits and approves; then the arguments are rewritten by a path that leaves no
    audit row (a script, an import). The approver's audited edit is not what the ticket holds, so
    the text now there has no author: refused, never run as the approver's."""
    if system.kind != "servicenow":
        pytest.skip(f"{system.kind}: every change of the field is in its history")
    request = await ticketed(conn)
    mine = {**request.arguments, "subject": "Your refund (corrected)"}
    system.edit_arguments(request.ticket, system.approver, mine)
    system.driver_for(conn).approve(request.ticket, system.approver)
    _, row = system.sim.find(request.ticket.key)
    row["u_approved_arguments"] = json.dumps({**request.arguments, "to": "attacker@example.com"})
    await refused_with(conn, request, workdir, "who edited the arguments")
