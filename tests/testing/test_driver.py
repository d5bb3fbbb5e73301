"""Every adapter package's TicketDriver, through its demo environment: what a person does on the
ticket is what the connector reads back through its adapter."""

from __future__ import annotations

import asyncio

import pytest

from connector.core.models import RequestState
from connector.demo.environment import demo_systems, find_demo
from connector.demo.tools import send_email
from connector.testing.driver import EditsNotSupported
from tests.conftest import EMAIL, sent_mail


def test_every_built_in_system_has_a_demo():
    assert {"local", "jira", "servicenow"} <= set(demo_systems())


@pytest.mark.parametrize("system", demo_systems())
def test_a_driver_comments_rejects_and_reads_like_a_person(system, config_path, workdir):
    with find_demo(system)(str(config_path)) as env:
        conn, driver = env.connector, env.driver
        conn.register_tool(send_email)
        request = asyncio.run(conn.service.submit("send_email", EMAIL, {"agent": "a"}))
        assert request.state is RequestState.TICKETED and request.ticket is not None
        ticket = request.ticket
        shown = driver.describe(ticket)
        assert ticket.key in shown and request.arguments_digest in shown
        waiting = driver.status(ticket)

        if not driver.supports_edits:
            with pytest.raises(EditsNotSupported):
                driver.approve(ticket, env.approver, {**request.arguments, "subject": "x"})
            assert driver.status(ticket) == waiting

        driver.reject(ticket, env.approver, "wrong customer")
        asyncio.run(conn.poll_once())
        asyncio.run(conn.process_outbox())
        after = conn.store.get(request.id)
        assert after.state is RequestState.REJECTED
        assert "wrong customer" in after.outcome().message()
        assert driver.status(ticket) != waiting
        assert any("Rejection recorded" in text and "was not run" in text for text in driver.comments(ticket))

        driver.comment(ticket, env.approver, "Thanks, I will ask the customer.")
        assert driver.comments(ticket)[-1] == "Thanks, I will ask the customer."
    assert sent_mail(workdir) == []
