"""Exactly one continuation completes, whatever happens to the processes doing it: the resuming
process killed -9 mid-continuation (another process resumes from the stored state), two replicas
racing for the same continuation (real threads, each with its own event loop and engine), and a
holder whose lease ran out while it still worked (its late result is refused). A continuation
that keeps failing is marked and said on the ticket; a run that stopped before saving its state
is never resumed from a state that does not know the call."""

from __future__ import annotations

import asyncio
import signal
import time

from sqlalchemy import update

from connector.core.models import RequestState, Verdict, utcnow
from connector.core.store import outbox_table
from tests.agents import teams
from tests.agents.harness import cli_args, connector, finished, spawn, step_messages, write_config
from tests.conftest import sent_mail
from tests.connector.service_harness import wait_until
from tests.connector.test_store import store_url  # noqa: F401 - fixture
from tests.faults.replicas import run_together


def start_waiting(config, kind="single", cid=None, worker_id=None):
    """The application's process: start a conversation that defers; return the request it waits on."""
    cid = cid or f"case-{kind}"

    async def go():
        conn = connector(config, worker_id)
        try:
            conversation = conn.conversation(teams.FACTORIES[kind], cid, requester="jane@example.com")
            result = await conversation.run("Send Jane the refund e-mail.")
            assert result.status == "waiting", result
            return result.waiting_on[0]
        finally:
            conn.close()

    return asyncio.run(go())


def approved_not_resumed(config, request):
    """Approve and run the call in a process that cannot resume conversations: the continuation is
    queued and left for whoever processes the outbox next."""

    async def go():
        conn = connector(config, "decider")
        conn.service.conversations.resumers.clear()
        try:
            conn.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
            after = await conn.service.refresh(request.id)
            assert after.state is RequestState.SUCCEEDED
            await conn.process_outbox()
            with conn.store.transaction() as db:  # due now, not after the NotYet backoff
                db.execute(update(outbox_table).values(next_attempt_at=utcnow()))
        finally:
            conn.close()

    asyncio.run(go())


def events(conn, request_id):
    return [r["event"] for r in conn.store.audit.rows(conn.store.engine, request_id)]


def test_resume_after_the_resuming_process_is_killed_mid_continuation(workdir):
    config = write_config(workdir, lease="2s")
    request = start_waiting(config)
    conn = connector(config)
    conn.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
    victim = spawn(*cli_args(config, "poll", "--once"), cwd=workdir, extra_env={teams.SLOW_ENV: "60"})
    try:
        wait_until(lambda: conn.store.conversation("case-single").run_kind == "continue", timeout=30)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        victim.kill()
    assert conn.store.get(request.id).state is RequestState.SUCCEEDED  # the call ran before the resume
    assert conn.store.conversation("case-single").version == 1  # the continuation did not complete
    time.sleep(2.2)  # the killed holder's leases run out
    finished(spawn(*cli_args(config, "poll", "--once"), cwd=workdir))
    record = conn.store.conversation("case-single")
    assert record.status == "done" and record.version == 2
    resumed = step_messages(conn, "case-single", 2)
    assert [m["source"] for m in resumed].count("approval_gatekeeper") == 1
    assert events(conn, request.id).count("conversation_resumed") == 1
    assert len(sent_mail(workdir)) == 1
    [item] = [i for i in conn.store.outbox_for(request.id) if i["kind"] == "continue"]
    assert item["delivered_at"] is not None and item["attempts"] == 2  # the killed try, then this one
    conn.close()


def test_two_replicas_racing_to_resume_make_one_continuation(workdir, store_url):  # noqa: F811
    config = write_config(workdir, url=store_url)
    request = start_waiting(config, "round_robin")
    approved_not_resumed(config, request)
    replicas = [connector(config, f"replica-{i}") for i in range(3)]
    try:
        run_together([r.process_outbox for r in replicas])
        conn = replicas[0]
        record = conn.store.conversation("case-round_robin")
        assert record.status == "done" and record.version == 2
        assert [m["source"] for m in step_messages(conn, "case-round_robin", 2)].count(
            "approval_gatekeeper"
        ) == 1
        assert events(conn, request.id).count("conversation_resumed") == 1
        assert len(sent_mail(workdir)) == 1
        assert conn.store.audit.verify(conn.store.engine) == []
    finally:
        for replica in replicas:
            replica.close()


