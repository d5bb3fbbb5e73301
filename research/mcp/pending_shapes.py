"""What an MCP client sees when a gated tool answers at once with "pending".

A low-level server exposes two tools, one *with* an ``outputSchema`` (what FastMCP
generates for any typed return, e.g. the test server's tools) and one without, and
answers each call with one of three "pending" shapes. The official client
(``ClientSession.call_tool``) validates ``structuredContent`` against ``outputSchema``
for non-error results, so:

- text only, ``isError=False``: fine without outputSchema; *raises* with one;
- text + made-up ``structuredContent``: raises with an outputSchema (schema mismatch);
- text, ``isError=True``: accepted either way (validation is skipped for errors).

To a model, each of these is just the tool's text; nothing marks it as "pending" except
the words and ``_meta``. AutoGen's McpWorkbench maps ``isError`` to ``ToolResult.is_error``.

Run:  python research/mcp/pending_shapes.py
"""

from __future__ import annotations

import asyncio

import mcp.types as t
from mcp.server.lowlevel import Server
from mcp.shared.memory import create_connected_server_and_client_session

SCHEMA_IN = {"type": "object", "properties": {"shape": {"type": "string"}}, "required": ["shape"]}
SCHEMA_OUT = {"type": "object", "properties": {"result": {"type": "string"}}, "required": ["result"]}
TEXT = "Pending approval in OPS-42 (https://desk.example/OPS-42): not run yet."


def build() -> Server:
    server = Server("pending-shapes")

    @server.list_tools()
    async def list_tools() -> list[t.Tool]:
        return [
            t.Tool(name="typed", inputSchema=SCHEMA_IN, outputSchema=SCHEMA_OUT),
            t.Tool(name="untyped", inputSchema=SCHEMA_IN),
        ]

    @server.call_tool()
    async def call_tool(name: str, arguments: dict) -> t.CallToolResult:
        content = [t.TextContent(type="text", text=TEXT)]
        meta = {"approval-connector/request": "r-1"}
        shape = arguments["shape"]
        if shape == "text":
            return t.CallToolResult(content=content, isError=False, _meta=meta)
        if shape == "structured":
            return t.CallToolResult(
                content=content, structuredContent={"status": "pending"}, isError=False, _meta=meta
            )
        return t.CallToolResult(content=content, isError=True, _meta=meta)

    return server


async def main() -> None:
    async with create_connected_server_and_client_session(build()) as client:
        for tool in ("typed", "untyped"):
            for shape in ("text", "structured", "error"):
                try:
                    result = await client.call_tool(tool, {"shape": shape})
                    seen = (
                        f"isError={result.isError} text={result.content[0].text[:30]!r}... meta={result.meta}"
                    )
                except RuntimeError as exc:
                    seen = f"client raised RuntimeError: {str(exc).splitlines()[0][:90]}"
                print(f"{tool:<8} {shape:<11} -> {seen}")


asyncio.run(main())
