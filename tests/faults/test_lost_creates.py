"""A create whose answer is lost, seen by several replicas at once: one ticket, never two — also
while the ticketing system's search index lags behind (Jira) and the look-up finds nothing yet."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from adapters.jira.simulator import JiraSimulator
from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.errors import UnavailableError
from connector.core.models import RequestState, TicketRef, utcnow
from connector.core.store import outbox_table
from connector.demo.tools import send_email
from connector.testing.postgres import temporary_schema
from tests.adapters.jira.test_jira_end_to_end import jira_config
from tests.adapters.test_local_desk_once import CONFIG as DESK_CONFIG
from tests.conftest import EMAIL, pg_url, sent_mail
from tests.faults.replicas import run_together


@pytest.fixture
def sim() -> Iterator[JiraSimulator]:
    simulator = JiraSimulator.seeded_demo("http://127.0.0.1")
    with simulator.serve():
        yield simulator


def replicas(sim: JiraSimulator, db: Path, count: int) -> list[Connector]:
    config = parse_config(jira_config(sim, db), "jira-replicas.yaml")
    out = [Connector.from_config(config, env=sim.demo_env(), worker_id=f"replica-{i}") for i in range(count)]
    for replica in out:
        replica.register_tool(send_email)
    return out


def make_due(conn: Connector, age: timedelta = timedelta(0)) -> None:
    """The outbox's next attempt time has come; with ``age``, the lost answer is that old."""
    values: dict = {"next_attempt_at": utcnow() - timedelta(seconds=1)}
    if age:
        values["ambiguous_since"] = utcnow() - age
    with conn.store.transaction() as tx:
        tx.execute(update(outbox_table).where(outbox_table.c.delivered_at.is_(None)).values(**values))


def test_lost_create_answer_with_search_lag_makes_one_issue_across_replicas(sim, workdir):
    sim.search_lag = 8  # a new issue stays invisible to the next 8 searches (within the grace)
    sim.drop_create_answers = 1  # the first create lands, its answer is lost
    nodes = replicas(sim, workdir / "connector.db", 3)
    try:
        first = nodes[0]
        request = asyncio.run(first.service.submit("send_email", EMAIL, {"agent": "a"}))
        assert request.state is RequestState.SUBMITTED  # answer lost: not ticketed yet
        for _ in range(6):  # every replica retries at once, again and again, inside the grace
            make_due(first)
            run_together([node.process_outbox for node in nodes])
            assert len(sim.issues) == 1
        make_due(first, age=timedelta(minutes=10))  # past the grace: a look-up finds it now
        for _ in range(4):
            run_together([node.process_outbox for node in nodes])
            make_due(first)
        after = first.store.get(request.id)
        assert after.state is RequestState.TICKETED and after.ticket.key == "OPS-1"
        assert len(sim.issues) == 1
    finally:
        for node in nodes:
            node.close()


def test_create_refused_before_anything_happened_is_made_once_after_the_grace(sim, workdir):
    sim.inject_fault(503, method="POST", path=r"/issue$")  # nothing was created
    nodes = replicas(sim, workdir / "connector.db", 2)
    try:
        request = asyncio.run(nodes[0].service.submit("send_email", EMAIL, {"agent": "a"}))
        make_due(nodes[0])
        run_together([node.process_outbox for node in nodes])
        assert len(sim.issues) == 0  # within the grace nobody re-creates on a maybe
        make_due(nodes[0], age=timedelta(minutes=10))
        run_together([node.process_outbox for node in nodes])
        assert len(sim.issues) == 1
        assert nodes[0].store.get(request.id).state is RequestState.TICKETED
    finally:
        for node in nodes:
            node.close()


