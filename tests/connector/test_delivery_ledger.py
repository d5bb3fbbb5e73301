"""The delivery-id ledger behind the webhook view: group commit in a writer thread of its own.
A reply learns "new" only once its id is committed (durable before visible), redeliveries are
answered as duplicates, a store that fails answers 503 without a traceback, and the writer that
ended when idle is started again by the next delivery."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
from starlette.testclient import TestClient

from adapters.jira.simulator import JiraSimulator
from connector.app.webhooks import DeliveryLedger, create_app
from tests.connector.test_webhooks import make_connector, signed

IGNORED = {"webhookEvent": "jira:worklog_updated"}  # verified and recorded, nothing handed on


@pytest.fixture
def sim(acr_jira_server) -> JiraSimulator:
    return acr_jira_server.sim


def stored(workdir, delivery: str) -> bool:
    with sqlite3.connect(workdir / "connector.db") as db:
        row = db.execute("SELECT 1 FROM webhook_deliveries WHERE delivery_id = ?", (delivery,)).fetchone()
    return row is not None


def test_each_reply_waits_until_its_own_id_is_committed(sim, workdir):
    conn = make_connector(sim, workdir)
    ledger = DeliveryLedger(conn)
    ids = [f"d-{i % 40}" for i in range(100)]  # 40 ids, most of them delivered more than once

    async def deliver(delivery: str) -> bool:
        fresh = await ledger.first("jira", delivery)
        assert stored(workdir, delivery)  # committed before the reply could say anything
        return fresh

    async def all_at_once() -> list[bool]:
        return await asyncio.gather(*(deliver(d) for d in ids))

    fresh = asyncio.run(all_at_once())
    assert sum(fresh) == 40  # each id is new exactly once, however the batches fell
    assert {d for d, f in zip(ids, fresh, strict=True) if f} == set(ids)
    conn.close()


def test_a_failing_store_answers_503_once_then_deliveries_go_through(sim, workdir, monkeypatch):
    conn = make_connector(sim, workdir)
    app = create_app(conn)
    ledger = app.state.intake.ledger
    real = ledger.store.record_deliveries
    failures = iter([RuntimeError("database is down")])

    def flaky(pairs):
        for exc in failures:
            raise exc
        return real(pairs)

    monkeypatch.setattr(ledger.store, "record_deliveries", flaky)
    with TestClient(app, raise_server_exceptions=False) as client:
        down, again, duplicate = (post(client, IGNORED, "x-1") for _ in range(3))
    assert (down.status_code, down.json()) == (503, {"error": "store unavailable, retry later"})
    assert (again.status_code, again.json()) == (200, {"status": "ignored"})  # recorded this time
    assert (duplicate.status_code, duplicate.json()) == (200, {"status": "duplicate"})
    conn.close()


def test_the_writer_ends_when_idle_and_the_next_delivery_starts_another(sim, workdir, monkeypatch):
    monkeypatch.setattr(DeliveryLedger, "IDLE", 0.05)
    conn = make_connector(sim, workdir)
    ledger = DeliveryLedger(conn)

    async def twice() -> list[bool]:
        first = await ledger.first("jira", "idle-1")
        writer = ledger._writer
        while ledger._writer is not None:  # the writer gives up after IDLE seconds of nothing
            await asyncio.sleep(0.01)
        assert writer is not None
        writer.join(1)
        assert not writer.is_alive()
        return [first, await ledger.first("jira", "idle-1"), await ledger.first("jira", "idle-2")]

    assert asyncio.run(twice()) == [True, False, True]
    conn.close()


def post(client: TestClient, payload: dict, delivery: str):
    body, headers = signed(payload, delivery=delivery)
    return client.post("/webhooks/jira", content=body, headers=headers)


def test_a_body_past_the_limit_is_refused_and_its_id_not_recorded(sim, workdir):
    """413 once the body passes MAX_BODY (the view stops reading there); nothing is recorded."""
    from connector.app import webhooks

    conn = make_connector(sim, workdir)
    app = create_app(conn)
    pieces = 2 * webhooks.MAX_BODY // 65536 + 1

    def chunks():  # a body sent in 64 KiB pieces, twice the limit in all
        for _ in range(pieces):
            yield b"x" * 65536

    with TestClient(app) as client:
        _, headers = signed(IGNORED, delivery="big-1")
        answer = client.post("/webhooks/jira", content=chunks(), headers=headers)
        small = post(client, IGNORED, "big-1")
    assert (answer.status_code, answer.json()) == (413, {"error": "body too large"})
    assert (small.status_code, small.json()) == (200, {"status": "ignored"})  # big-1 was not recorded
    conn.close()


def test_a_writer_that_dies_answers_its_queued_deliveries_and_is_replaced(sim, workdir, monkeypatch):
    """Something unforeseen kills the writer thread: the deliveries it had are answered (an
    error, hence 503), never left waiting, and the next delivery starts a new writer."""
    conn = make_connector(sim, workdir)
    ledger = DeliveryLedger(conn)
    real = ledger._commit
    deaths = iter([SystemError("writer crashed")])

    def dying(batch):
        for exc in deaths:
            raise exc
        real(batch)

    monkeypatch.setattr(ledger, "_commit", dying)

    async def deliver(delivery: str) -> bool | str:
        try:
            return await asyncio.wait_for(ledger.first("jira", delivery), 10)
        except asyncio.TimeoutError:
            return "no answer"
        except SystemError:
            return "error"

    assert asyncio.run(deliver("first")) == "error"
    # a delivery handed over while the writer is still dying is answered by it, with its error (503:
    # the sender retries); one that comes after it is gone starts a new writer
    deadline = time.monotonic() + 10
    while ledger._writer is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert asyncio.run(deliver("second")) is True  # a new writer took over
    assert stored(workdir, "second") and not stored(workdir, "first")
    conn.close()
