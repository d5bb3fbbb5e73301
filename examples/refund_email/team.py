"""The refund e-mail team: one AssistantAgent with the gated send_email. ``build_team`` runs in
every process that continues the conversation, so the agent keeps its name and tools."""

from __future__ import annotations

import json
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_core import FunctionCall
from autogen_core.models import CreateResult, RequestUsage

from connector.agents.autogen.conversation import TeamContext
from connector.demo.examples import scripted_or_real
from connector.demo.tools import send_email

SYSTEM_MESSAGE = (
    "You are a support analyst. Sending external e-mail requires human approval: call send_email "
    "once; if it says approval is pending, stop. When the approval gatekeeper reports the outcome: "
    "if rejected, revise the e-mail to address the reason and call send_email again; otherwise "
    "report what happened and end with TERMINATE. Answer an approver's question briefly."
)
DRAFT = {
    "to": "jane.doe@example.com",
    "subject": "Your refund for order 1042",
    "body": "Your refund for order 1042 will be processed within 3 business days.",
}
REVISED = {
    "to": "jane.doe@example.com",
    "subject": "Your refund for order 1042 is on its way",
    "body": (
        "Hi Jane,\n\nThank you for your patience. We have approved the refund for order 1042; it will "
        "reach your card within 3 business days.\n\nBest regards,\nCustomer Support"
    ),
}
RATIONALE = "Customer asked for the refund timeline; policy says refunds settle in 3 business days."


def _call(arguments: dict[str, Any], call_id: str) -> CreateResult:
    return CreateResult(
        finish_reason="function_calls",
        content=[FunctionCall(id=call_id, name="send_email", arguments=json.dumps(arguments))],
        usage=RequestUsage(prompt_tokens=0, completion_tokens=0),
        cached=False,
        thought=RATIONALE,
    )


def script(ctx: TeamContext) -> list[Any]:
    """Every model call of this run, scripted: what a model would plausibly say here."""
    event = ctx.event
    if event is None:
        return [_call(DRAFT, "call_draft")]
    if event.kind == "question":
        return ["Card refunds settle within 3 business days of approval; order 1042 was approved today."]
    if event.state == "REJECTED":
        return [_call(REVISED, f"call_revision_{ctx.step}")]
    if event.state == "SUCCEEDED":
        return ["The approved e-mail went out to Jane; closing the case. TERMINATE"]
    return [f"Nothing was sent ({event.state.lower()}); I will tell the team lead. TERMINATE"]


def build_team(ctx: TeamContext) -> AssistantAgent:
    model = str(ctx.options.get("model", "replay"))
    return AssistantAgent(
        "support_agent",
        model_client=scripted_or_real(model, lambda: script(ctx)),
        tools=[ctx.connector.gate(send_email, agent="support_agent")],
        system_message=SYSTEM_MESSAGE,
    )
