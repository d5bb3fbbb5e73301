"""The demo's agent as a Microsoft Agent Framework agent (``demo --framework maf``): the same
send_email (a MAF ``FunctionTool`` delivering to the demo mailbox), gated by
``connector.gate(...)``, the run ended at "pending" by ``awaiting_approval()``, and a scripted
chat client that drafts the refund e-mail (offline); the agent's session is resumed with the
outcome."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from agent_framework import Agent, FunctionTool, Message

from connector.agents.autogen.gate import approval_context
from connector.agents.autogen.runs import GATEKEEPER, RunRecorder, recording
from connector.agents.maf.gate import awaiting_approval
from connector.core.models import ApprovalRequest
from connector.demo import DRAFT, RATIONALE, SYSTEM_MESSAGE, TASK, DemoRun
from connector.demo.tools import SendEmailArgs, deliver_email
from connector.testing.maf_client import ScriptedChatClient

if TYPE_CHECKING:
    from connector.demo.environment import DemoEnvironment


async def _send_email(**arguments: Any) -> str:
    return deliver_email(SendEmailArgs.model_validate(arguments))


send_email = FunctionTool(
    name="send_email",
    description="Send an e-mail to a customer.",
    func=_send_email,
    input_model=SendEmailArgs,
)


class MafDemoRun(DemoRun):
    """The demo's steps with a MAF agent (the human's side and the connector's are the same)."""

    def __init__(self, env: DemoEnvironment) -> None:
        self.env = env
        self.connector = env.connector
        self.gated = env.connector.gate(send_email, agent="support_agent")
        self.client = ScriptedChatClient(
            [("call", "call_refund_email", "send_email", DRAFT), ("echo", "Noted the outcome for Jane: ")]
        )
        self.agent = Agent(
            client=self.client,
            name="support_agent",
            instructions=SYSTEM_MESSAGE,
            tools=[self.gated],
            middleware=[awaiting_approval()],
        )
        self.session = self.agent.create_session()

    async def propose(self) -> tuple[list[str], ApprovalRequest | None]:
        with (
            recording(RunRecorder()) as recorder,
            approval_context(
                conversation_id=f"demo-{uuid.uuid4().hex[:8]}",
                requester="jane.doe@example.com",
                rationale=RATIONALE,
            ),
        ):
            response = await self.agent.run(TASK, session=self.session)
        lines = []
        for message in response.messages:
            for content in message.contents:
                if content.type == "function_call":
                    arguments = content.arguments
                    shown = arguments if isinstance(arguments, str) else json.dumps(arguments)
                    lines.append(f"agent calls {content.name}({shown})")
                elif content.type == "function_result":
                    lines.append(f"tool answers: {content.result}")
        return lines, (recorder.calls[-1][0] if recorder.calls else None)

    async def resume(self, request: ApprovalRequest) -> str:
        message = Message(role="user", contents=[request.outcome().message()], author_name=GATEKEEPER)
        return (await self.agent.run(message, session=self.session)).text
