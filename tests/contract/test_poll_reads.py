"""A poll cycle reads the waiting requests its search hits name, not every waiting row (at 10,000
waiting, reading them all was most of a cycle's time), and still applies each decision to its
own request and leaves the others waiting."""

from __future__ import annotations

import pytest

from connector.core.models import RequestState
from tests.conftest import sent_mail
from tests.contract.fixtures import ticketed


async def test_a_poll_applies_decisions_without_reading_every_waiting_request(
    system, conn, workdir, monkeypatch
):
    if system.kind == "local":
        pytest.skip("the local desk's poll reads its own tickets table for every waiting request")
    waiting = [await ticketed(conn, subject=f"refund {n}") for n in range(4)]
    await conn.poll_once()  # the start-up look back (a ServiceNow cursor starts here)
    full_reads = []
    every_row = conn.store.waiting_tickets
    monkeypatch.setattr(conn.store, "waiting_tickets", lambda s: full_reads.append(s) or every_row(s))
    driver = system.driver_for(conn)
    driver.approve(waiting[1].ticket, system.approver)
    driver.reject(waiting[2].ticket, system.approver, "wrong customer")
    await conn.poll_once()
    await conn.poll_once()  # a second look changes nothing
    await conn.process_outbox()
    states = [conn.store.get(r.id).state for r in waiting]
    assert states == [
        RequestState.TICKETED,
        RequestState.SUCCEEDED,
        RequestState.REJECTED,
        RequestState.TICKETED,
    ]
    assert len(sent_mail(workdir)) == 1
    assert full_reads == []
