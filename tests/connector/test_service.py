"""ApprovalService details a user would notice when something goes wrong."""

from __future__ import annotations

from connector.errors import UnavailableError
from connector.models import DecisionEvent, PollResult, RequestState
from tests.conftest import EMAIL, agent_calls


async def test_poll_cursor_does_not_advance_past_a_decision_that_failed_to_apply(connector, monkeypatch):
    from connector.demo_tools import send_email

    await agent_calls(connector.gate(send_email), "send_email", EMAIL)
    [request] = connector.store.list([RequestState.TICKETED])
    connector.store.save_cursor("desk", "old-cursor")
    event = DecisionEvent(system="desk", ticket_key=request.ticket.key, request_id=request.id)
    monkeypatch.setattr(
        connector.adapters["desk"],
        "poll",
        lambda pending, cursor: PollResult(events=[event], cursor="new-cursor"),
    )

    async def unavailable(event, **_):
        raise UnavailableError("desk flaky", system="desk")

    monkeypatch.setattr(connector.service, "handle_event", unavailable)
    await connector.poll_once()
    assert connector.store.cursor("desk")[0] == "old-cursor"  # fetched again next cycle

    monkeypatch.undo()
    monkeypatch.setattr(
        connector.adapters["desk"], "poll", lambda pending, cursor: PollResult(cursor="new-cursor")
    )
    await connector.poll_once()
    assert connector.store.cursor("desk")[0] == "new-cursor"
