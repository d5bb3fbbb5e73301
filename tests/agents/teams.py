"""Team factories the conversation tests register (importable in every process, as a real
application's would be). Every model call is scripted by a ReplayChatCompletionClient whose
script depends on what the gatekeeper is about to say (``ctx.event``): a fresh process needs a
fresh script (NOTES §7.11). ``ctx.options`` chooses the team shape and the behaviour."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.teams import RoundRobinGroupChat, SelectorGroupChat, Swarm
from autogen_core import FunctionCall
from autogen_core.models import CreateResult, ModelInfo, RequestUsage
from autogen_ext.models.replay import ReplayChatCompletionClient

from connector.agents.autogen.conversation import TeamContext
from connector.agents.autogen.termination import awaiting_approval
from connector.demo.tools import send_email

MODEL = ModelInfo(
    vision=False, function_calling=True, json_output=False, family="unknown", structured_output=False
)
EMAIL = {"to": "jane@example.com", "subject": "Your refund", "body": "Refund in 3 business days."}
REVISED = {**EMAIL, "body": "Hi Jane, your refund for order 1042 is on its way: 3 business days."}
SLOW_ENV = "CONVERSATION_TEST_SLOW"  # seconds a resumed run's model "thinks" (kill -9 tests)
BLOCKING: dict[str, float] = {}  # worker id -> seconds its resumed runs' model blocks the event loop
FAILING: set[str] = set()  # conversation ids whose team cannot be rebuilt (a broken factory)


def call(name: str, arguments: dict[str, Any], call_id: str = "call_1") -> CreateResult:
    return CreateResult(
        finish_reason="function_calls",
        content=[FunctionCall(id=call_id, name=name, arguments=json.dumps(arguments))],
        usage=RequestUsage(prompt_tokens=0, completion_tokens=0),
        cached=False,
    )


class SlowReplay(ReplayChatCompletionClient):
    """A scripted model that takes its time (asynchronously, or blocking the loop) when told."""

    def __init__(self, chat_completions: list[Any], slow: float = 0.0, block: float = 0.0) -> None:
        super().__init__(chat_completions, model_info=MODEL)
        self.slow, self.block = slow, block

    async def create(self, *args: Any, **kwargs: Any) -> CreateResult:
        if self.slow:
            await asyncio.sleep(self.slow)
        if self.block:
            time.sleep(self.block)  # a client that blocks: heartbeats stop, the lease runs out
        return await super().create(*args, **kwargs)


def script(ctx: TeamContext) -> list[Any]:
    """What the proposing agent's model says in this run."""
    event = ctx.event
    if event is None:
        return [call("send_email", EMAIL)]
    if event.kind == "question":
        return ["Three business days is our refund policy for card payments. TERMINATE"]
    if event.state == "REJECTED":
        return [call("send_email", REVISED, "call_2")]
    return [f"Outcome noted: {event.state}. TERMINATE"]


def client(ctx: TeamContext) -> ReplayChatCompletionClient:
    if ctx.event is not None and ctx.conversation_id in FAILING:
        raise RuntimeError("model endpoint unreachable")
    if ctx.event is None:
        return SlowReplay(script(ctx))
    slow = float(os.environ.get(SLOW_ENV) or 0)
    return SlowReplay(script(ctx), slow=slow, block=BLOCKING.get(ctx.connector.service.worker_id, 0.0))


def assistant(ctx: TeamContext, handoffs: list[str] | None = None) -> AssistantAgent:
    gated = ctx.connector.gate(send_email, agent="assistant")
    return AssistantAgent(
        "assistant",
        model_client=client(ctx),
        tools=[gated],
        handoffs=handoffs,
        system_message="Send the e-mail with send_email; wait for the approval outcome.",
    )


def reviewer(ctx: TeamContext) -> AssistantAgent:
    said = "Reviewer: noted. TERMINATE" if ctx.event else "Reviewer: looks fine."
    return AssistantAgent("reviewer", model_client=ReplayChatCompletionClient([said] * 3, model_info=MODEL))


def termination() -> Any:
    return awaiting_approval() | TextMentionTermination("TERMINATE") | MaxMessageTermination(12)


def single(ctx: TeamContext) -> AssistantAgent:
    return assistant(ctx)


def round_robin(ctx: TeamContext) -> RoundRobinGroupChat:
    return RoundRobinGroupChat([assistant(ctx), reviewer(ctx)], termination_condition=termination())


def selector(ctx: TeamContext) -> SelectorGroupChat:
    def pick(messages: Any) -> str | None:
        return "assistant" if messages[-1].source in ("user", "approval_gatekeeper") else "reviewer"

    return SelectorGroupChat(
        [assistant(ctx), reviewer(ctx)],
        model_client=ReplayChatCompletionClient([], model_info=MODEL),  # required, never called
        selector_func=pick,
        termination_condition=termination(),
    )


def swarm(ctx: TeamContext) -> Swarm:
    return Swarm([assistant(ctx, handoffs=["reviewer"]), reviewer(ctx)], termination_condition=termination())


FACTORIES = {
    "single": "tests.agents.teams:single",
    "round_robin": "tests.agents.teams:round_robin",
    "selector": "tests.agents.teams:selector",
    "swarm": "tests.agents.teams:swarm",
}


PROPOSAL = {
    "tool": "update_crm_record",
    "arguments": {"record_id": "OPP-7", "field": "stage", "value": "Closed Won"},
    "rationale": "The signed order form arrived today.",
}


def sales_script(ctx: TeamContext) -> list[Any]:
    event = ctx.event
    if event is None:
        return [f"I propose this change:\n{json.dumps(PROPOSAL)}", "Change applied; all done. TERMINATE"]
    if event.kind == "question":
        return ["The customer signed the order form on Monday; the PDF is in the account folder."]
    return [f"Gatekeeper says {event.state}; wrapping up. TERMINATE"]


def gatekeeper_chat(ctx: TeamContext) -> RoundRobinGroupChat:
    """The seed's architecture: a worker proposes, the ticket-backed gatekeeper decides."""
    from connector.demo.tools import update_crm_record

    sales = AssistantAgent(
        "sales_agent",
        model_client=ReplayChatCompletionClient(sales_script(ctx), model_info=MODEL),
        system_message="Propose CRM changes to approval_gatekeeper as JSON: tool, arguments, rationale.",
    )
    wait = ctx.options.get("wait")
    gatekeeper = ctx.connector.user_proxy(tools=[update_crm_record], wait=float(wait) if wait else None)
    return RoundRobinGroupChat([sales, gatekeeper], termination_condition=termination())


GATEKEEPER_CHAT = "tests.agents.teams:gatekeeper_chat"
