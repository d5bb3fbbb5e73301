"""Faults found in review, each reproduced before its fix: races between replicas, crashes
between a side effect and its record, and inputs that must not be trusted."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from connector.app.cli import decide
from connector.app.runtime import Connector
from connector.core.errors import ConfigError, ConflictError, UnavailableError
from connector.core.models import Actor, DecisionEvent, RequestState, TicketDecision, Verdict, utcnow
from connector.core.store import outbox_table
from connector.demo.tools import read_jsonl
from tests.conftest import EMAIL, agent_calls, sent_mail

CHANGE = {"summary": "Restart the web tier", "plan": "1. drain 2. restart 3. verify", "risk": "low"}


def make_due(store, item_id=None):
    """Pretend the outbox lease / backoff has elapsed."""
    with store.transaction() as conn:
        stmt = update(outbox_table).where(outbox_table.c.delivered_at.is_(None))
        if item_id:
            stmt = stmt.where(outbox_table.c.id == item_id)
        conn.execute(stmt.values(next_attempt_at=utcnow() - timedelta(seconds=1)))


async def ticketed_change(connector):
    """A TICKETED apply_change request on route 'change' (approvers '*')."""
    from connector.demo.tools import apply_change

    connector.register_tool(apply_change)
    request = await connector.service.submit("apply_change", CHANGE, {"agent": "a"})
    assert request.state is RequestState.TICKETED
    return request


def approve_in_store(store, request_id):
    with store.transaction() as conn:
        assert store.transition(
            conn, request_id, [RequestState.TICKETED], RequestState.APPROVED, approver="bob"
        )


# --- F1: a report whose delivery crashed after the comment landed is redelivered with attempt=0,
# so the Jira / ServiceNow adapters skip their marker check (attempt > 0 only) and post it again.


class Crash(BaseException):
    """The process dies (SIGKILL / OOM) right after the adapter call returned."""


async def test_redelivery_after_crash_is_marked_as_a_retry(connector, monkeypatch):
    from connector.demo.tools import send_email

    connector.register_tool(send_email)
    request = await connector.service.submit("send_email", EMAIL, {"agent": "a"})
    desk = connector.adapters["desk"]
    real_report = desk.report
    attempts = []

    def report_then_crash(ticket, report, attempt):
        attempts.append(attempt)
        real_report(ticket, report, attempt)  # the comment lands on the ticket ...
        if len(attempts) == 1:
            raise Crash()  # ... and the process dies before outbox_delivered

    monkeypatch.setattr(desk, "report", report_then_crash)
    await decide(connector, request, Verdict.APPROVED, "alice")  # the report's delivery dies
    assert connector.store.get(request.id).state is RequestState.SUCCEEDED
    assert [i["delivered_at"] for i in connector.store.outbox_for(request.id) if i["kind"] == "report"] == [
        None
    ]
    make_due(connector.store)  # the 120 s outbox lease runs out; another worker picks it up
    await connector.process_outbox()
    assert len(attempts) == 2
    # The redelivery must tell the adapter to look for its marker first (attempt > 0):
    # adapters/jira/adapter.py:386 and adapters/servicenow/adapter.py:542 only check when attempt > 0.
    assert attempts[1] > 0, f"redelivery after a crash passed attempt={attempts[1]}: Jira/ServiceNow re-post"


# --- F2: ticket created but its answer lost, then the request expires: the ticket is never recorded,
# never commented or closed; it stays open forever and an approval on it does nothing silently.


async def test_expired_request_closes_the_ticket_that_was_created(connector, monkeypatch):
    from connector.demo.tools import send_email

    connector.register_tool(send_email)
    desk = connector.adapters["desk"]
    real_create = desk.create_ticket

    def created_but_answer_lost(request):
        real_create(request)
        raise UnavailableError("timeout reading the answer", system="desk")

    monkeypatch.setattr(desk, "create_ticket", created_but_answer_lost)
    request = await connector.service.submit("send_email", EMAIL, {"agent": "a"})
    assert request.state is RequestState.SUBMITTED
    monkeypatch.undo()

    with connector.store.transaction() as conn:  # the deadline passes before the retry
        connector.store.set_fields(conn, request.id, deadline=utcnow() - timedelta(seconds=1))
    assert await connector.expire_due() == 1
    make_due(connector.store)
    await connector.process_outbox()
    await connector.process_outbox()

    ref = desk.find_ticket(request)
    assert ref is not None  # the ticket exists on the desk
    ticket = desk.ticket(ref.key)
    stored = connector.store.get(request.id)
    assert stored.ticket is not None, "the connector never learned the ticket it created"
    assert ticket["status"] != "open" or ticket["comments"], (
        f"{ref.key} is still open with no comment although the request expired"
    )


async def test_expiry_while_ticket_creation_in_flight_still_reports(connector, monkeypatch):
    """Same gap without any error: expiry lands while create_ticket is in flight (another replica's
    scheduler). set_ticket keeps EXPIRED (store.py:274-276) but no EXPIRED report is enqueued
    (expire() saw ticket=None, service.py:547), so the ticket stays open with no note."""
    import asyncio as _asyncio

    from connector.demo.tools import send_email

    connector.register_tool(send_email)
    desk = connector.adapters["desk"]
    real_create = desk.create_ticket

    def create_while_expiring(request):
        ref = real_create(request)
        _asyncio.run(connector.service.expire(request.id))  # deadline hit meanwhile
        return ref

    monkeypatch.setattr(desk, "create_ticket", create_while_expiring)
    request = await connector.service.submit("send_email", EMAIL, {"agent": "a"})
    monkeypatch.undo()
    assert request.state is RequestState.EXPIRED and request.ticket is not None
    make_due(connector.store)
    await connector.process_outbox()
    ticket = desk.ticket(request.ticket.key)
    assert ticket["status"] != "open" or ticket["comments"], (
        f"{request.ticket.key} is still open with no comment although the request expired"
    )


# --- F3: on the local desk, once a non-approver (or the requester) decides, the ticket leaves
# 'open' for good: the refusal note says 'still waiting for an allowed approver' but no allowed
# approver can decide any more (ConflictError).


async def test_allowed_approver_can_still_decide_after_a_refused_decision(connector):
    from connector.demo.tools import send_email

    connector.register_tool(send_email)
    request = await connector.service.submit("send_email", EMAIL, {"agent": "a"})
    after = await decide(connector, request, Verdict.APPROVED, "mallory")
    assert after.state is RequestState.TICKETED  # refused: mallory is not an approver
    try:
        after = await decide(connector, after, Verdict.APPROVED, "alice")
    except ConflictError as exc:
        pytest.fail(f"alice (an allowed approver) cannot decide any more: {exc}")
    assert after.state is RequestState.SUCCEEDED


# --- F4: recover_stale_claims acts on a stale snapshot; its EXECUTING->APPROVED transition is not
# conditioned on the lease still being expired / the same claimant, so it can re-open a fresh claim
# taken by another replica and run the call a second time concurrently.


async def test_recovery_does_not_reopen_a_fresh_claim(connector, config, monkeypatch, workdir):
    from connector.demo.tools import apply_change

    connector.register_tool(apply_change, idempotent=True)
    request = await connector.service.submit("apply_change", CHANGE, {})
    assert request.idempotent
    approve_in_store(connector.store, request.id)
    assert connector.store.claim(request.id, "W1", timedelta(seconds=-1))  # W1 died; lease expired

    other = Connector.from_config(config, worker_id="C")  # replica C, same database
    try:
        real_stale = connector.store.stale_claims

        def stale_then_replica_c_recovers_and_claims(now):
            snapshot = real_stale(now)
            # Replica C recovers the same claim and starts running it with a fresh lease.
            with other.store.transaction() as conn:
                assert other.store.transition(
                    conn,
                    request.id,
                    [RequestState.EXECUTING],
                    RequestState.APPROVED,
                    claimed_by=None,
                    lease_until=None,
                )
            assert other.store.claim(request.id, "C", timedelta(seconds=60))
            return snapshot

        monkeypatch.setattr(connector.store, "stale_claims", stale_then_replica_c_recovers_and_claims)
        await connector.recover()  # replica A
        runs = [r for r in read_jsonl("APPROVAL_CONNECTOR_DEMO_CHANGELOG", "x") if r["kind"] == "change"]
        stored = connector.store.get(request.id)
        assert runs == [], f"replica A ran the call while C holds a live claim (state {stored.state})"
        assert stored.state is RequestState.EXECUTING and stored.claimed_by == "C"
    finally:
        other.close()


# --- F5a: one failed lease extension kills the heartbeat task for good; a long run then looks
# stale to every replica (IN_DOUBT / re-run while still running).
# F5b: when a run finishes after losing its claim, _finish drops the result: no audit row says the
# call ran or what it returned.


async def test_heartbeat_survives_one_failed_extension(connector, monkeypatch):
    from connector.demo.tools import apply_change

    request = await ticketed_change(connector)
    approve_in_store(connector.store, request.id)
    real_extend = connector.store.extend_lease
    calls = []

    def flaky_extend(*args):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database is locked")  # one transient DB error
        return real_extend(*args)

    monkeypatch.setattr(connector.store, "extend_lease", flaky_extend)
    seen_stale = []

    async def slow_run(args, token):
        await asyncio.sleep(2.8)  # lease is 2s in the test config; heartbeat every ~0.67s
        seen_stale.extend(r.id for r in connector.store.stale_claims(utcnow()))
        return "done"

    monkeypatch.setattr(apply_change, "run", slow_run)
    after = await connector.service.execute(request.id)
    assert after.state is RequestState.SUCCEEDED
    assert request.id not in seen_stale, f"lease lapsed mid-run after {len(calls)} heartbeat call(s)"


async def test_result_of_a_run_that_lost_its_claim_is_audited(connector, monkeypatch):
    from connector.demo.tools import apply_change

    request = await ticketed_change(connector)
    approve_in_store(connector.store, request.id)

    async def run_while_recovered_elsewhere(args, token):
        # another replica decided this run was stale and moved it to IN_DOUBT meanwhile
        with connector.store.transaction() as conn:
            connector.store.transition(conn, request.id, [RequestState.EXECUTING], RequestState.IN_DOUBT)
        return "change applied: RESULT-XYZ"

    monkeypatch.setattr(apply_change, "run", run_while_recovered_elsewhere)
    after = await connector.service.execute(request.id)
    assert after.state is RequestState.IN_DOUBT
    rows = list(connector.store.audit.rows(connector.store.engine, request.id))
    assert any("RESULT-XYZ" in str(r["details"]) for r in rows), (
        "the call ran and returned, but nothing in the audit trail says so: "
        + ", ".join(r["event"] for r in rows)
    )


# --- F6: a route pinned on gate(route=...) skips both the route's tool list and the deny/auto
# routes that would otherwise apply: send_email goes through 'change' (approvers '*'), and an
# e-mail to @competitor.example (deny route) becomes an ordinary approval.


async def test_pinned_route_must_list_the_tool(connector):
    from connector.demo.tools import send_email

    with pytest.raises(ConfigError, match="does not list tool 'send_email'"):
        connector.gate(send_email, route="change")  # 'change' lists only apply_change


async def test_pinned_route_does_not_bypass_deny(connector):
    from connector.demo.tools import send_email

    tool = connector.gate(send_email, route="customer-email")
    await agent_calls(tool, "send_email", {**EMAIL, "to": "ceo@competitor.example"})
    [request] = connector.store.list()
    assert request.state is RequestState.DENIED, f"deny route bypassed: {request.state} via {request.route}"


# --- F7: DecisionEvent.source defaults to "poll", and handle_event trusts event.decision when
# source == "poll". Any caller of the public Connector.handle_event that builds an event from
# untrusted input (custom webhook glue) and forgets `source` gets an approval applied without the
# ticket being re-read: the call runs although nobody approved the ticket.


async def test_unverified_decision_is_not_trusted_by_default(connector, workdir):
    from connector.demo.tools import send_email

    connector.register_tool(send_email)
    request = await connector.service.submit("send_email", EMAIL, {"agent": "a"})
    forged = DecisionEvent(
        system="desk",
        ticket_key=request.ticket.key,
        request_id=request.id,
        decision=TicketDecision(verdict=Verdict.APPROVED, actor=Actor(id="alice"), status="approved"),
    )
    after = await connector.handle_event(forged)
    desk_ticket = connector.adapters["desk"].ticket(request.ticket.key)
    assert desk_ticket["status"] == "open"  # nobody approved on the desk
    assert after.state is RequestState.TICKETED, f"ran without a verified decision: {after.state}"
    assert sent_mail(workdir) == []


# --- a short-lived process: its event loop closes while a store call takes something ---------
def close_the_loop_during(connector, monkeypatch, store_call: str) -> None:
    """Approve a stored call on the desk, then run one poll cycle (runs and reports not awaited)
    in ``asyncio.run`` and exit while ``store_call`` is under way in its thread, as a short script
    does: closing the loop cancels whatever awaited it. Returns once that thread has finished."""
    import threading
    import time

    store = connector.store
    real = getattr(store, store_call)
    started = threading.Event()

    def slow(*args):
        started.set()
        time.sleep(0.3)  # the loop closes meanwhile
        return real(*args)

    monkeypatch.setattr(store, store_call, slow)

    async def one_cycle_then_exit() -> None:
        await connector.service.poll_once(wait=False)  # learns the decision, runs, kicks reports
        await asyncio.to_thread(started.wait, 5)  # the store call is under way: exit now

    asyncio.run(one_cycle_then_exit())
    time.sleep(0.5)  # the call's thread has long finished
    monkeypatch.setattr(store, store_call, real)  # (not undo(): the mailbox's variable stays)


def test_a_delivery_cancelled_while_taking_its_lease_gives_it_back(connector, workdir, monkeypatch):
    """A short script runs one poll cycle in ``asyncio.run`` and exits: the loop closes and
    cancels the outcome report's delivery while its lease is being written. The lease still lands
    in its thread; it is given back untried, so the next outbox cycle (here, or a ``serve``
    elsewhere) reports at once, as the first attempt, not minutes later when the lease runs out."""
    from connector.demo.tools import send_email

    connector.register_tool(send_email)
    store = connector.store
    request = asyncio.run(connector.service.submit("send_email", EMAIL, {"agent": "a"}))
    connector.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
    close_the_loop_during(connector, monkeypatch, "lease_outbox_row")
    assert store.get(request.id).state is RequestState.SUCCEEDED
    [report] = [i for i in store.outbox_for(request.id) if i["kind"] == "report"]
    assert report["delivered_at"] is None and report["leased_by"] is None and report["attempts"] == 0
    assert asyncio.run(connector.process_outbox()) == 1  # due now: no waiting out a lease
    rows = [r["event"] for r in store.audit.rows(store.engine, request.id)]
    assert rows.count("reported") == 1


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request, workdir, config_path):
    """The test's connector on SQLite, and on PostgreSQL where it is configured."""
    from connector.app.config import parse_config
    from connector.testing.postgres import temporary_schema
    from tests.conftest import LOCAL_CONFIG, pg_url

    if request.param == "sqlite":
        conn = Connector.from_config(parse_config(config_path.read_text(), str(config_path)))
        yield conn
        conn.close()
        return
    if not pg_url():
        pytest.skip("PostgreSQL not configured")
    with temporary_schema(pg_url()) as url:
        text = LOCAL_CONFIG.format(db="x").replace("sqlite:///x", url)
        conn = Connector.from_config(parse_config(text, str(config_path)))
        yield conn
        conn.close()