def test_a_create_answered_after_the_connector_gave_up_is_recorded_when_it_lands(sim, workdir, monkeypatch):
    """The issue's POST is held past the bridge's budget (a hung call the adapter's own timeouts
    did not bound): the core gives up and schedules a retry no sooner than the call could still
    take, while the thread goes on; when Jira answers, that thread records the ticket itself. No
    retry by any replica then makes a second issue, and the request is ticketed once."""
    nodes = replicas(sim, workdir / "connector.db", 2)
    try:
        first = nodes[0]
        bridge = first.service.ctx.adapters["jira"]
        monkeypatch.setattr(bridge, "budget", lambda method: 0.4)
        slow = lambda r: r.method == "POST" and r.path.endswith("/issue")  # noqa: E731
        sim.inject_chaos(1.0, statuses=(), lost=False, slow=1.5, applies=slow)
        request = asyncio.run(first.service.submit("send_email", EMAIL, {"agent": "a"}))
        assert request.state is RequestState.SUBMITTED  # the bridge gave up after 0.4 s
        with first.store.engine.connect() as tx:
            retry_at = tx.execute(outbox_table.select()).mappings().one()["next_attempt_at"]
        assert (retry_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)).total_seconds() > 0.2
        deadline = time.monotonic() + 10
        while first.store.get(request.id).state is RequestState.SUBMITTED and time.monotonic() < deadline:
            time.sleep(0.05)
        sim.clear_faults()
        landed = first.store.get(request.id)
        assert landed.state is RequestState.TICKETED and landed.ticket.key == "OPS-1"  # no retry yet
        for _ in range(3):
            make_due(first)
            run_together([node.process_outbox for node in nodes])
        assert len(sim.issues) == 1
        rows = first.store.audit.rows(first.store.engine, request.id)
        ticketed = [r for r in rows if r["event"] == "ticketed"]
        assert len(ticketed) == 1
    finally:
        for node in nodes:
            node.close()


def held_first_create(sim: JiraSimulator, seconds: float) -> None:
    """Jira holds the first issue POST ``seconds`` before it applies and answers it."""
    posts = []
    lock = threading.Lock()

    def first_post(r) -> bool:
        if r.method == "POST" and r.path.endswith("/issue"):
            with lock:
                posts.append(r)
                return len(posts) == 1
        return False

    sim.inject_chaos(1.0, statuses=(), lost=False, slow=seconds, applies=first_post)


def test_a_create_that_outlasts_its_settle_is_looked_for_not_made_again(sim, workdir, monkeypatch):
    """The first POST hangs longer than the budget and its settle: another replica's retry comes
    while it is still in flight. The timed-out create counts as one whose answer was lost: the
    retry only looks (and finds nothing yet) within the grace, so no second issue is made; the
    hung thread records its ticket when Jira answers."""
    a, b = replicas(sim, workdir / "c.db", 2)
    try:
        monkeypatch.setattr(a.service.ctx.adapters["jira"], "budget", lambda method: 0.4)
        held_first_create(sim, 2.0)
        sent = time.monotonic()
        request = asyncio.run(a.service.submit("send_email", EMAIL, {"agent": "a"}))
        assert request.state is RequestState.SUBMITTED
        time.sleep(0.5)  # the settle has passed: the retry is due for any replica
        make_due(a)
        asyncio.run(b.process_outbox())  # inside the grace: looks, finds nothing yet, creates nothing
        answered = lambda: sum(1 for m, p, status in sim.calls if (m, status) == ("POST", 201))  # noqa: E731
        while (answered() < 1 or time.monotonic() - sent < 2.5) and time.monotonic() - sent < 10:
            time.sleep(0.05)  # until the held POST was applied and answered
        deadline = time.monotonic() + 5
        while a.store.get(request.id).state is RequestState.SUBMITTED and time.monotonic() < deadline:
            time.sleep(0.05)
        sim.clear_faults()
        for _ in range(2):
            make_due(a)
            run_together([node.process_outbox for node in (a, b)])
        assert len(sim.issues) == 1
        assert a.store.get(request.id).ticket.key == "OPS-1"
    finally:
        a.close()
        b.close()


