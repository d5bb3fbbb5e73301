"""Outbox deliveries across replicas, against the Jira simulator over real HTTP: a delivery
re-leased after a lost answer is a retry (it looks before it posts), a slow delivery is never
handed to another replica while in flight, and a holder that overran its lease is fenced."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from adapters.jira.simulator import JiraSimulator
from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState, utcnow
from connector.core.service.outbox import LEASE_MARGIN
from connector.core.service.transitions import REPORT_KIND
from connector.core.store import outbox_table
from connector.demo.tools import send_email
from tests.adapters.jira.test_jira_end_to_end import jira_config
from tests.conftest import EMAIL
from tests.faults.jira_marks import final_outcomes, report_ids
from tests.faults.replicas import run_together


@pytest.fixture
def sim() -> Iterator[JiraSimulator]:
    simulator = JiraSimulator.seeded_demo("http://127.0.0.1")
    with simulator.serve():
        yield simulator


def replicas(sim: JiraSimulator, db: Path, count: int, lease: str = "5m") -> list[Connector]:
    text = jira_config(sim, db).replace("lease: 5m", f"lease: {lease}")
    config = parse_config(text, "jira-replicas.yaml")
    out = [Connector.from_config(config, env=sim.demo_env(), worker_id=f"replica-{i}") for i in range(count)]
    for replica in out:
        replica.register_tool(send_email)
    return out


def report_item(conn: Connector) -> dict:
    with conn.store.engine.connect() as tx:
        row = tx.execute(select(outbox_table).where(outbox_table.c.kind == REPORT_KIND)).mappings().one()
    return dict(row)


def make_due(conn: Connector) -> None:
    with conn.store.transaction() as tx:
        tx.execute(
            update(outbox_table)
            .where(outbox_table.c.delivered_at.is_(None))
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


async def approved_and_run(first: Connector, sim: JiraSimulator, monkeypatch) -> str:
    """One e-mail, approved by alice in Jira and run by ``first``; its outcome report is left
    queued (not kicked), as a replica that stopped right after the run would leave it."""
    request = await first.service.submit("send_email", EMAIL, {"agent": "a"})
    sim.transition(request.ticket.key, "Approve", actor="alice")
    monkeypatch.setattr(first.service.outbox, "kick", lambda request_id: None)
    await first.poll_once()
    await first.service.drain(30)
    assert first.store.get(request.id).state is RequestState.SUCCEEDED
    monkeypatch.undo()
    return request.ticket.key


def test_a_delivery_re_leased_after_a_lost_answer_is_a_retry_and_posts_once(sim, workdir, monkeypatch):
    a, b = replicas(sim, workdir / "c.db", 2)
    try:
        key = asyncio.run(approved_and_run(a, sim, monkeypatch))
        # replica B lists the due reports, then works through the ones before this (slowly)
        seen_by_b = b.store.due_outbox(utcnow())
        assert [i["kind"] for i in seen_by_b] == [REPORT_KIND] and seen_by_b[0]["attempts"] == 0
        # meanwhile replica A delivers it: the comment lands, the answer is lost on the way back
        sim.inject_chaos(1.0, statuses=(), applies=lambda r: r.method == "POST" and "/issue/" in r.path)
        assert asyncio.run(a.process_outbox()) == 0
        sim.clear_faults()
        assert report_ids(sim.issue(key).comments) != []  # it did land
        make_due(a)  # A's retry is due
        # B reaches the item with its older copy of the row: the lease, not the copy, says retry
        monkeypatch.setattr(b.store, "due_outbox", lambda now, limit=100: seen_by_b)
        assert asyncio.run(b.process_outbox()) == 1
        comments = sim.issue(key).comments
        assert len(report_ids(comments)) == 1, [c["body"] for c in comments]
        assert final_outcomes(comments) == ["succeeded"]
        assert report_item(a)["delivered_at"] is not None and report_item(a)["attempts"] == 2
    finally:
        a.close()
        b.close()


def test_the_outbox_lease_outlasts_the_adapters_worst_case_and_the_scheduler_lease(sim, workdir):
    [short] = replicas(sim, workdir / "a.db", 1, lease="1s")
    [long] = replicas(sim, workdir / "b.db", 1, lease="1h")
    try:
        bridge = short.service.ctx.adapters["jira"]
        worst = bridge.budget("report") + bridge.budget("find_ticket")
        assert short.service.outbox._lease_for("jira", REPORT_KIND) == timedelta(seconds=worst) + LEASE_MARGIN
        assert long.service.outbox._lease_for("jira", REPORT_KIND) == timedelta(hours=1)
    finally:
        short.close()
        long.close()


def test_a_slow_delivery_is_not_re_leased_while_in_flight(sim, workdir, monkeypatch):
    """Replica A's report is slow (Jira holds its answers); replica B's outbox runs again and
    again meanwhile, in its own thread: it never starts the same delivery, and one comment lands."""
    a, b = replicas(sim, workdir / "c.db", 2)
    try:
        key = asyncio.run(approved_and_run(a, sim, monkeypatch))
        sim.inject_chaos(1.0, statuses=(), lost=False, slow=2.5, applies=lambda r: r.method == "POST")
        in_flight = threading.Event()
        real_report = a.service.ctx.adapters["jira"].report_then

        async def reporting(*args):
            in_flight.set()
            return await real_report(*args)

        monkeypatch.setattr(a.service.ctx.adapters["jira"], "report_then", reporting)

        async def replica_b() -> int:
            assert await asyncio.to_thread(in_flight.wait, 10), "A never started its report"
            delivered = 0
            for _ in range(10):  # B's outbox cycles while A's POST hangs
                delivered += await b.process_outbox()
                await asyncio.sleep(0.2)
            return delivered

        delivered_a, delivered_b = run_together([a.process_outbox, replica_b], timeout=60)
        sim.clear_faults()
        assert (delivered_a, delivered_b) == (1, 0)
        assert len(report_ids(sim.issue(key).comments)) == 1
        assert report_item(a)["attempts"] == 1
    finally:
        a.close()
        b.close()


def test_a_holder_that_overran_its_lease_is_fenced(sim, workdir, monkeypatch):
    """A's lease ran out while it still worked (its heartbeat starved); B took the delivery over.
    A's late failure must not reschedule B's delivery, nor A's heartbeat extend B's lease."""
    a, b = replicas(sim, workdir / "c.db", 2)
    try:
        asyncio.run(approved_and_run(a, sim, monkeypatch))
        item = report_item(a)
        lease = timedelta(minutes=5)
        token_a, attempt_a = a.store.lease_outbox(item, lease, "replica-0")
        assert b.store.lease_outbox(item, lease, "replica-1") is None  # A holds it
        make_due(a)  # A's lease runs out
        token_b, attempt_b = b.store.lease_outbox(item, lease, "replica-1")
        assert (attempt_a, attempt_b) == (0, 1) and token_b > token_a
        assert not a.store.extend_outbox_lease(item["id"], token_a, lease)  # A's heartbeat: refused
        assert not a.store.outbox_failed(item["id"], 1, utcnow(), "late failure of A", token_a)
        row = report_item(a)
        assert row["leased_by"] == "replica-1" and row["lease_token"] == token_b and row["last_error"] is None
        assert b.store.extend_outbox_lease(item["id"], token_b, lease)
    finally:
        a.close()
        b.close()


def test_a_lease_expiring_while_its_holder_still_works_gives_one_comment_and_one_record(
    sim, workdir, monkeypatch
):
    """A posts the report, then stalls before recording it, its heartbeats failing, until its
    lease runs out; B takes the delivery over as a retry, finds A's comment and records it. A's
    late record is refused: one comment, one 'reported' row in the audit trail."""
    a, b = replicas(sim, workdir / "c.db", 2)
    try:
        key = asyncio.run(approved_and_run(a, sim, monkeypatch))
        request_id = a.store.list()[0].id
        monkeypatch.setattr(a.service.outbox, "_lease_for", lambda system, kind: timedelta(seconds=1))

        def beat_fails(*args):
            raise RuntimeError("database unreachable from replica A")

        monkeypatch.setattr(a.store, "extend_outbox_lease", beat_fails)
        b_recorded = threading.Event()
        real_reported = a.service.transitions.reported
        late: list[bool] = []

        def stalled_reported(*args):
            b_recorded.wait(20)  # A stalls here (a long GC pause, a frozen VM) past its lease
            late.append(real_reported(*args))
            return late[-1]

        monkeypatch.setattr(a.service.transitions, "reported", stalled_reported)

        async def replica_b() -> int:
            def landed() -> bool:
                return bool(report_ids(sim.issue(key).comments))

            while not landed():
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.2)  # A's one-second lease has run out, A still holds on
            try:
                return await b.process_outbox()
            finally:
                b_recorded.set()

        delivered_a, delivered_b = run_together([a.process_outbox, replica_b], timeout=60)
        assert delivered_b == 1 and late == [False]
        comments = sim.issue(key).comments
        assert len(report_ids(comments)) == 1 and final_outcomes(comments) == ["succeeded"]
        events = [r["event"] for r in a.store.audit.rows(a.store.engine, request_id)]
        assert events.count("reported") == 1, events
        assert a.store.audit.verify(a.store.engine) == []
    finally:
        a.close()
        b.close()


async def outbox_running_for(conn: Connector, seconds: float) -> None:
    """The outbox cycling every 50 ms for ``seconds``, as the scheduler would run it."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        await conn.process_outbox()
        await asyncio.sleep(0.05)


