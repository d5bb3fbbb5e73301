"""Timing through real Connectors on every ticketing system (the local desk; Jira and ServiceNow
simulated over HTTP): reminders and escalation posted once by several replicas, change windows
that open or close before the run, approvals that went stale during an outage, pre-approved
standard changes inside and outside their conditions, risk tiers acting at the deadline."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from connector.core.models import RequestState, utcnow
from connector.demo.tools import send_email
from tests.conftest import EMAIL, pg_url, sent_mail
from tests.connector.test_store import _postgres_schema_url
from tests.connector.timing_systems import SYSTEMS, timing_system
from tests.faults.replicas import run_together


@pytest.fixture
def shared_store(workdir):
    """What replicas share: PostgreSQL (a schema of its own) when the test URL is set, else a
    SQLite file."""
    if pg_url():
        yield from _postgres_schema_url()
    else:
        yield f"sqlite:///{workdir / 'replicas.db'}"


async def submit(conn, arguments=None):
    conn.register_tool(send_email)
    request = await conn.service.submit("send_email", arguments or EMAIL, {"agent": "triage"})
    assert request.ticket is not None
    return request


def in_whole_seconds(seconds: int):
    """A moment at least ``seconds`` from now, on a whole second (ServiceNow keeps no less)."""
    return (utcnow() + timedelta(seconds=seconds)).replace(microsecond=0) + timedelta(seconds=1)


def approved_in_a_window(system, conn, length: timedelta):
    """A call whose ticket plans a window opening in a few seconds, approved, seen by one cycle."""
    request = asyncio.run(submit(conn))
    opens = in_whole_seconds(2)
    system.plan(request.ticket, opens, opens + length)
    system.approve(conn, request.ticket)
    asyncio.run(cycle(conn))
    return request, opens


async def cycle(conn):
    """What the scheduler does in one round: decisions, runs, reminders, deliveries."""
    await conn.run_all_jobs_once()
    await conn.service.drain(10)


@pytest.mark.parametrize("kind", SYSTEMS)
def test_reminders_and_escalation_are_posted_once_by_three_replicas(kind, workdir, shared_store):
    store = shared_store
    # reminders at 1s and 3s, the escalation at 2s: each is the latest due for a while (after an
    # outage only the latest reminder is posted)
    timing = "    remind_after: 1s\n    remind_every: 2s\n    max_reminders: 2\n    escalate_after: 2s\n"
    with timing_system(kind, workdir, timing, store=store) as system:
        replicas = [system.connector(worker_id=f"replica-{i}") for i in range(3)]
        try:
            request = asyncio.run(submit(replicas[0]))
            ticket = request.ticket

            def all_posted() -> bool:
                return (
                    sum("Reminder" in c or "Escalated" in c for c in system.comments(replicas[0], ticket))
                    >= 3
                )

            def replica(conn):
                async def job():
                    end = time.monotonic() + 8
                    done_at = None
                    while time.monotonic() < end:  # every replica runs the jobs, all the time
                        await conn.service.nudge_due()
                        await conn.process_outbox()
                        await asyncio.sleep(0.05)
                        if done_at is None and all_posted():
                            done_at = time.monotonic()
                        if done_at is not None and time.monotonic() - done_at > 0.4:
                            return  # and a little longer: a second copy would show by now

                return job

            run_together([replica(r) for r in replicas])
            asyncio.run(replicas[1].process_outbox())
            comments = system.comments(replicas[0], ticket)
            assert sum("Reminder 1 of 2" in c for c in comments) == 1
            assert sum("Reminder 2 of 2" in c for c in comments) == 1
            assert sum("Escalated: no decision within 2s" in c for c in comments) == 1
            mention = {"local": "For: alice", "jira": "[~accountid:5b10a2844c20165700ede21a]"}
            assert mention.get(kind, "For: change.manager") in next(c for c in comments if "Reminder 1" in c)
            expected = {"local": "carol", "jira": "Carol Lead", "servicenow": "CAB Approval"}[kind]
            assert system.assignee(replicas[0], ticket) == expected
            events = [
                row["event"] for row in replicas[0].store.audit.rows(replicas[0].store.engine, request.id)
            ]
            assert events.count("reminder_due") == 2 and events.count("escalated") == 1
            assert replicas[0].store.get(request.id).state is RequestState.TICKETED
        finally:
            for r in replicas:
                r.close()


@pytest.mark.parametrize("kind", ["jira", "servicenow"])
def test_an_approved_call_waits_for_its_window_then_runs_inside_it(kind, workdir, acr_clock):
    with timing_system(kind, workdir, "    window: {from: ticket}\n") as system:
        conn = system.connector()
        try:
            request, opens = approved_in_a_window(system, conn, timedelta(minutes=30))
            waiting = conn.store.get(request.id)
            assert waiting.state is RequestState.APPROVED and waiting.not_before == opens
            assert "waiting for its change window" in waiting.outcome().message()
            assert any("waits for its change window" in c for c in system.comments(conn, request.ticket))
            assert sent_mail(workdir) == []
            acr_clock.travel_to(opens + timedelta(seconds=0.2))  # the kit's clock: no waiting
            asyncio.run(cycle(conn))
            done = conn.store.get(request.id)
            assert done.state is RequestState.SUCCEEDED
            assert len(sent_mail(workdir)) == 1
        finally:
            conn.close()


@pytest.mark.parametrize("kind", ["jira", "servicenow"])
def test_a_window_that_closes_before_the_run_ends_the_request_without_running_it(kind, workdir, acr_clock):
    with timing_system(kind, workdir, "    window: {from: ticket}\n") as system:
        conn = system.connector()
        try:
            request, opens = approved_in_a_window(system, conn, timedelta(seconds=1))
            assert conn.store.get(request.id).state is RequestState.APPROVED
            acr_clock.travel_to(opens + timedelta(seconds=1.3))  # the connector was down
            asyncio.run(cycle(conn))
            after = conn.store.get(request.id)
            assert after.state is RequestState.WINDOW_CLOSED
            assert "change window closed before it could run" in after.outcome().message()
            assert any(
                "window closed before send_email could run" in c
                for c in system.comments(conn, request.ticket)
            )
            assert system.status(conn, request.ticket) == {"jira": "Failed", "servicenow": "in state 4"}[kind]
            assert sent_mail(workdir) == []
        finally:
            conn.close()


def test_a_calendar_window_closed_today_waits_and_says_when_it_opens(workdir):
    today = utcnow().date().isoformat()
    timing = (
        "    window: {from: calendar, timezone: UTC, open: [{days: ['*'], start: '00:00', end: '00:00'}],"
        f" blackout: ['{today}']}}\n"
    )
    with timing_system("local", workdir, timing) as system:
        conn = system.connector()
        try:
            request = asyncio.run(submit(conn))
            system.approve(conn, request.ticket)
            asyncio.run(cycle(conn))
            waiting = conn.store.get(request.id)
            assert waiting.state is RequestState.APPROVED
            assert waiting.not_before.date() > utcnow().date()  # tomorrow, after the blackout
            note = next(
                c for c in system.comments(conn, request.ticket) if "waits for its change window" in c
            )
            assert f"{waiting.not_before:%Y-%m-%d %H:%M UTC}" in note
            assert sent_mail(workdir) == []
        finally:
            conn.close()


@pytest.mark.parametrize("kind", SYSTEMS)
def test_an_approval_older_than_valid_for_after_an_outage_reopens_the_ticket(kind, workdir):
    with timing_system(kind, workdir, "    valid_for: 3s\n") as system:
        conn = system.connector()
        try:
            request = asyncio.run(submit(conn))
            system.approve(conn, request.ticket)
            time.sleep(3.3)  # the connector was down: it sees the approval only now
            asyncio.run(cycle(conn))
            after = conn.store.get(request.id)
            assert after.state is RequestState.TICKETED and after.approver is None
            assert sent_mail(workdir) == []
            assert system.status(conn, request.ticket) == system.waiting_status()
            assert any(
                "is older than this route allows (3s)" in c for c in system.comments(conn, request.ticket)
            )
            system.approve(conn, request.ticket)  # a fresh decision
            asyncio.run(cycle(conn))
            assert conn.store.get(request.id).state is RequestState.SUCCEEDED
            assert len(sent_mail(workdir)) == 1
            events = [row["event"] for row in conn.store.audit.rows(conn.store.engine, request.id)]
            assert events.count("approval_stale") == 1 and "reopened" in events
            assert conn.store.audit.verify(conn.store.engine) == []
        finally:
            conn.close()


@pytest.mark.parametrize("kind", SYSTEMS)
def test_a_standard_change_inside_its_conditions_runs_without_a_human_and_keeps_its_record(kind, workdir):
    with timing_system(kind, workdir, "", standard=True) as system:
        conn = system.connector()
        try:
            inside = asyncio.run(submit(conn, {**EMAIL, "to": "ops@ourco.example"}))
            assert inside.state is RequestState.SUCCEEDED and inside.route == "std"
            assert inside.approver == "policy:standard"
            asyncio.run(conn.process_outbox())
            assert any("Executed send_email" in c for c in system.comments(conn, inside.ticket))
            assert "pre-approved standard change" in system.describe(conn, inside.ticket)
            if kind == "servicenow":
                record = system.sim.record(inside.ticket.key)
                assert record["type"] == "standard" and record["state"] == "3"
                assert any("/api/sn_chg_rest/change/standard/" in path for _, path, _ in system.sim.calls)
            outside = asyncio.run(submit(conn))  # a customer address: the normal gate
            assert outside.route == "gated" and outside.state is RequestState.TICKETED
            assert [m["to"] for m in sent_mail(workdir)] == ["ops@ourco.example"]
        finally:
            conn.close()


@pytest.mark.parametrize("kind", SYSTEMS)
def test_risk_tiers_act_at_their_deadline(kind, workdir):
    timing = """    on_deadline: expire
    tiers:
      - name: routine
        when: [{arg: subject, op: startswith, value: "FYI"}]
        risk: low
        deadline: 1m
        on_deadline: approve
      - name: urgent
        when: [{arg: subject, op: startswith, value: "URGENT"}]
        risk: high
        deadline: 1m
        on_deadline: escalate
