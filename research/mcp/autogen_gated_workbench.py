"""AutoGen: a gated workbench around ``McpWorkbench``; the agent gets "pending" for the
destructive tool, the read-only one runs; the connector later calls the tool itself.

The gate decides per tool from the *raw* ``tools/list`` (annotations), read through the
workbench's own connection, because ``McpWorkbench.list_tools`` drops annotations.
Here the server counts as trusted, so ``destructiveHint``/``readOnlyHint`` pick the
defaults (read-only -> auto, everything else -> gate). On "approval" the executor opens
its own session to the server (by config name -> params) and calls the stored call once.

Run:  python research/mcp/autogen_gated_workbench.py
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_core import CancellationToken, FunctionCall
from autogen_core.models import CreateResult, ModelInfo, RequestUsage
from autogen_core.tools import TextResultContent, ToolResult, Workbench
from autogen_ext.models.replay import ReplayChatCompletionClient
from autogen_ext.tools.mcp import McpWorkbench, StdioServerParams, create_mcp_server_session
from common import ledger_lines, stdio_params


class GatedMcpWorkbench(Workbench):
    def __init__(self, inner: McpWorkbench, server: str, tickets: list[dict]) -> None:
        self.inner, self.server, self.tickets = inner, server, tickets
        self.gated: set[str] = set()

    async def start(self) -> None:
        await self.inner.start()
        raw = await (await self.inner._actor.call("list_tools", None))  # noqa: SLF001 - annotations live only here
        self.gated = {
            tool.name for tool in raw.tools if not (tool.annotations and tool.annotations.readOnlyHint)
        }

    async def stop(self) -> None:
        await self.inner.stop()

    async def reset(self) -> None:
        await self.inner.reset()

    async def save_state(self) -> Mapping[str, Any]:
        return await self.inner.save_state()

    async def load_state(self, state: Mapping[str, Any]) -> None:
        await self.inner.load_state(state)

    async def list_tools(self):
        return await self.inner.list_tools()

    async def call_tool(self, name, arguments=None, cancellation_token=None, call_id=None) -> ToolResult:
        if name not in self.gated:
            return await self.inner.call_tool(name, arguments, cancellation_token, call_id)
        ticket = {
            "key": f"OPS-{len(self.tickets) + 1}",
            "server": self.server,
            "tool": name,
            "arguments": dict(arguments or {}),
        }
        self.tickets.append(ticket)
        text = f"Pending approval in {ticket['key']}: {name} has not run yet."
        return ToolResult(name=name, result=[TextResultContent(content=text)], is_error=False)


def model_turn(call_id: str, name: str, arguments: dict) -> CreateResult:
    call = FunctionCall(id=call_id, name=name, arguments=json.dumps(arguments))
    return CreateResult(
        finish_reason="function_calls", content=[call], usage=RequestUsage(0, 0), cached=False
    )


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Path(tmp) / "ledger.jsonl"
        p = stdio_params(ledger)
        params = StdioServerParams(command=p.command, args=p.args)
        tickets: list[dict] = []
        model = ReplayChatCompletionClient(
            [
                model_turn("c1", "get_balance", {"account": "ACME"}),
                model_turn("c2", "transfer_funds", {"account": "ACME", "amount": 9}),
            ],
            model_info=ModelInfo(
                vision=False,
                function_calling=True,
                json_output=False,
                family="unknown",
                structured_output=False,
            ),
        )
        workbench = GatedMcpWorkbench(McpWorkbench(params), "ledger", tickets)
        await workbench.start()
        agent = AssistantAgent("treasurer", model_client=model, workbench=workbench)
        for task in ("balance?", "pay ACME 9"):
            result = await agent.run(task=task, cancellation_token=CancellationToken())
            print(f"{task!r} -> {result.messages[-1].content!r}")
        await workbench.stop()
        print(
            "gated tools:",
            sorted(workbench.gated),
            "| tickets:",
            tickets,
            "| ledger lines:",
            ledger_lines(ledger),
        )
        # Approval, in the connector's executor: open the server by its config name and call the
        # stored call once.
        [ticket] = tickets
        async with create_mcp_server_session(params) as session:
            await session.initialize()
            outcome = await session.call_tool(ticket["tool"], ticket["arguments"])
        print("executor ran:", outcome.content[0].text, "| ledger lines:", ledger_lines(ledger))


asyncio.run(main())
