"""The `[mcp]` and `[maf]` extras' pins hold: what is installed falls in the ranges
pyproject.toml declares, the ranges keep out the releases known to break, and the pieces
the connector uses work together (an MCP server's raw tool list through AutoGen's
McpWorkbench, a streamable HTTP client, a MAF gate that never runs the tool, a MAF
session resumed from JSON).

Each extra's tests skip, saying so, when that extra is not installed
(`pip install -e '.[mcp,maf]'`); the pin-text tests need nothing installed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest itself depends on tomli there
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
PYPROJECT = HERE.parents[1] / "pyproject.toml"
SERVER = HERE / "mcp_server.py"


def extra_requirements(extra: str) -> dict[str, Requirement]:
    """The extra's requirements in pyproject.toml, by distribution name."""
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    requirements = [Requirement(line) for line in extras[extra]]
    return {requirement.name: requirement for requirement in requirements}


def require_extra(extra: str) -> None:
    """Skip the calling test unless every distribution of the extra is installed."""
    for name in extra_requirements(extra):
        try:
            version(name)
        except PackageNotFoundError:
            pytest.skip(f"extra [{extra}] is not installed ({name} missing): pip install -e '.[{extra}]'")


@pytest.mark.parametrize(
    ("extra", "name", "inside", "outside"),
    [
        # 2.x: McpWorkbench fails to import (mcp.shared.context.RequestContext is gone);
        # <1.21.2: mcp fails to import beside pydantic 2.12+; 1.24.0: protocol 2025-11-25.
        ("mcp", "mcp", ["1.24.0", "1.30.0"], ["1.21.0", "1.23.3", "2.0.0", "2.3.0"]),
        ("mcp", "autogen-ext", ["0.7.5"], ["0.7.4"]),
        ("maf", "agent-framework-core", ["1.20.0", "1.23.0"], ["1.19.0", "2.0.0"]),
    ],
)
def test_pins_keep_out_the_releases_known_to_break(extra, name, inside, outside):
    specifier = extra_requirements(extra)[name].specifier
    assert [v for v in inside if not specifier.contains(v)] == []
    assert [v for v in outside if specifier.contains(v)] == []


@pytest.mark.parametrize("extra", ["mcp", "maf"])
def test_installed_versions_fall_in_the_pins(extra):
    require_extra(extra)
    outside = {
        name: version(name)
        for name, requirement in extra_requirements(extra).items()
        if not requirement.specifier.contains(version(name), prereleases=True)
    }
    assert outside == {}, f"installed outside the [{extra}] pins in pyproject.toml"


def ledger_lines(ledger: Path) -> int:
    return len(ledger.read_text().splitlines()) if ledger.exists() else 0


async def test_mcp_workbench_reads_the_raw_tool_list_and_calls_a_tool_over_stdio(tmp_path):
    require_extra("mcp")
    from autogen_ext.tools.mcp import McpWorkbench, StdioServerParams

    ledger = tmp_path / "ledger.jsonl"
    params = StdioServerParams(command=sys.executable, args=[str(SERVER), "--ledger", str(ledger)])
    async with McpWorkbench(params) as workbench:
        schemas = {schema["name"]: schema for schema in await workbench.list_tools()}
        # McpWorkbench.list_tools drops annotations; the gate reads them over the same connection.
        raw = await (await workbench._actor.call("list_tools", None))
        result = await workbench.call_tool("transfer_funds", {"account": "ACME", "amount": 5})
    hints = {
        tool.name: (tool.annotations.readOnlyHint, tool.annotations.destructiveHint) for tool in raw.tools
    }
    assert set(schemas) == {"transfer_funds", "get_balance"}
    assert "annotations" not in schemas["transfer_funds"]
    assert hints == {"transfer_funds": (False, True), "get_balance": (True, None)}
    assert (result.is_error, result.to_text()) == (False, "moved 5 to ACME")
    assert ledger_lines(ledger) == 1


