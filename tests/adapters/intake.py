"""How a decision reaches the core in the adapter tests: by the poll, or as the webhook endpoint
hands it on (each signed delivery the simulator sent is verified and parsed by the adapter, and
its hints go to the service, which re-reads the ticket)."""

from __future__ import annotations

from typing import Any

from connector.app.runtime import Connector
from connector.core.models import DecisionEvent


async def deliver_webhooks(conn: Connector, system: str, sent: list[dict[str, Any]]) -> None:
    adapter = conn.adapters[system]
    for delivery in sent:
        adapter.verify_webhook(delivery["headers"], delivery["body"])
        for hint in adapter.parse_webhook(delivery["headers"], delivery["body"]):
            await conn.service.handle_event(hint, wait=True)


async def learn_decision(conn: Connector, path: str, system: str, ticket_key: str, request_id: str) -> None:
    """``poll``: one poll cycle; ``webhook``: a hint naming the request, as a delivery would."""
    if path == "poll":
        await conn.poll_once()
    else:
        hint = DecisionEvent(system=system, ticket_key=ticket_key, request_id=request_id, source="webhook")
        await conn.service.handle_event(hint, wait=True)