def test_a_run_cancelled_while_its_claim_is_written_gives_the_claim_back(any_store, workdir, monkeypatch):
    """The same short script, exiting while the approved call's claim is being written. The claim
    lands in its thread, but the tool never starts: the claim is given back (audited), so the
    request is APPROVED again and runs once at the next cycle, instead of sitting EXECUTING until
    its lease runs out and recovery declares a run that never happened in doubt."""
    from connector.demo.tools import send_email

    connector = any_store
    connector.register_tool(send_email)
    store = connector.store
    request = asyncio.run(connector.service.submit("send_email", EMAIL, {"agent": "a"}))
    connector.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
    close_the_loop_during(connector, monkeypatch, "claim")
    assert sent_mail(workdir) == []
    stored = store.get(request.id)
    assert stored.state is RequestState.APPROVED and stored.claimed_by is None
    events = [r["event"] for r in store.audit.rows(store.engine, request.id)]
    assert events[-2:] == ["claimed", "unclaimed"]
    asyncio.run(connector.service.poll_once())  # the next cycle runs it: at once, once
    assert store.get(request.id).state is RequestState.SUCCEEDED
    assert len(sent_mail(workdir)) == 1
    assert asyncio.run(connector.service.verify_audit()) == []


# --- an agent stopped while its auto-approved call is being stored --------------------------
def test_an_auto_call_cancelled_while_it_is_stored_ends_not_run(connector, workdir, monkeypatch):
    """An auto route's call is stored already claimed, to run at once. The agent is stopped (its
    task cancelled) while that insert is under way: the row lands, but nothing will run it. It
    ends FAILED, not run (audited, nothing sent), instead of EXECUTING until recovery declares
    in doubt a run that never happened — and it does not run later either."""
    import threading
    import time

    from autogen_core import CancellationToken

    from connector.demo.tools import send_email

    store = connector.store
    real_insert = store.insert_request
    storing = threading.Event()

    def slow_insert(*args):
        storing.set()
        time.sleep(0.3)  # the caller is cancelled meanwhile
        return real_insert(*args)

    monkeypatch.setattr(store, "insert_request", slow_insert)
    internal = {**EMAIL, "to": "ops@ourco.example"}  # the `internal` route: mode auto

    async def stopped_mid_insert() -> None:
        call = asyncio.ensure_future(connector.gate(send_email).run_json(internal, CancellationToken()))
        await asyncio.to_thread(storing.wait, 5)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call  # returns once the landed row is settled

    asyncio.run(stopped_mid_insert())
    time.sleep(0.5)  # the insert's thread has long finished
    monkeypatch.setattr(store, "insert_request", real_insert)
    [request] = store.list()
    assert request.route == "internal" and request.state is RequestState.FAILED
    assert "cancelled before it ran; not run" in (request.error or "")
    events = [r["event"] for r in store.audit.rows(store.engine, request.id)]
    assert events == ["submitted", "auto_approved", "claimed", "failed"], events
    time.sleep(2.2)  # past the 2 s lease: recovery finds nothing to declare, nothing runs later
    asyncio.run(connector.recover())
    asyncio.run(connector.service.poll_once())
    assert store.get(request.id).state is RequestState.FAILED and sent_mail(workdir) == []
    assert asyncio.run(connector.service.verify_audit()) == []
