"""The CRM team: a sales agent (reads the CRM, proposes changes) and the approval gatekeeper,
the only participant that may submit ``update_opportunity_stage`` — as an approval ticket."""

from __future__ import annotations

import json
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core import FunctionCall
from autogen_core.models import CreateResult, RequestUsage

from connector.agents.autogen.conversation import TeamContext
from connector.agents.autogen.termination import awaiting_approval
from connector.demo.examples import scripted_or_real

from .crm import lookup_opportunity, update_opportunity_stage

SYSTEM_MESSAGE = (
    "You are a sales assistant. Look the opportunity up first. You cannot change the CRM yourself: "
    "propose each change to approval_gatekeeper as one JSON object "
    '{"tool": "update_opportunity_stage", "arguments": {"opportunity_id": ..., "stage": ..., '
    '"note": ...}, "rationale": ...}. When the gatekeeper reports the outcome, summarise it and end '
    "with TERMINATE; if rejected, revise the proposal to address the reason."
)
PROPOSAL = {
    "tool": "update_opportunity_stage",
    "arguments": {"opportunity_id": "OPP-1042", "stage": "Closed Won", "note": "Signed order form received"},
    "rationale": "Acme Corp returned the signed order form this morning; the renewal is won.",
}
REVISED = {
    "tool": "update_opportunity_stage",
    "arguments": {"opportunity_id": "OPP-1042", "stage": "Commit", "note": "Order form signed; awaiting PO"},
    "rationale": "Revised after review: the signed form is in, the purchase order is not, so Commit.",
}


def _lookup() -> CreateResult:
    call = FunctionCall(
        id="call_lookup", name="lookup_opportunity", arguments=json.dumps({"opportunity_id": "OPP-1042"})
    )
    return CreateResult(
        finish_reason="function_calls",
        content=[call],
        usage=RequestUsage(prompt_tokens=0, completion_tokens=0),
        cached=False,
    )


def script(ctx: TeamContext) -> list[Any]:
    event = ctx.event
    if event is None:
        return [_lookup(), f"OPP-1042 is in Negotiation. I propose:\n{json.dumps(PROPOSAL)}"]
    if event.kind == "question":
        return ["The order form was signed by Acme's CFO on Monday; the PDF is attached to the account."]
    if event.state == "REJECTED":
        return [f"Understood. Revised proposal:\n{json.dumps(REVISED)}"]
    if event.state == "SUCCEEDED":
        return ["The CRM is updated as approved. TERMINATE"]
    return [f"The stage was not changed ({event.state.lower()}). TERMINATE"]


def build_team(ctx: TeamContext) -> RoundRobinGroupChat:
    model = str(ctx.options.get("model", "replay"))
    sales = AssistantAgent(
        "sales_agent",
        model_client=scripted_or_real(model, lambda: script(ctx)),
        tools=[lookup_opportunity],
        max_tool_iterations=2,
        system_message=SYSTEM_MESSAGE,
    )
    gatekeeper = ctx.connector.user_proxy(tools=[update_opportunity_stage])
    termination = awaiting_approval() | TextMentionTermination("TERMINATE") | MaxMessageTermination(20)
    return RoundRobinGroupChat([sales, gatekeeper], termination_condition=termination)
