"""Fixtures of the contract and attack suites (loaded as a plugin by tests/conftest.py): each
test runs once per ticketing system."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from connector.app.runtime import Connector
from connector.core.models import ApprovalRequest, RequestState, utcnow
from connector.core.store import outbox_table
from connector.demo.tools import send_email
from connector.testing.contract import ContractSystem
from tests.conftest import EMAIL
from tests.contract.systems import SYSTEMS, load


@pytest.fixture(params=SYSTEMS, ids=lambda path: path.rsplit(":", 1)[1].removesuffix("Contract").lower())
def system(request: pytest.FixtureRequest, workdir) -> Iterator[ContractSystem]:
    instance = load(request.param)(workdir)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def conn(system: ContractSystem) -> Iterator[Connector]:
    connector = system.connector()
    connector.register_tool(send_email)
    yield connector
    connector.close()


async def submit(
    conn: Connector, requester: str = "jane.customer@example.com", **args: Any
) -> ApprovalRequest:
    context = {"agent": "support_agent", "requester": requester, "rationale": "asked by the customer"}
    return await conn.service.submit("send_email", {**EMAIL, **args}, context)


async def ticketed(conn: Connector, **args: Any) -> ApprovalRequest:
    request = await submit(conn, **args)
    assert request.state is RequestState.TICKETED and request.ticket is not None, request
    return request


def make_due(conn: Connector) -> None:
    """The outbox's next attempts are due now (as if their backoff had passed)."""
    with conn.store.transaction() as tx:
        tx.execute(
            update(outbox_table)
            .where(outbox_table.c.delivered_at.is_(None))
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


def events(conn: Connector, request_id: str, name: str) -> list[dict]:
    return [r for r in conn.store.audit.rows(conn.store.engine, request_id) if r["event"] == name]


@contextmanager
def served_with_webhooks(system: ContractSystem, conn: Connector) -> Iterator[Any]:
    """``conn`` served over real HTTP (uvicorn on loopback), its start-up poll done, and the
    system's webhooks pointed at it; skips where the system sends none."""
    if not system.has_webhooks:
        pytest.skip(f"{system.kind} sends no webhooks")
    from tests.connector.service_harness import RunningService, wait_until

    with RunningService(conn) as service:
        wait_until(lambda: service.get("/healthz").json()["status"] == "ok")
        system.point_webhooks_at(f"{service.url}/webhooks/{system.name}")
        yield service