async def test_mcp_streamable_http_client_lists_annotations_and_calls_once(tmp_path):
    require_extra("mcp")
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    ledger = tmp_path / "ledger.jsonl"
    cmd = [sys.executable, str(SERVER), "--ledger", str(ledger), "--http", "--port", "0"]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(server.stdout.readline), timeout=30)
        assert line.startswith("listening on http://127.0.0.1:"), line
        url = line.split("listening on ", 1)[1].strip()
        async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as session:
            init = await session.initialize()
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            result = await session.call_tool("transfer_funds", {"account": "ACME", "amount": 2})
            balance = await session.call_tool("get_balance", {"account": "ACME"})
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert init.protocolVersion == "2025-11-25"
    assert tools["transfer_funds"].annotations.destructiveHint is True
    assert tools["get_balance"].annotations.readOnlyHint is True
    assert (result.isError, result.content[0].text) == (False, "moved 2 to ACME")
    assert balance.content[0].text == "ACME: 2"
    assert ledger_lines(ledger) == 1


def test_mcp_names_the_proxy_answers_with_exist():
    require_extra("mcp")
    import mcp.types as t
    from mcp.client.stdio import stdio_client  # noqa: F401 - the import is the check
    from mcp.server.lowlevel import Server
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager  # noqa: F401

    task = t.CreateTaskResult.model_validate(
        {
            "task": {
                "taskId": "r-1",
                "status": "working",
                "createdAt": "2026-01-01T00:00:00Z",
                "lastUpdatedAt": "2026-01-01T00:00:00Z",
                "ttl": 1000,
            }
        }
    )
    tool = t.Tool(name="x", inputSchema={"type": "object"}, execution=t.ToolExecution(taskSupport="optional"))
    assert (task.task.status, tool.execution.taskSupport) == ("working", "optional")
    assert callable(Server("probe").call_tool)


def maf_agent(script, tools, middleware=()):
    from agent_framework import Agent

    from connector.testing.maf_client import ScriptedChatClient

    client = ScriptedChatClient(script)
    agent = Agent(
        client=client,
        name="treasurer",
        instructions="Pay when asked.",
        tools=tools,
        middleware=list(middleware),
    )
    return agent, client


async def test_maf_function_middleware_answers_pending_and_never_runs_the_tool():
    require_extra("maf")
    from agent_framework import FunctionMiddleware, tool

    ran: list[dict] = []

    @tool
    def transfer_funds(account: str, amount: int) -> str:
        """Move money."""
        ran.append({"account": account, "amount": amount})
        return "moved"

    class Gate(FunctionMiddleware):
        async def process(self, context, call_next) -> None:
            context.result = f"Pending approval: {context.function.name} call {context.metadata['call_id']}"

    script = [("call", "call_1", "transfer_funds", {"account": "ACME", "amount": 3}), ("text", "waiting")]
    agent, client = maf_agent(script, [transfer_funds], [Gate()])
    response = await agent.run("pay ACME 3", session=agent.create_session())
    results = [c.result for m in client.seen[-1] for c in m.contents if c.type == "function_result"]
    assert (response.text, ran) == ("waiting", [])
    assert results == ["Pending approval: transfer_funds call call_1"]


async def test_maf_declaration_only_call_resumes_from_a_session_stored_as_json():
    require_extra("maf")
    from agent_framework import AgentSession, Content, FunctionTool, Message

    declared = FunctionTool(
        name="transfer_funds",
        description="Move money.",
        func=None,
        input_model={
            "type": "object",
            "properties": {"account": {"type": "string"}},
            "required": ["account"],
        },
    )
    agent, _ = maf_agent([("call", "call_7", "transfer_funds", {"account": "ACME"})], [declared])
    session = agent.create_session()
    [request] = (await agent.run("pay ACME", session=session)).user_input_requests
    stored = json.dumps(session.to_dict())

    agent, client = maf_agent([("text", "paid")], [declared])
    answer = Content.from_function_result(call_id=request.call_id, result="moved to ACME")
    response = await agent.run(
        Message(role="tool", contents=[answer]), session=AgentSession.from_dict(json.loads(stored))
    )
    seen = [(c.type, c.call_id) for m in client.seen[-1] for c in m.contents if c.type != "text"]
    assert (request.type, request.name, request.parse_arguments()) == (
        "function_call",
        "transfer_funds",
        {"account": "ACME"},
    )
    assert seen == [("function_call", "call_7"), ("function_result", "call_7")]
    assert response.text == "paid"
