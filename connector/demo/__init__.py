"""``approval-connector demo``: the seed tutorial's refund e-mail, gated for real. An AssistantAgent
(scripted offline by ReplayChatCompletionClient, or a real OpenAI model) drafts the e-mail and
calls send_email; the call becomes a ticket; a human decides; the call runs once; the agent is
resumed with the outcome; the audit trail of the request is printed."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from typing import Any

import click
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import TextMessage, ToolCallExecutionEvent, ToolCallRequestEvent
from autogen_core import FunctionCall
from autogen_core.models import ChatCompletionClient, CreateResult, ModelInfo, RequestUsage
from rich.console import Console

from connector.agents.autogen.gate import approval_context
from connector.core.errors import UserError
from connector.core.models import RequestState, Verdict
from connector.demo.tools import mailbox, send_email

TASK = (
    "Draft a short customer email to jane.doe@example.com explaining that their refund for "
    "order 1042 will be processed within 3 business days, then send it."
)
SYSTEM_MESSAGE = (
    "You are a support analyst. Sending external e-mail requires human approval: call send_email "
    "once; if it says approval is pending, stop and wait to be told the outcome."
)
DRAFT = {
    "to": "jane.doe@example.com",
    "subject": "Your refund for order 1042",
    "body": (
        "Hi Jane,\n\nThanks for your patience. Your refund for order 1042 has been approved and "
        "will be processed within 3 business days.\n\nBest regards,\nCustomer Support"
    ),
}
RATIONALE = "Customer asked for the refund timeline; policy says refunds settle in 3 business days."


def _usage() -> RequestUsage:
    return RequestUsage(prompt_tokens=0, completion_tokens=0)


def scripted_client() -> ChatCompletionClient:
    from autogen_ext.models.replay import ReplayChatCompletionClient

    call = FunctionCall(id="call_refund_email", name="send_email", arguments=json.dumps(DRAFT))
    return ReplayChatCompletionClient(
        [
            CreateResult(
                finish_reason="function_calls",
                content=[call],
                usage=_usage(),
                cached=False,
                thought=RATIONALE,
            ),
            "Noted the approval outcome for the refund e-mail to Jane. TERMINATE",
        ],
        model_info=ModelInfo(
            vision=False, function_calling=True, json_output=False, family="unknown", structured_output=False
        ),
    )


def model_client(model: str) -> ChatCompletionClient:
    if model == "replay":
        return scripted_client()
    if model.startswith("openai:"):
        if not os.environ.get("OPENAI_API_KEY"):
            raise UserError("--model openai:... needs OPENAI_API_KEY in the environment")
        try:
            from autogen_ext.models.openai import OpenAIChatCompletionClient
        except ImportError:
            raise UserError("--model openai:... needs: pip install 'approval-connector[openai]'") from None
        return OpenAIChatCompletionClient(model=model.removeprefix("openai:"))
    raise UserError(f"--model: {model!r} is not 'replay' or 'openai:<model>'")


def run_demo(
    config: str | None,
    *,
    decision: tuple[str, str] | None,
    actor: str,
    model: str,
    system: str,
    console: Console,
) -> None:
    from connector.demo.environments import demo_environment

    client = model_client(model)
    with demo_environment(system, config) as env:
        asyncio.run(_run(env, decision, actor, client, console))


async def _run(env: Any, decision: tuple[str, str] | None, actor: str, client: Any, console: Console) -> None:
    connector = env.connector
    gated = connector.gate(send_email, agent="support_agent")
    agent = AssistantAgent("support_agent", model_client=client, tools=[gated], system_message=SYSTEM_MESSAGE)
    console.rule("1. The agent drafts the e-mail and calls send_email")
    console.print(f"task: {TASK}")
    with approval_context(
        conversation_id=f"demo-{uuid.uuid4().hex[:8]}", requester="jane.doe@example.com", rationale=RATIONALE
    ):
        result = await agent.run(task=TASK)
    for message in result.messages:
        if isinstance(message, ToolCallRequestEvent):
            for call in message.content:
                console.print(f"agent calls {call.name}({call.arguments})")
        elif isinstance(message, ToolCallExecutionEvent):
            for res in message.content:
                console.print(f"tool answers: {res.content}")
    request_id = getattr(gated, "last_request_id", None)
    if request_id is None:
        raise UserError("the model did not call send_email; nothing to approve")
    request = connector.store.get(request_id)
    if request.state is not RequestState.TICKETED or request.ticket is None:
        console.print(f"request {request.id} is {request.state.value}: {request.outcome().message()}")
        return
    console.rule(f"2. Ticket {request.ticket.key} waits on {env.label}")
    console.print(env.describe_ticket(request))
    console.rule("3. A human decides")
    verdict, reason, edited = _decision(decision, request.arguments, console, connector, request)
    await env.decide(request, verdict, actor, reason, edited)
    request = connector.store.get(request_id)
    console.print(f"outcome: {request.outcome().message()}")
    if request.state is RequestState.SUCCEEDED:
        sent = [m for m in mailbox() if m["to"] == request.arguments_to_run["to"]]
        if sent:
            console.print(f"mailbox: {sent[-1]['message_id']} to {sent[-1]['to']}: {sent[-1]['subject']!r}")
    console.print(env.ticket_comments(request))
    console.rule("4. The agent is resumed with the outcome")
    resumed = await agent.run(
        task=TextMessage(content=request.outcome().message(), source="approval_gatekeeper")
    )
    console.print(f"agent: {resumed.messages[-1].to_text()}")
    console.rule("5. Audit trail of this request")
    from connector.app.cli.output import print_audit

    print_audit(connector, request_id)
    problems = connector.store.audit.verify(connector.store.engine)
    console.print("audit chain intact" if not problems else f"audit chain problems: {problems}")


def _decision(
    decision: tuple[str, str] | None,
    arguments: dict[str, Any],
    console: Console,
    connector: Any,
    request: Any,
) -> tuple[Verdict, str, dict[str, Any] | None]:
    if decision is None:
        from connector.app.cli.desk import prompt_edit

        while True:
            choice = click.prompt(
                "[a]pprove, [r]eject, [e]dit and approve",
                type=click.Choice(["a", "r", "e"]),
                show_choices=False,
            )
            if choice == "a":
                return Verdict.APPROVED, "", None
            if choice == "r":
                return Verdict.REJECTED, click.prompt("Reason (the agent hears it)"), None
            edited = prompt_edit(connector, request)
            if edited is not None:
                return Verdict.APPROVED, "", edited
    kind, value = decision
    if kind == "approve":
        return Verdict.APPROVED, "", None
    if kind == "reject":
        return Verdict.REJECTED, value, None
    from connector.app.cli.edits import parse_edit

    edited = parse_edit(value, arguments)
    connector.registry.require(request.tool_name).validate(edited)
    console.print(
        f"approving with edits: {json.dumps({k: v for k, v in edited.items() if arguments.get(k) != v})}"
    )
    return Verdict.APPROVED, "", edited
