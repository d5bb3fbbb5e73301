"""The person at the local desk, as a TicketDriver: decides through the desk's own ``decide()``
(what ``approval-connector approve`` / ``reject`` / ``review`` do) and reads the desk's tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.core.errors import UserError
from connector.core.models import TicketRef, Verdict
from connector.testing.driver import TicketDriver

from .adapter import LocalDeskAdapter


class LocalDeskDriver(TicketDriver):
    """Acts on the tickets of the given desks, found by the ticket's system name."""

    supports_edits = True

    def __init__(self, desks: Mapping[str, LocalDeskAdapter]) -> None:
        self.desks = dict(desks)

    @classmethod
    def of(cls, adapters: Mapping[str, Any]) -> LocalDeskDriver:
        """A driver for every local desk among a connector's adapters."""
        return cls({name: a for name, a in adapters.items() if isinstance(a, LocalDeskAdapter)})

    def desk(self, ticket: TicketRef) -> LocalDeskAdapter:
        found = self.desks.get(ticket.system)
        if found is None:
            raise UserError(f"ticket {ticket.key} is in {ticket.system}, not on a local desk")
        return found

    def approve(self, ticket: TicketRef, actor: str, edited: dict[str, Any] | None = None) -> None:
        self.desk(ticket).decide(ticket.key, Verdict.APPROVED, actor, "", edited)

    def reject(self, ticket: TicketRef, actor: str, reason: str) -> None:
        self.desk(ticket).decide(ticket.key, Verdict.REJECTED, actor, reason)

    def comment(self, ticket: TicketRef, actor: str, text: str) -> None:
        self.desk(ticket).comment(ticket.key, actor, text)

    def status(self, ticket: TicketRef) -> str:
        return self.desk(ticket).ticket(ticket.key)["status"]

    def describe(self, ticket: TicketRef) -> str:
        row = self.desk(ticket).ticket(ticket.key)
        return f"{ticket.key}  [{row['status']}]  {row['summary']}\n{row['description']}"

    def comments(self, ticket: TicketRef) -> list[str]:
        return [c["body"] for c in self.desk(ticket).ticket(ticket.key)["comments"]]