"""
    with timing_system(kind, workdir, timing) as system:
        conn = system.connector()
        try:
            routine = asyncio.run(submit(conn, {**EMAIL, "subject": "FYI: your refund"}))
            urgent = asyncio.run(submit(conn, {**EMAIL, "subject": "URGENT: your refund"}))
            plain = asyncio.run(submit(conn, {**EMAIL, "subject": "Your refund"}))
            assert routine.deadline - routine.created_at == timedelta(minutes=1)
            with conn.store.transaction() as tx:  # the deadlines pass
                for r in (routine, urgent, plain):
                    conn.store.set_fields(tx, r.id, deadline=utcnow() - timedelta(seconds=1))
            asyncio.run(cycle(conn))
            ran = conn.store.get(routine.id)
            assert ran.state is RequestState.SUCCEEDED and ran.approver == "policy:deadline"
            assert "tier routine, marked low-risk" in ran.decision_reason
            assert any("No decision before the deadline" in c for c in system.comments(conn, routine.ticket))
            escalated = conn.store.get(urgent.id)
            assert escalated.state is RequestState.TICKETED and escalated.deadline > utcnow()
            assert any("Escalated: no decision" in c for c in system.comments(conn, urgent.ticket))
            assert conn.store.get(plain.id).state is RequestState.EXPIRED
            assert [m["subject"] for m in sent_mail(workdir)] == ["FYI: your refund"]
        finally:
            conn.close()


@pytest.mark.parametrize("kind", ["jira", "servicenow"])
def test_check_config_live_checks_what_the_timing_needs(kind, workdir):
    timing = "    window: {from: ticket}\n    valid_for: 30m\n    escalate_after: 1d\n"
    with timing_system(kind, workdir, timing, standard=True) as system:
        conn = system.connector()
        try:
            rows = {row.item: row for row in asyncio.run(conn.bridges[kind].check(True))}
        finally:
            conn.close()
    if kind == "jira":
        assert rows["route gated: ticket.window.start"].ok
        assert rows["route gated: ticket.window.end"].ok
        reopen = rows["route gated: outcome.on_reopen transition 'Reopen'"]
        assert reopen.ok or reopen.warning
    else:
        template = next(row for item, row in rows.items() if "standard change template" in item)
        assert template.ok and template.detail == "Send a routine e-mail"
        assert rows["route gated: escalation group CAB Approval"].ok
        assert any("start_date" in item and row.ok for item, row in rows.items())


def test_check_config_live_fails_on_a_standard_template_that_does_not_exist(workdir):
    with timing_system("servicenow", workdir, "", standard=True) as system:
        text = system.config.read_text()
        line = next(x for x in text.splitlines() if "standard_template" in x)
        system.config.write_text(text.replace(line, "      standard_template: " + "f" * 32))
        conn = system.connector()
        try:
            rows = asyncio.run(conn.bridges["servicenow"].check(True))
        finally:
            conn.close()
    template = next(row for row in rows if "standard change template" in row.item)
    assert not template.ok and "Change Management API" in template.detail


def test_servicenow_escalation_can_ask_an_approval_group_too(workdir):
    with timing_system("servicenow", workdir, "    escalate_after: 1s\n") as system:
        text = system.config.read_text().replace(
            "escalation: {assignment_group: CAB Approval}",
            "escalation: {assignment_group: CAB Approval, approval_group: Platform Operations}",
        )
        system.config.write_text(text)
        conn = system.connector()
        try:
            request = asyncio.run(submit(conn))
            time.sleep(1.1)
            asyncio.run(cycle(conn))
            asyncio.run(cycle(conn))  # a second cycle finds nothing more to do
            sim = system.sim
            asked = {
                sim.rows["sys_user"][row["approver"]]["user_name"]: row["state"]
                for row in sim.approvals(request.ticket.key)
            }
            assert asked == {"change.manager": "requested", "requester": "requested"}
            groups = [r for r in sim.rows["sysapproval_group"].values() if r["parent"] == request.ticket.id]
            assert len(groups) == 1
            notes = [c for c in system.comments(conn, request.ticket) if "Escalated" in c]
            assert len(notes) == 1 and "approval group Platform Operations" in notes[0]
        finally:
            conn.close()


def test_a_reminder_due_after_the_decision_is_not_posted(workdir):
    with timing_system("local", workdir, "    remind_after: 1s\n") as system:
        conn = system.connector()
        try:
            request = asyncio.run(submit(conn))
            time.sleep(1.1)
            outbox = conn.service.outbox
            outbox.kick = lambda *args, **kwargs: None  # queued, not delivered yet
            asyncio.run(conn.service.nudge_due())
            del outbox.kick
            system.approve(conn, request.ticket)
            asyncio.run(conn.poll_once())
            asyncio.run(conn.process_outbox())
            assert conn.store.get(request.id).state is RequestState.SUCCEEDED
            assert not any("Reminder" in c for c in system.comments(conn, request.ticket))
            rows = list(conn.store.audit.rows(conn.store.engine, request.id))
            skipped = [r for r in rows if r["event"] == "report_skipped"]
            assert [r["details"]["report"] for r in skipped] == ["reminder"]
        finally:
            conn.close()


def test_a_stale_approval_never_counts_while_jira_cannot_reopen_the_issue(workdir):
    with timing_system("jira", workdir, "    valid_for: 2s\n") as system:
        text = system.config.read_text().replace("on_reopen: Reopen", "on_reopen: Start review")
        system.config.write_text(text)  # a transition the workflow offers only while waiting
        conn = system.connector()
        try:
            request = asyncio.run(submit(conn))
            system.approve(conn, request.ticket)
            time.sleep(2.3)
            for _ in range(3):
                asyncio.run(cycle(conn))
            after = conn.store.get(request.id)
            assert after.state is RequestState.SUBMITTED  # waits for its ticket to be back
            assert system.status(conn, request.ticket) == "Approved"  # the old approval is still shown
            assert after.problem_kind == "reopen" and "not offered now" in after.problem
            assert sent_mail(workdir) == []
        finally:
            conn.close()