def test_a_create_that_lands_after_its_grace_made_a_second_issue_is_told_where_to_decide(
    sim, workdir, monkeypatch
):
    """The first POST hangs past the adapter's create grace, so the retry (finding nothing yet)
    makes a second issue, which becomes the request's ticket; then the first POST lands and its
    thread records it. The request keeps the ticket it has; the late issue is told, once, that it
    is a duplicate and where to decide — an approval there runs nothing, one on the request's own
    issue runs the call once."""
    [conn] = replicas(sim, workdir / "c.db", 1)
    try:
        monkeypatch.setattr(conn.service.ctx.adapters["jira"], "budget", lambda method: 0.4)
        monkeypatch.setattr(conn.adapters["jira"], "create_grace", lambda: 0.1)
        held_first_create(sim, 2.0)
        request = asyncio.run(conn.service.submit("send_email", EMAIL, {"agent": "a"}))
        assert request.state is RequestState.SUBMITTED  # the bridge gave up after 0.4 s
        make_due(conn, age=timedelta(seconds=1))  # past the grace: the retry creates
        asyncio.run(conn.process_outbox())
        kept = conn.store.get(request.id).ticket.key
        deadline = time.monotonic() + 10
        while len(sim.issues) < 2 or not events(conn, request.id, "duplicate_ticket"):
            assert time.monotonic() < deadline, "the held create never landed"
            time.sleep(0.05)
        [late] = [i.key for i in sim.issues.values() if i.key != kept]
        for _ in range(2):
            make_due(conn)
            asyncio.run(conn.process_outbox())
        notes = [b for b in sim.comment_bodies(late) if "duplicates" in b]
        assert len(notes) == 1 and f"decided on {kept} only" in notes[0], sim.comment_bodies(late)
        assert not [b for b in sim.comment_bodies(kept) if "duplicates" in b]
        told = [r for r in events(conn, request.id, "reported") if r["details"]["report"] == "duplicate"]
        assert [r["details"]["ticket"] for r in told] == [late]
        sim.transition(late, "Approve", actor="alice")
        asyncio.run(conn.poll_once())
        assert conn.store.get(request.id).state is RequestState.TICKETED and sent_mail(workdir) == []
        sim.transition(kept, "Approve", actor="alice")
        asyncio.run(conn.poll_once())
        assert conn.store.get(request.id).state is RequestState.SUCCEEDED and len(sent_mail(workdir)) == 1
        assert conn.store.audit.verify(conn.store.engine) == []
    finally:
        conn.close()


def events(conn: Connector, request_id: str, name: str) -> list[dict]:
    return [r for r in conn.store.audit.rows(conn.store.engine, request_id) if r["event"] == name]


def recording_locked(conn: Connector, monkeypatch, times: int) -> list[tuple]:
    """The store refuses to record a made ticket ``times`` times (database locked); the calls."""
    real = conn.service.transitions.ticketed
    calls: list[tuple] = []

    def locked(*args):
        calls.append(args)
        if len(calls) <= times:
            raise OperationalError("UPDATE approval_requests", {}, Exception("database is locked"))
        return real(*args)

    monkeypatch.setattr(conn.service.transitions, "ticketed", locked)
    return calls


def test_a_ticket_made_whose_recording_fails_once_is_recorded_from_its_answer(sim, workdir, monkeypatch):
    """Jira made the issue; writing it to the store failed once (database locked). The answer in
    hand is recorded again at once: a retry's search, which lags, would have found nothing and
    made a second issue."""
    sim.search_lag = 8
    [a] = replicas(sim, workdir / "c.db", 1)
    try:
        calls = recording_locked(a, monkeypatch, times=1)
        request = asyncio.run(a.service.submit("send_email", EMAIL, {"agent": "a"}))
        assert request.state is RequestState.TICKETED and request.ticket.key == "OPS-1"
        make_due(a)
        asyncio.run(a.process_outbox())
        assert len(sim.issues) == 1 and len(calls) == 2
    finally:
        a.close()