def test_a_holder_whose_lease_ran_out_cannot_store_over_its_successor(workdir, caplog):
    config = write_config(workdir, lease="1s")
    request = start_waiting(config)
    approved_not_resumed(config, request)
    slow, fast = connector(config, "slow-holder"), connector(config, "successor")
    slow.service.conversations.budget = 30  # it will run far past its lease: the case under test
    teams.BLOCKING["slow-holder"] = 6.0  # its model blocks the loop: no heartbeat, the lease runs out
    # (long enough that a successor starved of CPU on a loaded machine still takes over first)

    async def successor():
        await asyncio.to_thread(
            wait_until, lambda: fast.store.conversation("case-single").run_holder == "slow-holder", 20
        )
        while fast.store.conversation("case-single").version < 2:
            await fast.process_outbox()
            await asyncio.sleep(0.2)

    try:
        run_together([slow.process_outbox, successor])
        record = fast.store.conversation("case-single")
        assert record.version == 2 and record.status == "done"  # one result stored, not two
        resumed = step_messages(fast, "case-single", 2)
        assert [m["source"] for m in resumed].count("approval_gatekeeper") == 1
        assert events(fast, request.id).count("conversation_resumed") == 1
        rows = fast.store.audit.rows(fast.store.engine, request.id)
        assert [r["actor"] for r in rows if r["event"] == "conversation_resumed"] == ["successor"]
        assert f"continuation for {request.id} superseded; its result dropped" in caplog.text
    finally:
        teams.BLOCKING.clear()
        slow.close()
        fast.close()


def test_a_continuation_that_keeps_failing_is_marked_and_said_on_the_ticket(workdir):
    config = write_config(workdir)
    request = start_waiting(config)
    teams.FAILING.add("case-single")
    conn = connector(config)
    try:
        conn.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")

        async def cycles():
            await conn.service.refresh(request.id)
            for _ in range(8):
                with conn.store.transaction() as db:
                    db.execute(update(outbox_table).values(next_attempt_at=utcnow()))
                await conn.process_outbox()

        asyncio.run(cycles())
        record = conn.store.conversation("case-single")
        assert record.status == "failed" and "model endpoint unreachable" in (record.error or "")
        assert record.version == 1  # the stored state is untouched: nothing half-resumed
        ticket = conn.adapters["desk"].ticket(request.ticket.key)
        notes = [c["body"] for c in ticket["comments"]]
        assert any("could not be resumed" in n and "5 attempts failed" in n for n in notes), notes
        assert ticket["status"] == "done"  # the outcome stands
        assert events(conn, request.id).count("conversation_failed") == 1
    finally:
        teams.FAILING.clear()
        conn.close()


def test_a_run_that_stopped_before_saving_its_state_is_not_resumed(workdir):
    config = write_config(workdir, lease="1s")

    async def crashed_run():
        conn = connector(config, "crashed")
        service = conn.service.conversations
        await service.register("case-lost", resumer="autogen", factory=teams.FACTORIES["single"])
        claim, record = await service.begin("case-lost")
        from connector.agents.autogen.gate import approval_context
        from connector.demo.tools import send_email
        from tests.conftest import EMAIL

        with approval_context(**service.run_context(record, claim)):
            await conn.gate(send_email).run_json(EMAIL, None)
        conn.close()  # the process dies here: no state saved, the claim just runs out

    asyncio.run(crashed_run())
    conn = connector(config)
    try:
        [request] = conn.store.list([RequestState.TICKETED])
        conn.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
        time.sleep(1.1)
        asyncio.run(conn.service.refresh(request.id))
        asyncio.run(conn.process_outbox())
        record = conn.store.conversation("case-lost")
        assert record.status == "failed" and record.version == 0
        assert "stopped before its state was saved" in record.error
        assert conn.store.get(request.id).state is RequestState.SUCCEEDED  # the approved call still ran
        notes = [c["body"] for c in conn.adapters["desk"].ticket(request.ticket.key)["comments"]]
        assert any("could not be resumed" in n for n in notes)
    finally:
        conn.close()