def test_a_comment_whose_answer_timed_out_is_looked_for_only_once_it_could_have_landed(
    sim, workdir, monkeypatch
):
    """Jira holds the outcome comment's POST past the connector's read timeout, then applies it
    (a busy instance): the connector saw a timeout, not a refusal. Its retry looks for the
    comment before posting; looking before the held POST could land found nothing yet and
    posted the comment a second time."""
    text = jira_config(sim, workdir / "c.db").replace("read: 30", "read: 0.4")
    text = text.replace("outbox_interval: 10s", "outbox_interval: 0.1s")  # retries come fast
    text = text.replace("        transition: Mark executed\n        fields: {resolution: {name: Done}}\n", "")
    config = parse_config(text, "jira-slow.yaml")
    conn = Connector.from_config(config, env=sim.demo_env(), worker_id="replica-0")
    conn.register_tool(send_email)
    try:
        key = asyncio.run(approved_and_run(conn, sim, monkeypatch))
        held = [0]

        def first_comment(request) -> bool:  # only the first POST is held; the retry is answered
            if request.method == "POST" and request.path.endswith("/comment") and held[0] == 0:
                held[0] += 1
                return True
            return False

        sim.inject_chaos(1.0, statuses=(), lost=False, slow=0.7, applies=first_comment)

        asyncio.run(outbox_running_for(conn, 2.5))
        sim.clear_faults()
        comments = sim.issue(key).comments
        assert held[0] == 1 and report_item(conn)["delivered_at"] is not None
        assert len(report_ids(comments)) == 1, [c["body"] for c in comments]
    finally:
        conn.close()


