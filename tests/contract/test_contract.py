"""The rules every adapter keeps, tried against each ticketing system the way users and the world
would: through a real Connector, people acting in the system, the system's own API behind it."""

from __future__ import annotations

import pytest

from connector.core.models import PendingTicket, ReportKind, RequestState, TicketRef, Verdict
from connector.core.reports import outcome_report
from tests.conftest import sent_mail
from tests.contract.fixtures import events, make_due, served_with_webhooks, submit, ticketed


async def test_the_ticket_carries_the_request_and_shows_what_will_run(system, conn):
    request = await ticketed(conn, subject="Refund for order 1042")
    assert system.tickets_carrying(request.id) == 1
    shown = system.driver_for(conn).describe(request.ticket)
    assert request.arguments_digest in shown and "Refund for order 1042" in shown
    assert conn.adapters[system.name].seals_tickets  # and it reads the seal back with decisions
    decision = await conn.bridges[system.name].read_decision(request.ticket, request)
    assert conn.service.ctx.sealer.ticket_problem(request, decision.shown_seal) is None


async def test_an_approval_runs_the_call_once_and_says_so_on_the_ticket(system, conn, workdir):
    request = await ticketed(conn)
    system.driver_for(conn).approve(request.ticket, system.approver)
    await conn.poll_once()
    await conn.poll_once()  # a second look changes nothing
    await conn.process_outbox()
    assert conn.store.get(request.id).state is RequestState.SUCCEEDED
    assert len(sent_mail(workdir)) == 1
    comments = system.driver_for(conn).comments(request.ticket)
    assert sum("Executed send_email" in c for c in comments) == 1
    [decided] = events(conn, request.id, "decided")
    approver = await conn.bridges[system.name].resolve_identity(system.approver)
    assert decided["actor"] == approver.id  # who the system says acted, by its id


async def test_a_rejection_runs_nothing_and_its_reason_reaches_the_request(system, conn, workdir):
    request = await ticketed(conn)
    system.driver_for(conn).reject(request.ticket, system.approver, "wrong customer")
    await conn.poll_once()
    after = conn.store.get(request.id)
    assert after.state is RequestState.REJECTED and "wrong customer" in (after.decision_reason or "")
    assert sent_mail(workdir) == []


async def test_a_create_whose_answer_was_lost_makes_one_ticket(system, conn):
    system.lose_next_create_answer(conn)
    request = await submit(conn)
    for _ in range(3):  # the outbox retries; every retry looks before it creates
        make_due(conn)
        await conn.process_outbox()
    after = conn.store.get(request.id)
    assert after.state is RequestState.TICKETED and after.ticket is not None
    assert system.tickets_carrying(request.id) == 1


async def test_the_connectors_own_account_never_counts(system, conn, workdir):
    request = await ticketed(conn)
    other = system.connector(approvers=["*"])  # even where anyone may approve
    try:
        system.driver_for(other).approve(request.ticket, system.connector_account)
        await other.poll_once()
        assert other.store.get(request.id).state is RequestState.TICKETED
        assert sent_mail(workdir) == []
    finally:
        other.close()


async def test_a_status_the_mapping_does_not_know_is_unknown_and_nothing_runs(system, conn, workdir):
    request = await ticketed(conn)
    system.set_unmapped_status(request.ticket, system.approver)
    await conn.poll_once()
    assert conn.store.get(request.id).state is RequestState.TICKETED
    assert sent_mail(workdir) == []
    [refused] = events(conn, request.id, "decision_refused")
    assert "not in the route's decision mapping" in refused["details"]["reason"]


async def test_a_report_is_never_posted_twice(system, conn):
    request = await ticketed(conn)
    system.driver_for(conn).approve(request.ticket, system.approver)
    await conn.poll_once()
    await conn.process_outbox()
    done = conn.store.get(request.id)
    before = system.driver_for(conn).comments(done.ticket)
    report = outcome_report(done, ReportKind.SUCCEEDED)
    await conn.bridges[system.name].report(done.ticket, report, 1)  # a retry after a lost answer
    assert system.driver_for(conn).comments(done.ticket) == before


