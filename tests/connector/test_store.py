"""One contract suite for every store backend (SQLite file, PostgreSQL): the races that matter."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from connector.core.models import ApprovalRequest, RequestState, TicketRef, digest_of, utcnow
from connector.core.store import Store
from connector.testing.postgres import temporary_schema
from tests.conftest import pg_url


def _postgres_schema_url() -> Iterator[str]:
    url = pg_url()
    if not url:
        if os.environ.get("CI"):
            pytest.fail("APPROVAL_CONNECTOR_TEST_PG_URL must be set in CI (.ci/run sets it)")
        pytest.skip("set APPROVAL_CONNECTOR_TEST_PG_URL to run the PostgreSQL store tests")
    with temporary_schema(url) as schema_url:
        yield schema_url


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def pg_store_url() -> Iterator[str]:
    yield from _postgres_schema_url()


def make_request(state: RequestState = RequestState.APPROVED) -> ApprovalRequest:
    args = {"to": "a@b.example", "subject": "s", "body": "b", "cc": []}
    return ApprovalRequest(
        id=uuid.uuid4().hex,
        route="r",
        system="desk",
        tool_name="send_email",
        arguments=args,
        arguments_digest=digest_of(args),
        state=state,
        ticket=TicketRef(system="desk", key="LOCAL-1", id="1"),
    )


def insert(store: Store, request: ApprovalRequest) -> None:
    with store.transaction() as conn:
        store.insert_request(conn, request)
        store.audit.append(conn, request.id, "submitted", "test", {"n": 1})


def test_round_trip_keeps_every_field(store_url):
    store = Store.from_url(store_url)
    request = make_request(RequestState.TICKETED)
    request.deadline = utcnow() + timedelta(hours=1)
    insert(store, request)
    loaded = store.get(request.id)
    assert loaded.model_dump() == {**request.model_dump(), "updated_at": loaded.updated_at}
    assert store.resolve(request.id[:8]).id == request.id
    assert store.resolve("LOCAL-1").id == request.id
    assert store.find_by_ticket("desk", "LOCAL-1").id == request.id


def test_claim_is_won_by_exactly_one_of_many_engines(store_url):
    stores = [Store.from_url(store_url) for _ in range(4)]
    request = make_request()
    insert(stores[0], request)
    wins: list[str] = []
    barrier = threading.Barrier(16)

    def race(i: int) -> None:
        barrier.wait()
        if stores[i % 4].claim(request.id, f"worker-{i}", timedelta(minutes=1)):
            wins.append(f"worker-{i}")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert stores[0].get(request.id).state is RequestState.EXECUTING
    assert stores[0].get(request.id).claimed_by == wins[0]


def test_audit_chain_stays_linear_under_concurrent_writers(store_url):
    stores = [Store.from_url(store_url) for _ in range(4)]
    requests = [make_request() for _ in range(8)]
    barrier = threading.Barrier(8)

    def write(i: int) -> None:
        barrier.wait()
        store = stores[i % 4]
        insert(store, requests[i])
        for n in range(5):
            with store.transaction() as conn:
                store.audit.append(conn, requests[i].id, "event", f"w{i}", {"n": n})

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = list(stores[0].audit.rows(stores[0].engine))
    assert [r["seq"] for r in rows] == list(range(1, 8 * 6 + 1))
    assert stores[0].audit.verify(stores[0].engine) == []


def test_outbox_item_is_leased_to_one_worker(store_url):
    store_a, store_b = Store.from_url(store_url), Store.from_url(store_url)
    request = make_request()
    insert(store_a, request)
    with store_a.transaction() as conn:
        store_a.enqueue(conn, f"{request.id}:report", request.id, "report", {"x": 1})
        store_a.enqueue(conn, f"{request.id}:report", request.id, "report", {"x": 2})  # no-op
    [item] = store_a.due_outbox(utcnow())
    assert store_a.lease_outbox(item, timedelta(minutes=1))
    assert not store_b.lease_outbox(item, timedelta(minutes=1))
    assert store_b.due_outbox(utcnow()) == []


def test_webhook_delivery_ids_are_remembered(store_url):
    store = Store.from_url(store_url)
    assert store.first_delivery("jira", "abc")
    assert not Store.from_url(store_url).first_delivery("jira", "abc")
    assert store.first_delivery("servicenow", "abc")


def test_a_batch_of_delivery_ids_says_new_or_redelivered_for_each(store_url):
    store = Store.from_url(store_url)
    assert store.record_deliveries([("jira", "a")]) == [True]
    batch = [("jira", "b"), ("jira", "a"), ("jira", "b"), ("servicenow", "b"), ("jira", "c" * 400)]
    assert store.record_deliveries(batch) == [True, False, False, True, True]
    assert store.record_deliveries([("jira", "c" * 300 + "x")]) == [False]  # ids are kept to 300
    assert store.record_deliveries([]) == []


def test_a_failed_delivery_batch_records_none_of_its_ids(store_url):
    """A 202 means recorded: a batch that fails part-way leaves nothing behind, and the next
    batch goes through (the connection went back to the pool clean)."""
    store = Store.from_url(store_url)
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error for a value it cannot bind
        store.record_deliveries([("jira", "first"), (object(), "second")])  # type: ignore[list-item]
    for _ in range(3):  # more batches than one pooled connection
        assert store.record_deliveries([("jira", "first"), ("jira", uuid.uuid4().hex)]) == [True, True]
        store.prune_deliveries(utcnow() + timedelta(seconds=1))


def test_conditional_transition_refuses_the_wrong_state(store_url):
    store = Store.from_url(store_url)
    request = make_request(RequestState.REJECTED)
    insert(store, request)
    with store.transaction() as conn:
        assert not store.transition(conn, request.id, [RequestState.TICKETED], RequestState.APPROVED)
    assert store.get(request.id).state is RequestState.REJECTED


def test_delivery_commits_checkpoint_the_wal_at_their_own_bound(tmp_path, monkeypatch):
    """The webhook ledger's commits copy the WAL into the database only past LEDGER_AUTOCHECKPOINT
    pages (the replies waiting on a commit wait for its checkpoint too), so the WAL stays bounded
    by it; the pooled connection goes back with SQLite's usual 1000."""
    from connector.core.store import engine as engine_module

    monkeypatch.setattr(engine_module, "LEDGER_AUTOCHECKPOINT", 20)
    store = Store.from_url(f"sqlite:///{tmp_path / 'store.db'}")
    for batch in range(400):
        assert store.record_deliveries([("jira", f"{batch}-{i}-{'x' * 200}") for i in range(5)]) == [True] * 5
    page = 4096
    assert (tmp_path / "store.db-wal").stat().st_size < 200 * page  # the default would allow 1000 pages
    pooled = store.engine.raw_connection()
    try:
        assert pooled.cursor().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    finally:
        pooled.close()