def test_a_transition_refused_because_the_first_try_landed_meanwhile_is_not_commented_again(
    sim, workdir, monkeypatch
):
    """The report's transition-with-comment POST is held past the read timeout. The retry finds
    nothing yet, reads the transitions, and the held POST lands just then (it moves the issue,
    with the comment): the retry's own POST is refused (400, the issue moved). Commenting alone
    after that refusal, without looking again, posted the outcome a second time."""
    text = jira_config(sim, workdir / "c.db").replace("read: 30", "read: 0.4")
    text = text.replace("outbox_interval: 10s", "outbox_interval: 0.1s")
    conn = Connector.from_config(parse_config(text, "jira-slow.yaml"), env=sim.demo_env(), worker_id="r0")
    conn.register_tool(send_email)
    try:
        key = asyncio.run(approved_and_run(conn, sim, monkeypatch))
        held = [0]

        def first_transition(request) -> bool:
            if request.method == "POST" and request.path.endswith("/transitions") and held[0] == 0:
                held[0] += 1
                return True
            return False

        sim.inject_chaos(1.0, statuses=(), lost=False, slow=1.5, applies=first_transition)
        outcome = conn.service.ctx.adapters["jira"].adapter.outcome
        real_find = outcome.find_transition

        def find_then_the_held_post_lands(issue_key, spec, *, fresh=False):
            found = real_find(issue_key, spec, fresh=fresh)
            if held[0] == 1 and not fresh:  # the retry read the transitions: the held POST lands now
                deadline = time.monotonic() + 5
                while not report_ids(sim.issue(key).comments) and time.monotonic() < deadline:
                    time.sleep(0.05)
            return found

        monkeypatch.setattr(outcome, "find_transition", find_then_the_held_post_lands)

        asyncio.run(outbox_running_for(conn, 3.5))
        sim.clear_faults()
        comments = sim.issue(key).comments
        assert held[0] == 1 and report_item(conn)["delivered_at"] is not None
        assert len(report_ids(comments)) == 1, [c["body"] for c in comments]
        assert final_outcomes(comments) == ["succeeded"]
    finally:
        conn.close()
