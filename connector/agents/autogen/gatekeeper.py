"""The seed article's gatekeeper: a ``UserProxyAgent`` whose ``input_func`` is backed by a ticket.

When the group chat turns to it, it takes the newest proposal in the messages it was handed —
JSON ``{"tool": ..., "arguments": {...}, "rationale": ...}``, as the proposing agent is told to
write it — and files it as an approval request with the proposer's rationale and the last
messages. It answers "submitted as OPS-41, pending" and the team's ``awaiting_approval()``
condition ends the run with that stop reason: no thread blocks for hours (AutoGen's own advice
for slow humans). The decision resumes the group chat like any gated call; the approved call is
run by the connector, exactly once. ``wait=SECONDS`` opts into a bounded wait for short
approvals: the answer is then the outcome itself and the team goes on."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from typing import TYPE_CHECKING, Any

from autogen_agentchat.agents import UserProxyAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage
from autogen_core import CancellationToken

from connector.core.errors import UserError
from connector.core.policy import require_route
from connector.core.service.conversation_text import outcome_message

from .gate import current_context, pending_message
from .runs import GATEKEEPER, note_call
from .tools import as_autogen_tool

if TYPE_CHECKING:
    from connector.app.runtime import Connector

CONTEXT_MESSAGES = 6
MAX_RATIONALE = 3000


def find_proposal(messages: Sequence[BaseChatMessage]) -> tuple[dict[str, Any], str] | None:
    """The newest message carrying a JSON object with ``tool`` and ``arguments``, and its source."""
    decoder = json.JSONDecoder()
    for message in reversed(messages):
        text = message.to_text()
        start = text.find("{")
        while start != -1:
            try:
                value, _ = decoder.raw_decode(text, start)
            except ValueError:
                value = None
            if isinstance(value, dict) and isinstance(value.get("tool"), str) and "arguments" in value:
                return value, message.source
            start = text.find("{", start + 1)
    return None


def _recent(messages: Sequence[BaseChatMessage]) -> str:
    lines = []
    for message in list(messages)[-CONTEXT_MESSAGES:]:
        text = " ".join(message.to_text().split())
        lines.append(f"[{message.source}] {text[:400]}")
    return "\n".join(lines)


class TicketInput:
    """``input_func`` for UserProxyAgent: a ticket instead of a terminal prompt."""

    def __init__(
        self,
        connector: Connector,
        tools: Sequence[str],
        *,
        route: str | None = None,
        wait: float | None = None,
        wait_interval: float = 2.0,
    ) -> None:
        self.connector = connector
        self.tools = list(tools)
        self.route = route
        self.wait = wait
        self.wait_interval = wait_interval
        self.messages: list[BaseChatMessage] = []  # what the group chat handed the gatekeeper

    async def __call__(self, prompt: str, cancellation_token: CancellationToken | None = None) -> str:
        found = find_proposal(self.messages)
        tools = ", ".join(self.tools)
        if found is None:
            return (
                'No action to approve. Propose it as JSON: {"tool": NAME, "arguments": {...}, '
                f'"rationale": WHY}} — tools I can submit: {tools}.'
            )
        proposal, proposer = found
        name = proposal["tool"]
        if name not in self.tools:
            return f"I cannot submit {name!r} for approval; tools I can submit: {tools}."
        arguments = proposal.get("arguments")
        if not isinstance(arguments, dict):
            return "Not submitted: 'arguments' must be a JSON object. Fix the proposal and send it again."
        context = current_context()
        parts = [context.get("rationale", ""), str(proposal.get("rationale") or "")]
        parts.append("Recent messages:\n" + _recent(self.messages))
        rationale = "\n\n".join(p.strip() for p in parts if p and p.strip())[:MAX_RATIONALE]
        context.update(agent=proposer, rationale=rationale)
        service = self.connector.service
        try:
            request = await service.submit(name, arguments, context, self.route)
        except UserError as exc:
            return f"Not submitted: {exc}. Fix the proposal and send it again."
        if self.wait and not request.state.terminal:
            request = await service.wait_for(request.id, self.wait, self.wait_interval)
        note_call(request, deferred=not request.state.terminal)
        if request.state.terminal:
            return outcome_message(request)
        return pending_message(request)


class ApprovalGatekeeper(UserProxyAgent):
    """A UserProxyAgent that hands its ticket-backed ``input_func`` the messages of its turn."""

    def __init__(self, name: str, ticket_input: TicketInput, description: str = "") -> None:
        super().__init__(
            name,
            description=description
            or "Approval gatekeeper: send it a proposed action as JSON {tool, arguments, rationale}; "
            "it files an approval ticket and reports the decision.",
            input_func=ticket_input.__call__,  # a bound coroutine function: AutoGen awaits it
        )
        self.ticket_input = ticket_input

    async def on_messages_stream(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | Response, None]:
        self.ticket_input.messages = list(messages)
        async for item in super().on_messages_stream(messages, cancellation_token):
            yield item


def user_proxy(
    connector: Connector,
    name: str = GATEKEEPER,
    *,
    tools: Sequence[Any],
    route: str | None = None,
    wait: float | None = None,
    wait_interval: float = 2.0,
    description: str = "",
) -> ApprovalGatekeeper:
    """The gatekeeper for ``tools`` (functions or AutoGen tools, registered to run on approval)."""
    names = []
    for tool in tools:
        base = as_autogen_tool(tool)
        require_route(connector.config, base.name, route)
        connector.registry.register(base)
        names.append(base.name)
    if not names:
        raise UserError("user_proxy needs the tools it may submit for approval (tools=[...])")
    if wait is not None and wait <= 0:
        raise UserError("wait must be a positive number of seconds")
    ticket_input = TicketInput(connector, names, route=route, wait=wait, wait_interval=wait_interval)
    return ApprovalGatekeeper(name, ticket_input, description)
