"""A ServiceNow user, as a TicketDriver: answers the record's approval as that user (the approver
row, then the platform's roll-up), comments, and reads the record and its journal."""

from __future__ import annotations

from typing import Any

from connector.core.models import TicketRef
from connector.testing.driver import TicketDriver

from .simulator import ServiceNowSimulator

JOURNALS = ("comments", "work_notes")


class ServiceNowDriver(TicketDriver):
    """ServiceNow approvers approve or reject; they cannot change the call's arguments."""

    noun = "record"

    def __init__(self, sim: ServiceNowSimulator) -> None:
        self.sim = sim

    def approve(self, ticket: TicketRef, actor: str, edited: dict[str, Any] | None = None) -> None:
        self.refuse_edits(edited)
        self.sim.approve(ticket.key, actor)

    def reject(self, ticket: TicketRef, actor: str, reason: str) -> None:
        self.sim.reject(ticket.key, actor, reason)

    def users(self) -> list[str] | None:
        return sorted(row["user_name"] for row in self.sim.rows["sys_user"].values())

    def comment(self, ticket: TicketRef, actor: str, text: str) -> None:
        self.sim.update(ticket.key, actor, comments=text)

    def status(self, ticket: TicketRef) -> str:
        return f"in state {self.sim.record(ticket.key).get('state')}"

    def describe(self, ticket: TicketRef) -> str:
        record = self.sim.record(ticket.key)
        head = f"{ticket.key}  [state {record.get('state')}]  {record.get('short_description')}"
        return f"{head}\n{record.get('description')}"

    def comments(self, ticket: TicketRef) -> list[str]:
        return [entry["value"] for entry in self.sim.journal(ticket.key) if entry["element"] in JOURNALS]
