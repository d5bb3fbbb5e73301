"""What the world does to timed approvals: the re-open of a stale approval lands on the ticket
but its record does not; a route disappears from the config while its call waits for a window;
an idempotent run is cut short and its window closes before it can run again."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from adapters.local.adapter import tickets as desk_tickets
from connector.core.models import RequestState, Verdict, utcnow
from tests.conftest import EMAIL, sent_mail
from tests.connector.test_timing_flows import cycle, in_whole_seconds, submit
from tests.connector.timing_systems import timing_system


@pytest.mark.parametrize("kind", ["jira", "servicenow"])
def test_a_reopen_that_landed_while_its_record_failed_is_not_stuck(kind, workdir):
    with timing_system(kind, workdir, "    valid_for: 2s\n") as system:
        conn = system.connector()
        try:
            request = asyncio.run(submit(conn))
            system.approve(conn, request.ticket)
            time.sleep(2.3)  # the approval is stale by the time its turn comes
            transitions = conn.service.execution.timing.transitions
            recorded, failures = transitions.reopened, []

            def locked_once(*args, **kwargs):  # the ticket moved back; the database write failed
                if not failures:
                    failures.append(1)
                    raise RuntimeError("database is locked")
                return recorded(*args, **kwargs)

            transitions.reopened = locked_once
            for _ in range(4):
                asyncio.run(cycle(conn))
                time.sleep(1.1)  # past the outbox's retry backoff
            after = conn.store.get(request.id)
            assert failures and after.state is RequestState.TICKETED, (after.state, after.problem)
            assert system.status(conn, request.ticket) == system.waiting_status()
            assert (
                sum("older than this route allows" in c for c in system.comments(conn, request.ticket)) == 1
            )
            system.approve(conn, request.ticket)  # the fresh decision counts
            asyncio.run(cycle(conn))
            assert conn.store.get(request.id).state is RequestState.SUCCEEDED
            assert len(sent_mail(workdir)) == 1
        finally:
            conn.close()


def test_a_call_whose_route_left_the_config_does_not_run_outside_its_window(workdir):
    with timing_system("jira", workdir, "    window: {from: ticket}\n") as system:
        conn = system.connector()
        try:
            request = asyncio.run(submit(conn))
            system.approve(conn, request.ticket)  # approved before anyone planned the window
            asyncio.run(cycle(conn))
            waiting = conn.store.get(request.id)
            assert waiting.state is RequestState.APPROVED and waiting.problem_kind == "window"
        finally:
            conn.close()
        # the route is renamed meanwhile: nobody knows the old route's window now
        system.config.write_text(system.config.read_text().replace("name: gated", "name: gated-v2"))
        conn = system.connector()
        try:
            asyncio.run(cycle(conn))
            after = conn.store.get(request.id)
            assert after.state is RequestState.APPROVED and sent_mail(workdir) == []
            assert after.problem_kind == "route" and "no longer in the config" in after.problem
        finally:
            conn.close()


async def recovered_and_drained(conn) -> None:
    """Recovery, then what it started (the re-run, its report), as the scheduler's loop would let
    them finish; a loop closed right after recovery cancels the report it kicked, possibly after
    that delivery took its lease (the fake clock never lets the lease expire)."""
    await conn.recover()
    await conn.service.drain(10)


def test_an_interrupted_idempotent_run_whose_window_closed_is_in_doubt_not_never_ran(workdir, acr_clock):
    with timing_system("jira", workdir, "    window: {from: ticket}\n") as system:
        system.config.write_text(
            system.config.read_text().replace(
                'send_email: {import: "connector.demo.tools:send_email"}',
                'send_email: {import: "connector.demo.tools:send_email", idempotent: true}',
            )
        )
        conn = system.connector()
        try:
            request = asyncio.run(conn.service.submit("send_email", EMAIL, {"agent": "triage"}))
            assert request.idempotent
            opens = in_whole_seconds(60)
            system.plan(request.ticket, opens, opens + timedelta(minutes=1))
            system.approve(conn, request.ticket)
            asyncio.run(cycle(conn))  # the window is fixed; it waits for it
            assert conn.store.get(request.id).state is RequestState.APPROVED
            acr_clock.travel_to(opens + timedelta(seconds=5))
            # a worker claims it inside the window and dies mid-run
            assert conn.store.claim(request.id, "dead-worker", timedelta(seconds=-1))
            acr_clock.travel_to(opens + timedelta(minutes=2))  # the window closes while nobody runs it
            asyncio.run(recovered_and_drained(conn))
            asyncio.run(cycle(conn))
            after = conn.store.get(request.id)
            assert after.state is RequestState.IN_DOUBT, after.state
            assert "cut short" in after.error
            said = system.comments(conn, request.ticket)
            assert any("outcome is unknown" in c for c in said)
            assert not any("Nothing was run" in c for c in said)
            assert sent_mail(workdir) == []
        finally:
            conn.close()


TIER = """\
    tiers:
      - {name: routine, when: [{arg: subject, op: startswith, value: "FYI"}], risk: low, on_deadline: approve}
