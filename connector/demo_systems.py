"""Where the demo's ticket lives: the local desk, or a simulated Jira / ServiceNow served on
loopback (real HTTP), with a scripted human acting in it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import UserError
from .models import ApprovalRequest, Verdict
from .runtime import Connector


class LocalDemo:
    label = "the local desk"

    def __init__(self, connector: Connector) -> None:
        self.connector = connector

    def _desk(self, request: ApprovalRequest) -> Any:
        from .cli import desk_for

        return desk_for(self.connector, request)

    def describe_ticket(self, request: ApprovalRequest) -> str:
        assert request.ticket is not None
        ticket = self._desk(request).ticket(request.ticket.key)
        return f"{ticket['key']}  [{ticket['status']}]  {ticket['summary']}\n{ticket['description']}"

    async def decide(
        self, request: ApprovalRequest, verdict: Verdict, actor: str, reason: str, edited: dict | None
    ) -> None:
        from .cli import decide

        await decide(self.connector, request, verdict, actor, reason, edited)

    def ticket_comments(self, request: ApprovalRequest) -> str:
        assert request.ticket is not None
        ticket = self._desk(request).ticket(request.ticket.key)
        lines = [f"ticket {ticket['key']} is now {ticket['status']}; comments:"]
        lines += [f"  [{c['author']}] {c['body']}" for c in ticket["comments"]]
        return "\n".join(lines)


@contextmanager
def demo_environment(system: str, config: str | None) -> Iterator[Any]:
    if system == "local":
        connector = Connector.from_config(config)
        try:
            yield LocalDemo(connector)
        finally:
            connector.close()
        return
    raise UserError(f"--system: {system!r} is not one of local, jira, servicenow")
