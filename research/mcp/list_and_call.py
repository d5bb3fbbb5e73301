"""MCP: list tools *with* annotations, call them, over stdio and streamable HTTP.

1. With the official client (``mcp.ClientSession``): ``list_tools()`` returns
   ``mcp.types.Tool`` objects whose ``annotations`` carry ``readOnlyHint`` /
   ``destructiveHint``; ``call_tool()`` returns a ``CallToolResult``.
2. With AutoGen's ``McpWorkbench``: ``list_tools()`` returns ``ToolSchema`` dicts without
   annotations (and with only properties/required/additionalProperties of the input
   schema). The raw ``ListToolsResult`` is still reachable over the *same* connection
   through the workbench's actor (private: ``workbench._actor.call("list_tools", None)``),
   or over a second session from ``autogen_ext.tools.mcp.create_mcp_server_session``.

Run:  python research/mcp/list_and_call.py
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from autogen_ext.tools.mcp import (
    McpWorkbench,
    StdioServerParams,
    StreamableHttpServerParams,
    create_mcp_server_session,
)
from common import http_server, ledger_lines, stdio_params
from mcp import ClientSession
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client


def show_tools(label: str, tools) -> None:
    for tool in tools:
        hints = tool.annotations.model_dump(exclude_none=True) if tool.annotations else None
        print(f"  [{label}] {tool.name}: annotations={hints} schema keys={sorted(tool.inputSchema)}")


async def with_client(session: ClientSession, label: str, ledger: Path) -> None:
    init = await session.initialize()
    print(
        f"{label}: server {init.serverInfo.name}, protocol {init.protocolVersion},",
        f"caps tasks={init.capabilities.tasks}",
    )
    show_tools(label, (await session.list_tools()).tools)
    result = await session.call_tool("transfer_funds", {"account": "ACME", "amount": 5})
    print(
        f"  [{label}] transfer_funds -> isError={result.isError} text={result.content[0].text!r}",
        f"structured={result.structuredContent}",
    )
    bad = await session.call_tool("transfer_funds", {"account": "ACME", "amount": "five"})
    print(f"  [{label}] bad args -> isError={bad.isError} text={bad.content[0].text[:70]!r}")
    balance = await session.call_tool("get_balance", {"account": "ACME"})
    print(f"  [{label}] get_balance -> {balance.content[0].text!r}; ledger lines={ledger_lines(ledger)}")


async def with_workbench(params, label: str) -> None:
    async with McpWorkbench(params) as workbench:
        schemas = await workbench.list_tools()
        print(f"  [{label}] McpWorkbench.list_tools keys: {[sorted(s) for s in schemas]}")
        raw = await (await workbench._actor.call("list_tools", None))  # noqa: SLF001 - the point of the demo
        print(
            f"  [{label}] via workbench._actor: {[(t.name, t.annotations.readOnlyHint) for t in raw.tools]}"
        )
    async with create_mcp_server_session(params) as session:
        await session.initialize()
        tools = (await session.list_tools()).tools
        print(
            f"  [{label}] via create_mcp_server_session:",
            [(t.name, t.annotations.destructiveHint) for t in tools],
        )


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Path(tmp) / "ledger.jsonl"
        async with stdio_client(stdio_params(ledger)) as (read, write), ClientSession(read, write) as session:
            await with_client(session, "stdio", ledger)
        with http_server(ledger) as url:
            async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as session:
                await with_client(session, "http", ledger)
            await with_workbench(StreamableHttpServerParams(url=url), "http workbench")
        params = stdio_params(ledger)
        await with_workbench(StdioServerParams(command=params.command, args=params.args), "stdio workbench")
        print("ledger lines at the end:", ledger_lines(ledger))


asyncio.run(main())
