"""The triage team: one AssistantAgent in a RoundRobinGroupChat that reads the policy and the
device, classifies the request and files the change through the gated ``provision_software``."""

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

from .tools import lookup_device, lookup_policy, provision_software

SYSTEM_MESSAGE = (
    "You triage IT change requests. Check the software with lookup_policy and the device with "
    "lookup_device, classify the change (standard / normal / emergency, risk), then call "
    "provision_software once with a step-by-step plan and a backout plan: it files the change for "
    "approval. When the outcome comes back, summarise what was done and end with TERMINATE; if "
    "rejected, revise the plan to address the reason and file it again. Answer an approver's "
    "question from what you looked up."
)
CHANGE = {
    "software": "Docker Desktop",
    "configuration_item": "LT-2291",
    "requested_for": "j.doe",
    "change_type": "normal",
    "risk": "moderate",
    "classification": "Normal change, moderate risk: needs local admin rights and virtualization; "
    "licensed per seat (a Docker Business seat is free); not a pre-approved catalogue item.",
    "plan": "1. Assign a Docker Business seat to j.doe. 2. Confirm virtualization and WSL2 on LT-2291. "
    "3. Push Docker Desktop via Intune to LT-2291. 4. Add j.doe to docker-users. 5. Verify hello-world.",
    "backout_plan": "Uninstall Docker Desktop via Intune, remove j.doe from docker-users, release the seat.",
}
REVISED = {
    **CHANGE,
    "plan": "In Friday's 18:00 maintenance window: " + CHANGE["plan"] + " 6. Notify j.doe when done.",
}


def _call(name: str, arguments: dict[str, Any], call_id: str) -> CreateResult:
    return CreateResult(
        finish_reason="function_calls",
        content=[FunctionCall(id=call_id, name=name, arguments=json.dumps(arguments))],
        usage=RequestUsage(prompt_tokens=0, completion_tokens=0),
        cached=False,
    )


def script(ctx: TeamContext) -> list[Any]:
    event = ctx.event
    if event is None:
        return [
            _call("lookup_policy", {"software": "Docker Desktop"}, "call_policy"),
            _call("lookup_device", {"asset_tag": "LT-2291"}, "call_device"),
            _call("provision_software", CHANGE, "call_change"),
            "Filed a normal change (moderate risk) for Docker Desktop on LT-2291; waiting for approval.",
        ]
    if event.kind == "question":
        return [
            "Yes: the policy licenses Docker Desktop per seat under Docker Business, and Platform "
            "Engineering has 3 free seats; LT-2291 (Dell Latitude 7440, Windows 11) has "
            "virtualization enabled."
        ]
    if event.state == "REJECTED":
        return [_call("provision_software", REVISED, f"call_change_{ctx.step}"), "Filed the revised change."]
    if event.state == "SUCCEEDED":
        return [
            "Done: Docker Desktop is installed on LT-2291 for j.doe under the approved change; the "
            "provisioning job is logged on the change. TERMINATE"
        ]
    return [f"Nothing was installed ({event.state.lower()}); I will tell j.doe. TERMINATE"]


def build_team(ctx: TeamContext) -> RoundRobinGroupChat:
    model = str(ctx.options.get("model", "replay"))
    triage = AssistantAgent(
        "triage_agent",
        model_client=scripted_or_real(model, lambda: script(ctx)),
        tools=[lookup_policy, lookup_device, ctx.connector.gate(provision_software, agent="triage_agent")],
        max_tool_iterations=4,
        system_message=SYSTEM_MESSAGE,
    )
    termination = awaiting_approval() | TextMentionTermination("TERMINATE") | MaxMessageTermination(20)
    return RoundRobinGroupChat([triage], termination_condition=termination)
