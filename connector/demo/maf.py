"""The demo's agent as a Microsoft Agent Framework agent (``demo --framework maf``): the same
send_email (a MAF ``FunctionTool`` delivering to the demo mailbox), gated by
``connector.gate(...)``, and a scripted chat client that drafts the refund e-mail (offline)."""

from __future__ import annotations

from typing import Any

from agent_framework import Agent, FunctionTool

from connector.demo.tools import SendEmailArgs, deliver_email
from connector.testing.maf_client import ScriptedChatClient


async def _send_email(**arguments: Any) -> str:
    return deliver_email(SendEmailArgs.model_validate(arguments))


send_email = FunctionTool(
    name="send_email",
    description="Send an e-mail to a customer.",
    func=_send_email,
    input_model=SendEmailArgs,
)


def scripted_client(draft: dict[str, Any]) -> ScriptedChatClient:
    """Drafts the e-mail and calls send_email once; after the outcome, says what it noted."""
    return ScriptedChatClient(
        [("call", "call_refund_email", "send_email", draft), ("echo", "Noted the outcome for Jane: ")]
    )


def demo_agent(gated: FunctionTool, client: Any, instructions: str) -> Agent:
    from connector.agents.maf.gate import awaiting_approval

    return Agent(
        client=client,
        name="support_agent",
        instructions=instructions,
        tools=[gated],
        middleware=[awaiting_approval()],
    )
