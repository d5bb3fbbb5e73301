"""TicketDriver: the human on the other side of an adapter.

An adapter is what the connector uses to talk to a ticketing system; a driver is what a person
does there: approve or reject a ticket, comment on it, and read what the ticket shows. The demo
plays its approver through one, and tests use one to decide tickets the way a user would, so that
what the connector reads back through its adapter is a real decision made in that system, never
one handed to the connector directly.

Each adapter package implements its driver in ``adapters/<kind>/testing.py``: the local desk
through the desk's own ``decide()``, Jira and ServiceNow through their simulators' human-side
helpers (a transition or an approval answered as that user). A driver never calls the adapter
under test, and it does not run the connector's jobs: after acting, the caller polls (or lets a
webhook hint) as the scheduler would.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from connector.core.models import TicketRef


class EditsNotSupported(ValueError):
    """The system offers its approvers no way to change the arguments of a call."""


class TicketDriver(ABC):
    """Acts on tickets of one ticketing system as a human would, and reads what a human sees.

    ``actor`` is the system's own user name for the person acting (``alice`` in the Jira
    simulator, ``change.manager`` in ServiceNow's, any name on the local desk)."""

    #: What the system calls a ticket, for sentences such as "issue OPS-1 is now Done".
    noun: ClassVar[str] = "ticket"
    #: Whether ``approve`` can carry edited arguments (approve-with-edits).
    supports_edits: ClassVar[bool] = False

    # --- acting ---------------------------------------------------------------------------------
    @abstractmethod
    def approve(self, ticket: TicketRef, actor: str, edited: dict[str, Any] | None = None) -> None:
        """Approve as ``actor``; with ``edited``, approve these arguments instead of the proposed
        ones (only where ``supports_edits``; otherwise EditsNotSupported)."""

    @abstractmethod
    def reject(self, ticket: TicketRef, actor: str, reason: str) -> None:
        """Reject as ``actor``, giving ``reason`` where the system lets a person say why."""

    @abstractmethod
    def comment(self, ticket: TicketRef, actor: str, text: str) -> None:
        """Write a comment on the ticket as ``actor`` (a question, a note: not a decision)."""

    # --- reading --------------------------------------------------------------------------------
    @abstractmethod
    def status(self, ticket: TicketRef) -> str:
        """The ticket's status as the system shows it, phrased to follow "is now" ("Done",
        "in state 3")."""

    @abstractmethod
    def describe(self, ticket: TicketRef) -> str:
        """What a person opening the ticket sees first: key, status and title on one line, then
        the body as the system stores it."""

    @abstractmethod
    def comments(self, ticket: TicketRef) -> list[str]:
        """The text of every comment on the ticket (work notes included), oldest first."""

    def users(self) -> list[str] | None:
        """The user names ``actor`` may be (a simulator's seeded users), or None when any name
        will do (the local desk); lets a caller refuse an unknown one before anything is filed."""
        return None

    # --- for implementations --------------------------------------------------------------------
    def refuse_edits(self, edited: dict[str, Any] | None) -> None:
        """Raise EditsNotSupported when edits are asked of a driver that has no way to make them."""
        if edited is not None and not self.supports_edits:
            raise EditsNotSupported(f"{type(self).__name__}: this system cannot approve with edits")