"""


def test_an_edit_approved_just_before_the_deadline_is_not_replaced_by_the_proposal(workdir):
    with timing_system("local", workdir, TIER) as system:
        conn = system.connector()
        try:
            request = asyncio.run(submit(conn, {**EMAIL, "subject": "FYI: your refund"}))
            edit = {**EMAIL, "subject": "FYI: your refund", "body": "Refund of 10 EUR, not 1000."}
            conn.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice", edited_arguments=edit)
            with conn.store.transaction() as tx:  # the deadline passes before any poll saw it
                conn.store.set_fields(tx, request.id, deadline=utcnow() - timedelta(seconds=1))
            asyncio.run(conn.service.expiry.expire_due())
            asyncio.run(cycle(conn))
            assert conn.store.get(request.id).state is RequestState.EXPIRED
            assert sent_mail(workdir) == []  # neither the proposal nor, after the deadline, the edit
        finally:
            conn.close()


def test_an_arguments_field_showing_the_proposal_unchanged_is_no_edit_at_the_deadline(workdir):
    """Jira and ServiceNow fill the arguments field with the proposal itself: that is not an
    edit, so a low-risk call still approved by policy at its deadline runs (it was expired)."""
    with timing_system("local", workdir, TIER) as system:
        conn = system.connector()
        try:
            request = asyncio.run(submit(conn, {**EMAIL, "subject": "FYI: your refund"}))
            same = dict(request.arguments)
            conn.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice", edited_arguments=same)
            with conn.store.transaction() as tx:  # the deadline passes before any poll saw it
                conn.store.set_fields(tx, request.id, deadline=utcnow() - timedelta(seconds=1))
            asyncio.run(conn.service.expiry.expire_due())
            asyncio.run(cycle(conn))
            assert conn.store.get(request.id).state is RequestState.SUCCEEDED
            assert len(sent_mail(workdir)) == 1
        finally:
            conn.close()


def test_a_calendar_window_missed_during_an_outage_closes_the_call_not_moves_it(workdir):
    now = utcnow().replace(second=0, microsecond=0)
    if now.hour == 0 and now.minute < 5 or now.hour == 23 and now.minute > 55:
        pytest.skip("the window below must not cross midnight")
    start, end = now - timedelta(minutes=4), now - timedelta(minutes=1)
    timing = (
        f"    window: {{from: calendar, timezone: UTC, open: [{{days: ['*'], start: '{start:%H:%M}',"
        f" end: '{end:%H:%M}'}}]}}\n"
    )
    with timing_system("local", workdir, timing) as system:
        conn = system.connector()
        try:
            request = asyncio.run(submit(conn))
            system.approve(conn, request.ticket)
            # approved inside today's window; the connector was down until after it closed
            with conn.adapters["desk"].engine.begin() as tx:
                tx.execute(desk_tickets.update().values(decided_at=now - timedelta(minutes=2)))
            asyncio.run(cycle(conn))
            after = conn.store.get(request.id)
            assert after.state is RequestState.WINDOW_CLOSED, (after.state, after.not_before)
            assert sent_mail(workdir) == []
        finally:
            conn.close()
