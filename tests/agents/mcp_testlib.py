"""Shared by the MCP tests: the test server's ledger, its config block, a scripted AutoGen agent
on a gated workbench."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import ToolCallExecutionEvent
from autogen_core import FunctionCall
from autogen_core.models import CreateResult, ModelInfo, RequestUsage
from autogen_ext.models.replay import ReplayChatCompletionClient

SERVER = Path(__file__).resolve().parent / "mcp_server.py"
MODEL = ModelInfo(
    vision=False, function_calling=True, json_output=False, family="unknown", structured_output=False
)


def server_block(ledger: Path, *, trusted: bool = False, name: str = "ledger", extra: str = "") -> str:
    """An ``mcp_servers:`` section starting the test server over stdio."""
    args = json.dumps([str(SERVER), "--ledger", str(ledger)])
    return (
        f"mcp_servers:\n  {name}:\n    command: {json.dumps(sys.executable)}\n    args: {args}\n"
        f"    trusted: {str(trusted).lower()}\n{extra}"
    )


def ledger_lines(ledger: Path) -> list[dict[str, Any]]:
    if not ledger.exists():
        return []
    return [json.loads(line) for line in ledger.read_text().splitlines() if line.strip()]


def calls(*turns: tuple[str, dict[str, Any]]) -> ReplayChatCompletionClient:
    """A model that makes one tool call per turn."""
    return ReplayChatCompletionClient(
        [
            CreateResult(
                finish_reason="function_calls",
                content=[FunctionCall(id=f"call_{i}", name=name, arguments=json.dumps(args))],
                usage=RequestUsage(prompt_tokens=0, completion_tokens=0),
                cached=False,
            )
            for i, (name, args) in enumerate(turns)
        ],
        model_info=MODEL,
    )


async def agent_answers(workbench: Any, *turns: tuple[str, dict[str, Any]]) -> list[tuple[str, bool]]:
    """Run an AssistantAgent on ``workbench`` once per turn; what each tool call answered, and
    whether as an error."""
    agent = AssistantAgent("treasurer", model_client=calls(*turns), workbench=workbench)
    answers = []
    for _ in turns:
        result = await agent.run(task="do what the user asked")
        executed = [m for m in result.messages if isinstance(m, ToolCallExecutionEvent)]
        answers += [(r.content, r.is_error) for event in executed for r in event.content]
    return answers
