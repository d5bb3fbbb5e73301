"""A Jira user, as a TicketDriver: acts through the simulator's human-side helpers (a workflow
transition as that user, a comment) and reads the issue as the simulator stores it."""

from __future__ import annotations

from typing import Any

from connector.core.models import TicketRef
from connector.testing.driver import TicketDriver

from .simulator import JiraSimulator


class JiraDriver(TicketDriver):
    """``approve`` / ``reject`` are the names of the workflow's transitions out of the waiting
    status (the seeded demo project's by default). Jira has no approve-with-edits."""

    noun = "issue"

    def __init__(self, sim: JiraSimulator, approve: str = "Approve", reject: str = "Reject") -> None:
        self.sim = sim
        self.approve_transition = approve
        self.reject_transition = reject

    def approve(self, ticket: TicketRef, actor: str, edited: dict[str, Any] | None = None) -> None:
        self.refuse_edits(edited)
        self.sim.transition(ticket.key, self.approve_transition, actor=actor)

    def reject(self, ticket: TicketRef, actor: str, reason: str) -> None:
        if reason:  # Jira's reject transition has no reason field: people say why in a comment
            self.sim.comment(ticket.key, reason, actor=actor)
        self.sim.transition(ticket.key, self.reject_transition, actor=actor)

    def users(self) -> list[str] | None:
        return sorted(self.sim.users)

    def comment(self, ticket: TicketRef, actor: str, text: str) -> None:
        self.sim.comment(ticket.key, text, actor=actor)

    def status(self, ticket: TicketRef) -> str:
        return self.sim.status_of(ticket.key)

    def describe(self, ticket: TicketRef) -> str:
        issue = self.sim.issue(ticket.key)
        head = f"{ticket.key}  [{self.status(ticket)}]  {issue.fields.get('summary')}"
        return f"{head}\n{issue.fields.get('description')}"

    def comments(self, ticket: TicketRef) -> list[str]:
        return self.sim.comment_bodies(ticket.key)
