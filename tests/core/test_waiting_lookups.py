"""The look-ups a poll makes of the waiting requests (connector.core.pending): the store's
queries answer exactly what the in-memory list answers over every waiting row, on each backend,
so an adapter's poll finds the same requests whichever it is handed — only without reading them
all."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from connector.core.models import ApprovalRequest, RequestState, TicketRef, digest_of, utcnow
from connector.core.pending import WaitingList
from connector.core.store import Store
from tests.conftest import EMAIL
from tests.connector.test_store import store_url  # noqa: F401 - the fixture (SQLite, PostgreSQL)

NOW = utcnow().replace(microsecond=0)


def add(store: Store, n: int, route: str, state=RequestState.TICKETED, system="jira", ticket_id=None):
    """Request ``n``: created n hours ago, its ticket recorded n minutes after that."""
    created = NOW - timedelta(hours=n)
    request = ApprovalRequest(
        id=uuid.uuid4().hex,
        route=route,
        system=system,
        tool_name="send_email",
        arguments=EMAIL,
        arguments_digest=digest_of(EMAIL),
        state=state,
        created_at=created,
        updated_at=created + timedelta(minutes=n),
        ticket=TicketRef(system=system, key=f"K-{n}", id=f"{n}00" if ticket_id is None else ticket_id),
    )
    with store.transaction() as conn:
        store.insert_request(conn, request)
    return request


@pytest.fixture
def store(store_url):  # noqa: F811 - the imported fixture
    store = Store.from_url(store_url)
    for n in range(1, 9):
        add(store, n, "a" if n % 2 else "b")
    add(store, 9, "b", ticket_id="")  # a ticket whose id the system never gave
    add(store, 10, "a", state=RequestState.SUCCEEDED)  # finished: no longer waiting
    add(store, 11, "a", state=RequestState.APPROVED)  # decided, its run not started: not polled
    add(store, 12, "a", system="servicenow")  # another system's
    yield store
    store.engine.dispose()


def ids(found):
    return [t.request_id for t in found]


def test_the_route_summary_counts_only_this_systems_waiting_requests(store):
    summary = store.waiting("jira").routes()
    assert {r: w.count for r, w in summary.items()} == {"a": 4, "b": 5}
    assert summary["a"].oldest == NOW - timedelta(hours=7)
    assert summary["b"].oldest == NOW - timedelta(hours=9)
    assert summary == WaitingList(store.waiting_tickets("jira")).routes()
    assert store.waiting("nowhere").routes() == {}


def test_hits_find_their_waiting_requests_by_key_or_id_and_nothing_else(store):
    waiting, listed = store.waiting("jira"), WaitingList(store.waiting_tickets("jira"))
    asks = [
        {"keys": ["K-1", "K-2"]},
        {"ids": ["300", "400"]},
        {"keys": ["K-5"], "ids": ["500", "600"]},  # the same request by both: once
        {"keys": ["K-10", "K-11", "K-12"], "ids": ["1000", "1200"]},  # finished, decided, elsewhere
        {"ids": [""]},  # an empty id names no ticket (K-9 has none)
        {"keys": ["K-9", "nope"]},
        {},
    ]
    for ask in asks:
        assert ids(waiting.on_tickets(**ask)) == ids(listed.on_tickets(**ask)), ask
    assert {t.ticket.key for t in waiting.on_tickets(keys=["K-5"], ids=["500", "600"])} == {"K-5", "K-6"}
    assert waiting.on_tickets(keys=["K-10", "K-11", "K-12"], ids=["1000", "1200"]) == []


def test_many_hits_are_looked_up_in_chunks(store, monkeypatch):
    from connector.core.store import waiting as module

    monkeypatch.setattr(module, "IN_CHUNK", 3)
    keys = [f"K-{n}" for n in range(1, 13)] + [f"X-{n}" for n in range(50)]
    assert len(store.waiting("jira").on_tickets(keys=keys)) == 9


def test_recorded_since_returns_the_oldest_first_up_to_the_limit(store):
    waiting, listed = store.waiting("jira"), WaitingList(store.waiting_tickets("jira"))
    asks = [
        (["a", "b"], None, [], 100),  # no previous poll: every one
        (["a", "b"], None, [], 3),
        (["a"], NOW - timedelta(hours=3), [], 100),  # recorded in the last three hours
        (["a", "b"], NOW - timedelta(hours=3), ["700", "900"], 100),  # plus those to look up again
        (["b"], NOW - timedelta(hours=3), ["700"], 100),  # another route's retry is not this one's
        (["a", "b"], NOW, [], 100),
        (["a", "b"], NOW - timedelta(hours=6), [], 2),
    ]
    for routes, after, retry, limit in asks:
        got = waiting.recorded(routes, after, retry, limit)
        assert ids(got) == ids(listed.recorded(routes, after, retry, limit)), (routes, after, retry, limit)
    every = waiting.recorded(["a", "b"], None, [], 3)
    assert [t.ticket.key for t in every] == ["K-9", "K-8", "K-7"]  # the first is the oldest of all
    recent = waiting.recorded(["a", "b"], NOW - timedelta(hours=3), ["700"], 100)
    assert [t.ticket.key for t in recent] == ["K-7", "K-3", "K-2", "K-1"]
    assert recent[0].ticketed_at == NOW - timedelta(hours=7) + timedelta(minutes=7)


def test_iterating_still_gives_every_waiting_request(store):
    waiting = store.waiting("jira")
    assert ids(waiting) == ids(store.waiting_tickets("jira")) and len(waiting) == 9
    assert [t.ticket.key for t in waiting][:2] == ["K-9", "K-8"]


LOOKUPS = {
    # (what a poll asks, the index each of its statements must be answered by on SQLite)
    "summary": (lambda w: w.routes(), ["COVERING INDEX ix_requests_waiting_route (state=? AND system=?)"]),
    "hits": (
        lambda w: w.on_tickets(keys=["K-1"], ids=["200"]),
        ["INDEX ix_requests_ticket_key (ticket_key=?)", "INDEX ix_requests_ticket_id (ticket_id=?)"],
    ),
    "recorded": (
        lambda w: w.recorded(["a"], NOW - timedelta(hours=1), ["300"], 41),
        [
            "INDEX ix_requests_waiting_recorded (state=? AND system=? AND updated_at>?)",
            "ix_requests_ticket_id",
        ],
    ),
}


@pytest.mark.parametrize("name", list(LOOKUPS))
def test_each_lookup_reads_through_its_own_index_not_every_waiting_row(tmp_path, name):
    """A look-up that walked the (state, ...) indexes would read every waiting row each cycle:
    the cost the summary and look-ups are there to avoid (SQLite's plans, as in a cycle)."""
    from sqlalchemy import event

    store = Store.from_url(f"sqlite:///{tmp_path / 'plans.db'}")
    for n in range(1, 30):
        add(store, n, "a" if n % 3 else "b")
    ask, expected = LOOKUPS[name]
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        ask(store.waiting("jira"))
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    with store.engine.connect() as conn:
        plans = [
            " | ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {s}", p))
            for s, p in seen
            if "approval_requests" in s
        ]
    assert len(plans) == len(expected), plans
    for plan, index in zip(plans, expected, strict=True):
        assert index in plan, plan
    store.engine.dispose()
