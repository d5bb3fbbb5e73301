"""MAF agents and workflows the MAF conversation tests register (importable in every process, as
an application's would be). Each model call is scripted by the ScriptedChatClient, its script
chosen by what the gatekeeper is about to say (``ctx.event``); ``echo`` turns repeat what reached
the model, so a test reads it from the stored transcript even when another process resumed."""

from __future__ import annotations

from typing import Any

from agent_framework import Agent, WorkflowBuilder

from connector.agents.autogen.conversation import TeamContext
from connector.agents.maf.workflows import declare
from connector.demo.maf import send_email
from connector.testing.maf_client import ScriptedChatClient

EMAIL = {"to": "jane@example.com", "subject": "Your refund", "body": "Refund in 3 business days."}
REVISED = {**EMAIL, "body": "Hi Jane, your refund for order 1042 is on its way: 3 business days."}


def script(ctx: TeamContext) -> list[Any]:
    event = ctx.event
    if event is None:
        return [("call", "call_1", "send_email", EMAIL)]
    if event.kind == "question":
        return [("text", "Three business days is our refund policy for card payments.")]
    if event.state == "REJECTED":
        return [("call", "call_2", "send_email", REVISED)]
    return [("echo", "Heard: ")]


def session_agent(ctx: TeamContext) -> Agent:
    """An agent session: the gated tool answers "pending", the run stops there."""
    client = ScriptedChatClient(script(ctx))
    gated = ctx.connector.gate(send_email, agent="support")
    return Agent(client=client, name="support", instructions="Send the e-mail once.", tools=[gated])


def workflow(ctx: TeamContext) -> Any:
    """A one-agent workflow whose agent holds the declaration-only send_email."""
    turns = [("call", "call_9", "send_email", EMAIL)] if ctx.event is None else [("echo", "Reported: ")]
    ctx.connector.register_tool(send_email)  # what runs on approval, in whichever process decides
    agent = Agent(
        client=ScriptedChatClient(turns), name="support", instructions="Send it.", tools=[declare(send_email)]
    )
    return WorkflowBuilder(name="refunds", start_executor=agent).build()


FACTORIES = {
    "session": "tests.agents.maf_agents:session_agent",
    "workflow": "tests.agents.maf_agents:workflow",
}