def test_a_ticket_whose_recording_keeps_failing_is_looked_for_not_made_again(sim, workdir, monkeypatch):
    """Recording fails twice: the create then counts as one whose answer was lost. Retries within
    the grace only look (the search lags: nothing found, nothing made); past it, the issue is
    found and recorded. One issue."""
    sim.search_lag = 2  # shorter than the retries inside the grace
    [a] = replicas(sim, workdir / "c.db", 1)
    try:
        recording_locked(a, monkeypatch, times=2)
        request = asyncio.run(a.service.submit("send_email", EMAIL, {"agent": "a"}))
        assert request.state is RequestState.SUBMITTED
        for _ in range(3):
            make_due(a)
            asyncio.run(a.process_outbox())
            assert len(sim.issues) == 1
        make_due(a, age=timedelta(minutes=10))  # past the grace; the index has caught up
        for _ in range(3):
            asyncio.run(a.process_outbox())
            make_due(a)
        assert len(sim.issues) == 1
        assert a.store.get(request.id).ticket.key == "OPS-1"
    finally:
        a.close()


async def test_two_tickets_recorded_at_once_keep_the_first_and_record_the_second(workdir, monkeypatch):
    """Two threads record two different tickets for one request at the same moment (a late create
    and its retry's), on PostgreSQL: the first one recorded stays the request's ticket, the other
    is an audit row for a human (never silently swapped in), and the chain verifies."""
    server = pg_url()
    if not server:
        pytest.skip("PostgreSQL not configured")
    with temporary_schema(server) as url:
        conn = Connector.from_config(parse_config(DESK_CONFIG.format(url=url), "c.yaml"))
        try:
            conn.register_tool(send_email)

            def down(request):
                raise UnavailableError("desk down", system="desk")

            monkeypatch.setattr(conn.adapters["desk"], "create_ticket", down)
            request = await conn.service.submit("send_email", EMAIL, {"agent": "a"})
            assert request.ticket is None
            store = conn.store
            real_get = store.get
            both_read = threading.Barrier(2)
            waited: set[threading.Thread] = set()

            def get(request_id, tx=None):
                found = real_get(request_id, tx)
                if tx is not None and threading.current_thread() not in waited:
                    waited.add(threading.current_thread())
                    both_read.wait(5)  # each thread has read "no ticket yet" before either writes
                return found

            monkeypatch.setattr(store, "get", get)
            refs = [TicketRef(system="desk", key=f"LOCAL-{n}", id=str(n), url="") for n in (7, 8)]
            item = f"{request.id}:ticket"
            record = conn.service.transitions.ticketed
            threads = [threading.Thread(target=record, args=(request.id, ref, item)) for ref in refs]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(20)
            monkeypatch.setattr(store, "get", real_get)
            after = store.get(request.id)
            rows = list(store.audit.rows(store.engine, request.id))
            events = [r["event"] for r in rows]
            assert events.count("ticketed") == 1 and events.count("duplicate_ticket") == 1, events
            [first] = [r["details"]["key"] for r in rows if r["event"] == "ticketed"]
            [dup] = [r["details"] for r in rows if r["event"] == "duplicate_ticket"]
            assert after.ticket.key == first == dup["kept"] and dup["extra"] != first
            assert store.audit.verify(store.engine) == []
        finally:
            conn.close()


def test_a_replica_that_dies_after_storing_a_call_leaves_its_ticket_to_another_once(
    sim, workdir, monkeypatch
):
    """A stores the call with its ticket item leased to itself, then dies before the create. B's
    outbox leaves the item alone while A's lease lasts, then creates the ticket as a retry
    (it looks first): one issue, the request ticketed."""
    a, b = replicas(sim, workdir / "c.db", 2)
    try:

        async def died(request):  # the process ends right after the store's commit
            return None

        monkeypatch.setattr(a.service.outbox, "open_ticket_now", died)
        request = asyncio.run(a.service.submit("send_email", EMAIL, {"agent": "a"}))
        assert a.store.get(request.id).state is RequestState.SUBMITTED
        assert asyncio.run(b.process_outbox()) == 0  # A's lease still holds: B does not start it
        assert len(sim.issues) == 0
        make_due(b)  # A's lease ran out
        assert asyncio.run(b.process_outbox()) == 1
        assert len(sim.issues) == 1
        assert b.store.get(request.id).state is RequestState.TICKETED
        searches = [c for c in sim.calls if c[1].endswith("/search/jql")]
        assert searches, "the retry created without looking first"
    finally:
        a.close()
        b.close()
