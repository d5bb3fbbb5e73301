"""One webhook hint whose ticket cannot be read (Jira answering 5xx for that issue) is logged in
one line and left to the poll; the other hints that arrived with it are still applied at once."""

from __future__ import annotations

import asyncio
import logging

from connector.agents.autogen.gate import approval_context
from connector.core.models import RequestState
from connector.demo.tools import send_email
from tests.conftest import EMAIL, agent_calls, sent_mail
from tests.connector.service_harness import RunningService, wait_until
from tests.connector.test_webhooks import issue_event, make_connector, signed, sim, submit  # noqa: F401


def test_an_unreadable_ticket_does_not_hold_up_the_other_hints(sim, workdir, caplog):  # noqa: F811
    conn = make_connector(sim, workdir, approvers=["5b10a2844c20165700ede21a"])  # poll: 1h
    broken, fine = submit(conn), submit_second(conn)
    caplog.set_level(logging.INFO, logger="approval_connector")
    with RunningService(conn) as service:
        wait_until(lambda: service.get("/healthz").json()["status"] == "ok")  # start-up poll done
        for request in (broken, fine):
            sim.set_status(request.ticket.key, "Approved", actor="alice")
        unreadable = rf"/issue/({broken.ticket.id}|{broken.ticket.key})$"
        sim.inject_fault(503, times=50, method="GET", path=unreadable)
        for request in (broken, fine):  # delivered together: one batch
            assert service.post("jira", *signed(issue_event(sim, request.ticket.key))).status_code == 202
        wait_until(lambda: conn.store.get(fine.id).state is RequestState.SUCCEEDED)
        wait_until(lambda: any("not applied" in r.getMessage() for r in caplog.records))
    assert conn.store.get(broken.id).state is RequestState.TICKETED  # left for the poll, not lost
    assert len(sent_mail(workdir)) == 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    conn.close()


def submit_second(conn):
    """A second e-mail request (``submit`` expects to be the only one)."""

    async def go():
        with approval_context(requester="bob@example.com"):
            await agent_calls(conn.gate(send_email), "send_email", {**EMAIL, "subject": "second"})

    asyncio.run(go())
    return next(r for r in conn.store.list() if r.arguments["subject"] == "second")