async def test_a_poll_returns_only_the_tickets_it_was_given(system, conn):
    first, second = await ticketed(conn), await ticketed(conn, subject="another")
    driver = system.driver_for(conn)
    driver.approve(first.ticket, system.approver)
    driver.approve(second.ticket, system.approver)
    pending = [
        PendingTicket(
            request_id=first.id, route=first.route, ticket=first.ticket, created_at=first.created_at
        )
    ]
    result = await conn.bridges[system.name].poll(pending, None)
    assert {e.ticket_key for e in result.events} == {first.ticket.key}
    assert all(e.decision is not None and e.decision.verdict is Verdict.APPROVED for e in result.events)


async def test_a_webhook_is_only_a_hint(system, conn, workdir):
    from tests.connector.service_harness import wait_until

    request = await ticketed(conn)
    with served_with_webhooks(system, conn):
        system.driver_for(conn).approve(request.ticket, system.approver)
        wait_until(lambda: conn.store.get(request.id).state is RequestState.SUCCEEDED)
    decided = events(conn, request.id, "decided")
    assert decided and decided[0]["details"]["source"] == "webhook"  # re-read through the API on a hint
    assert len(sent_mail(workdir)) == 1


def test_every_system_declares_what_the_core_relies_on(system):
    from connector.core.adapter import TicketAdapter, load_adapter_class

    cls = load_adapter_class(system.kind)
    assert issubclass(cls, TicketAdapter) and cls.seals_tickets
    assert cls.resolve_identity is not TicketAdapter.resolve_identity


__all__ = ["TicketRef"]


IO_METHODS = (
    "create_ticket",
    "find_ticket",
    "poll",
    "read_decision",
    "report",
    "service_identities",
    "resolve_identity",
    "questions",
    "check",
)


async def test_no_adapter_call_runs_on_the_event_loop(system, conn, workdir):
    """Every I/O method of the adapter asserts it is not on the loop's thread; a whole lifecycle
    (create, poll, re-read, report, identities, a rejected and an approved request) then runs."""
    import threading

    loop_thread = threading.get_ident()
    adapter = conn.adapters[system.name]
    calls: list[str] = []
    for name in IO_METHODS:
        real = getattr(adapter, name)

        def guarded(*args, _real=real, _name=name, **kwargs):
            assert threading.get_ident() != loop_thread, f"{_name} ran on the event loop"
            calls.append(_name)
            return _real(*args, **kwargs)

        setattr(adapter, name, guarded)
    first, second = await ticketed(conn), await ticketed(conn, subject="second")
    driver = system.driver_for(conn)
    driver.approve(first.ticket, system.approver)
    driver.reject(second.ticket, system.approver, "no")
    await conn.poll_once()
    await conn.service.refresh(first.id)
    await conn.process_outbox()
    assert conn.store.get(first.id).state is RequestState.SUCCEEDED
    assert {"create_ticket", "poll", "report", "service_identities"} <= set(calls)


async def test_a_second_ticket_for_one_request_is_told_where_it_is_decided(system, conn, workdir):
    """Two creates both landed (a late answer after the retry made another): the request keeps
    its ticket, the second one gets one note saying which ticket decides; a decision there runs
    nothing."""
    request = await ticketed(conn)
    sealed = request.model_copy(update={"ticket_seal": conn.service.ctx.sealer.ticket_seal(request)})
    extra = conn.adapters[system.name].create_ticket(sealed)
    if extra.key == request.ticket.key:
        pytest.skip(f"{system.kind}: one ticket per request by construction (a create is idempotent)")
    conn.service.transitions.ticketed(request.id, extra, f"{request.id}:ticket")  # the late answer
    await conn.process_outbox()
    await conn.process_outbox()
    driver = system.driver_for(conn)
    notes = [c for c in driver.comments(extra) if "duplicates" in c]
    assert len(notes) == 1 and request.ticket.key in notes[0]
    assert not [c for c in driver.comments(request.ticket) if "duplicates" in c]
    assert conn.store.get(request.id).ticket.key == request.ticket.key
    driver.approve(extra, system.approver)
    await conn.poll_once()
    assert conn.store.get(request.id).state is RequestState.TICKETED
    assert sent_mail(workdir) == []
