"""ApprovalService details a user would notice when something goes wrong."""

from __future__ import annotations

from connector.core.errors import UnavailableError
from connector.core.models import DecisionEvent, PollResult, RequestState, Verdict, utcnow
from tests.conftest import EMAIL, agent_calls


async def test_poll_cursor_does_not_advance_past_a_decision_that_failed_to_apply(connector, monkeypatch):
    from connector.demo.tools import send_email

    await agent_calls(connector.gate(send_email), "send_email", EMAIL)
    [request] = connector.store.list([RequestState.TICKETED])
    connector.store.save_cursor("desk", "old-cursor")
    event = DecisionEvent(system="desk", ticket_key=request.ticket.key, request_id=request.id)
    monkeypatch.setattr(
        connector.adapters["desk"],
        "poll",
        lambda pending, cursor: PollResult(events=[event], cursor="new-cursor"),
    )

    def unavailable(ticket, request):  # the poll hit must be re-read, and the re-read fails
        raise UnavailableError("desk flaky", system="desk")

    monkeypatch.setattr(connector.adapters["desk"], "read_decision", unavailable)
    await connector.poll_once()
    assert connector.store.cursor("desk")[0] == "old-cursor"  # fetched again next cycle

    monkeypatch.undo()
    monkeypatch.setattr(
        connector.adapters["desk"], "poll", lambda pending, cursor: PollResult(cursor="new-cursor")
    )
    await connector.poll_once()
    assert connector.store.cursor("desk")[0] == "new-cursor"


async def test_secrets_in_a_tool_error_never_reach_audit_or_ticket(connector):
    from autogen_core.tools import FunctionTool

    async def call_crm(record: str) -> str:
        """Update the CRM."""
        raise RuntimeError(
            "POST https://svc:hunter2@crm.example/api?token=abc123def failed; "
            "Authorization: Bearer eyJhbGciOi.x.y"
        )

    tool = FunctionTool(call_crm, description="Update the CRM.", name="apply_change")  # route 'change'
    connector.register_tool(tool)
    request = await connector.service.submit("apply_change", {"record": "42"}, {})
    connector.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
    after = await connector.service.refresh(request.id)
    await connector.process_outbox()
    assert after.state is RequestState.FAILED
    audit = str(list(connector.store.audit.rows(connector.store.engine, request.id)))
    comments = str(connector.adapters["desk"].ticket(request.ticket.key)["comments"])
    for secret in ("hunter2", "abc123def", "eyJhbGciOi"):
        assert secret not in after.error and secret not in audit and secret not in comments
    assert "RuntimeError" in after.error


async def test_a_template_that_fails_on_these_arguments_keeps_the_request_and_says_why(connector):
    from autogen_core.tools import FunctionTool

    async def send_email(record: str) -> str:
        """A send_email whose arguments lack the 'to' the route's summary template uses."""
        return "sent"

    connector.register_tool(FunctionTool(send_email, description="x"))
    request = await connector.service.submit("send_email", {"record": "42"}, {})
    assert request.state is RequestState.SUBMITTED and request.ticket is None  # stored, not lost
    [item] = [i for i in connector.store.outbox_for(request.id) if i["delivered_at"] is None]
    assert "'dict object' has no attribute 'to'" in item["last_error"]


async def test_housekeeping_forgets_old_delivery_ids_only(connector):
    from datetime import timedelta

    from sqlalchemy import update

    from connector.core.store import deliveries_table

    assert connector.store.first_delivery("desk", "old")
    assert connector.store.first_delivery("desk", "new")
    with connector.store.transaction() as conn:
        conn.execute(
            update(deliveries_table)
            .where(deliveries_table.c.delivery_id == "old")
            .values(received_at=utcnow() - timedelta(days=8))
        )
    assert await connector.housekeeping() == 1
    assert connector.store.first_delivery("desk", "old")  # forgotten: past any redelivery window
    assert not connector.store.first_delivery("desk", "new")  # still recognised as a redelivery
