"""``approval-connector demo``: the seed tutorial's refund e-mail, gated for real. An AssistantAgent
(scripted offline by ReplayChatCompletionClient, or a real OpenAI model) drafts the e-mail and
calls send_email; the call becomes a ticket in whichever system the demo environment provides
(``environment``); a human decides through that system's TicketDriver; the call runs once; the
agent is resumed with the outcome. The command line narrates it (``connector.app.cli.demo``)."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import TextMessage, ToolCallExecutionEvent, ToolCallRequestEvent
from autogen_core import FunctionCall
from autogen_core.models import ChatCompletionClient, CreateResult, ModelInfo, RequestUsage

from connector.agents.autogen.gate import approval_context
from connector.core.errors import UserError
from connector.core.models import ApprovalRequest, RequestState, Verdict
from connector.core.tools import Tool
from connector.demo.environment import DemoEnvironment
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


def tool_lines(messages: Any) -> list[str]:
    """What an AutoGen agent did in a run, as lines: the calls it made and what they answered."""
    lines = []
    for message in messages:
        if isinstance(message, ToolCallRequestEvent):
            lines += [f"agent calls {call.name}({call.arguments})" for call in message.content]
        elif isinstance(message, ToolCallExecutionEvent):
            lines += [f"tool answers: {res.content}" for res in message.content]
    return lines


class DemoRun:
    """One pass of the demo in one environment, the same for every system: the agent calls the
    gated send_email, a human decides through the environment's driver, the connector's jobs run
    once (the poll finds the decision, the approved call runs, the outcome is reported), and the
    agent is resumed with the outcome. ``connector.demo.maf`` and ``connector.demo.mcp`` play the
    same steps with a MAF agent, and with an MCP server's tool."""

    task = TASK
    step = "The agent drafts the e-mail and calls send_email"

    def __init__(self, env: DemoEnvironment, client: ChatCompletionClient) -> None:
        self.env = env
        self.connector = env.connector
        self.gated = env.connector.gate(send_email, agent="support_agent")
        self.agent = AssistantAgent(
            "support_agent", model_client=client, tools=[self.gated], system_message=SYSTEM_MESSAGE
        )

    @property
    def tool(self) -> Tool:
        return self.connector.registry.require(self.gated.name)

    async def start(self) -> None:
        """Before the agent's turn (a server to start, for the MCP demo)."""

    async def close(self) -> None:
        """After the demo."""

    async def propose(self) -> tuple[list[str], ApprovalRequest | None]:
        """The agent's turn: what it did, as lines, and the request its gated call stored."""
        with approval_context(
            conversation_id=f"demo-{uuid.uuid4().hex[:8]}",
            requester="jane.doe@example.com",
            rationale=RATIONALE,
        ):
            result = await self.agent.run(task=TASK)
        request_id = getattr(self.gated, "last_request_id", None)
        return tool_lines(result.messages), self.connector.store.get(request_id) if request_id else None

    async def human_decides(
        self,
        request: ApprovalRequest,
        verdict: Verdict,
        actor: str,
        reason: str = "",
        edited: dict[str, Any] | None = None,
    ) -> ApprovalRequest:
        """The human acts in the ticketing system; then one poll and one outbox run, as the
        scheduler would do next."""
        assert request.ticket is not None
        if verdict is Verdict.APPROVED:
            self.env.driver.approve(request.ticket, actor, edited)
        else:
            self.env.driver.reject(request.ticket, actor, reason)
        await self.connector.poll_once()
        await self.connector.process_outbox()
        return self.connector.store.get(request.id)

    def sent(self, request: ApprovalRequest) -> dict[str, Any] | None:
        """The e-mail the approved call put in the demo mailbox, if it ran."""
        if request.state is not RequestState.SUCCEEDED:
            return None
        sent = [m for m in mailbox() if m["to"] == request.arguments_to_run["to"]]
        return sent[-1] if sent else None

    def effect(self, request: ApprovalRequest) -> str | None:
        """What the approved call did, as one line (None if it did not run)."""
        sent = self.sent(request)
        return f"mailbox: {sent['message_id']} to {sent['to']}: {sent['subject']!r}" if sent else None

    async def resume(self, request: ApprovalRequest) -> str:
        """The agent hears the outcome, as a resumed conversation would; returns its answer."""
        message = TextMessage(content=request.outcome().message(), source="approval_gatekeeper")
        resumed = await self.agent.run(task=message)
        return resumed.messages[-1].to_text()
