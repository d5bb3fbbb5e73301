"""The demo with an MCP server's tool (``demo --mcp``): the demo's ledger server
(``connector.demo.mcp_server``, started over stdio, marked trusted) behind the gated AutoGen
workbench. The agent checks the balance — a read-only tool of a trusted server, so it passes as
is — and transfers the refund: ``ledger/transfer_funds`` files a ticket on the demo's system
(its first gate route's system and approvers), the human decides, and the connector opens the
server and makes the transfer itself, once."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import TextMessage
from autogen_core import FunctionCall
from autogen_core.models import CreateResult, ModelInfo, RequestUsage

from connector.agents.autogen.gate import approval_context
from connector.agents.autogen.runs import GATEKEEPER, RunRecorder, recording
from connector.app.runtime import Connector
from connector.core.errors import UserError
from connector.core.models import ApprovalRequest, Mode, RequestState
from connector.core.settings import ConnectorConfig, McpServerConfig
from connector.core.tools import Tool
from connector.demo import DemoRun, model_client, tool_lines

if TYPE_CHECKING:
    from connector.demo.environment import DemoEnvironment

LEDGER_ENV = "APPROVAL_CONNECTOR_DEMO_LEDGER"
SERVER = "ledger"
TOOL = f"{SERVER}/transfer_funds"
PAYMENT = {"account": "ACME-1042", "amount": 250}
TASK = "Refund order 1042: check the balance of account ACME-1042, then transfer 250 to it."
SYSTEM_MESSAGE = (
    "You are a support analyst with the ledger's tools. Transfers need human approval: call "
    "transfer_funds once; if it says approval is pending, stop and wait to be told the outcome."
)
TITLE = "Agent asks to transfer {{ args.amount }} to {{ args.account }}"


def ledger_path() -> Path:
    return Path(os.environ.get(LEDGER_ENV, "approval-connector-ledger.jsonl")).resolve()


def retitled(settings: Any) -> Any:
    """The gate route's ticket settings with every template about the e-mail's arguments made
    about the transfer's."""
    if isinstance(settings, dict):
        return {key: retitled(value) for key, value in settings.items()}
    if isinstance(settings, str) and "args." in settings:
        return TITLE
    return settings


def with_ledger(config: ConnectorConfig) -> ConnectorConfig:
    """The demo's configuration plus the ledger server and a route for its transfers."""
    base = next((r for r in config.routes if r.mode is Mode.GATE), None)
    if base is None:
        raise UserError("--mcp: the configuration has no gate route to take the system and approvers from")
    route = base.model_copy(
        update={"name": "demo-ledger", "tools": [TOOL], "when": [], "ticket": retitled(base.ticket)}
    )
    args = ["-m", "connector.demo.mcp_server", "--ledger", str(ledger_path())]
    server = McpServerConfig(command=sys.executable, args=args, trusted=True)
    return config.model_copy(
        update={"mcp_servers": {**config.mcp_servers, SERVER: server}, "routes": [route, *config.routes]},
        deep=True,
    )


def scripted_client() -> Any:
    from autogen_ext.models.replay import ReplayChatCompletionClient

    calls = [
        FunctionCall(
            id="call_balance", name="get_balance", arguments=json.dumps({"account": PAYMENT["account"]})
        ),
        FunctionCall(id="call_refund", name="transfer_funds", arguments=json.dumps(PAYMENT)),
    ]
    info = ModelInfo(
        vision=False, function_calling=True, json_output=False, family="unknown", structured_output=False
    )
    usage = RequestUsage(prompt_tokens=0, completion_tokens=0)
    return ReplayChatCompletionClient(
        [
            CreateResult(finish_reason="function_calls", content=calls, usage=usage, cached=False),
            "Noted the outcome of the refund transfer for order 1042. TERMINATE",
        ],
        model_info=info,
    )


class McpDemoRun(DemoRun):
    """The demo's steps with the ledger server's ``transfer_funds``."""

    task = TASK
    step = "The agent checks the balance and calls the MCP server's transfer_funds"

    def __init__(self, env: DemoEnvironment, model: str) -> None:
        self.env = env
        self.connector = Connector.from_config(with_ledger(env.connector.config), env=env.connector.environ)
        self.workbench = self.connector.mcp_workbench(SERVER, agent="support_agent")
        client = scripted_client() if model == "replay" else model_client(model)
        self.agent = AssistantAgent(
            "support_agent", model_client=client, workbench=self.workbench, system_message=SYSTEM_MESSAGE
        )

    @property
    def tool(self) -> Tool:
        return self.connector.registry.require(TOOL)

    async def start(self) -> None:
        await self.workbench.start()

    async def close(self) -> None:
        try:
            await self.workbench.stop()
        finally:
            self.connector.close()

    async def propose(self) -> tuple[list[str], ApprovalRequest | None]:
        with (
            recording(RunRecorder()) as recorder,
            approval_context(requester="jane.doe@example.com", rationale="Refund for order 1042."),
        ):
            result = await self.agent.run(task=TASK)
        made = [r for r, _ in recorder.calls if r.tool_name == TOOL]
        return tool_lines(result.messages), made[-1] if made else None

    def effect(self, request: ApprovalRequest) -> str | None:
        if request.state is not RequestState.SUCCEEDED or not ledger_path().exists():
            return None
        entries = ledger_path().read_text(encoding="utf-8").splitlines()
        return f"ledger ({ledger_path().name}): {len(entries)} transfer(s), the last: {entries[-1]}"

    async def resume(self, request: ApprovalRequest) -> str:
        message = TextMessage(content=request.outcome().message(), source=GATEKEEPER)
        resumed = await self.agent.run(task=message)
        return resumed.messages[-1].to_text()
