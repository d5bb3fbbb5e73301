"""An MCP approval proxy (research): re-exposes an upstream server's tools unchanged; a
gated ``tools/call`` opens a request and answers at once.

- ``tools/list``: the upstream ``Tool`` objects as they are (name, schema, annotations,
  outputSchema). With ``--tasks``, gated tools get ``execution.taskSupport="optional"``:
  the one field a task-capable client needs to see before it may send ``task``.
- Ungated ``tools/call``: forwarded upstream, the upstream ``CallToolResult`` returned as is.
- Gated ``tools/call``: ``store.submit`` with the dedupe key (requester, server, tool,
  canonical arguments). The answer depends on the request's state: pending -> a text
  result "Pending approval in OPS-n ..." with the request id in ``_meta``; executed ->
  the stored upstream result; rejected -> an error result. A pending answer carries no
  ``structuredContent``: the official client validates it against the tool's
  ``outputSchema`` and raises on a mismatch (and on its absence unless ``isError``), so
  for a tool with an ``outputSchema`` the pending answer is ``isError=True``.
  If the call carries ``task`` (client opted in), the
  answer is a ``CreateTaskResult`` whose task id is the request id, and
  ``tasks/get`` / ``tasks/result`` answer from the store, from any session.
- The proxy never runs a gated call; ``decide.py`` (the executor) does, once.

Run:  python approval_proxy.py --store S --ledger L [--tasks] [--http --port 0]
(the upstream is ``tests/agents/mcp_server.py`` over stdio, started by the proxy).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

import mcp.types as t
from common import stdio_params
from mcp import ClientSession
from mcp.client.stdio import stdio_client
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import McpError
from proxy_store import FileStore

warnings.filterwarnings("ignore", category=DeprecationWarning)  # the SEP-1686 tasks API is deprecated in 1.2x
GATED = {"transfer_funds"}
SERVER_NAME = "ledger"
# Sent as a number: ``ttl: null`` is dropped on the wire (exclude_none) and the 1.x client
# then rejects the Task.
TASK_TTL_MS = 7 * 24 * 3600 * 1000


def build_proxy(upstream: ClientSession, store: FileStore, requester: str, tasks: bool) -> Server:
    proxy = Server("approval-proxy")

    @proxy.list_tools()
    async def list_tools() -> list[t.Tool]:
        tools = (await upstream.list_tools()).tools
        if tasks:
            tools = [
                tool.model_copy(update={"execution": t.ToolExecution(taskSupport="optional")})
                if tool.name in GATED
                else tool
                for tool in tools
            ]
        return tools

    @proxy.call_tool()  # validates arguments against the upstream inputSchema first
    async def call_tool(name: str, arguments: dict):
        if name not in GATED:
            return await upstream.call_tool(name, arguments)
        request, created = store.submit(requester, SERVER_NAME, name, arguments)
        if proxy.request_context.experimental.is_task:
            return t.CreateTaskResult(task=as_task(request))
        schema = next((x.outputSchema for x in (await upstream.list_tools()).tools if x.name == name), None)
        return answer(request, has_output_schema=schema is not None)

    if tasks:

        @proxy.experimental.get_task()
        async def get_task(req: t.GetTaskRequest) -> t.GetTaskResult:
            return t.GetTaskResult(**as_task(owned(store, req.params.taskId, requester)).model_dump())

        @proxy.experimental.get_task_result()
        async def get_task_result(req: t.GetTaskPayloadRequest) -> t.GetTaskPayloadResult:
            request = owned(store, req.params.taskId, requester)
            if request["state"] in ("pending", "approved"):
                raise McpError(t.ErrorData(code=t.INVALID_PARAMS, message="task is not finished"))
            return t.GetTaskPayloadResult(**answer(request).model_dump(by_alias=True))

    return proxy


def owned(store: FileStore, request_id: str, requester: str) -> dict:
    request = store.get(request_id)
    if request is None or request["requester"] != requester:
        raise McpError(t.ErrorData(code=t.INVALID_PARAMS, message=f"Task not found: {request_id}"))
    return request


def answer(request: dict, has_output_schema: bool = False) -> t.CallToolResult:
    meta = {"approval-connector/request": request["id"], "approval-connector/state": request["state"]}
    if request["state"] == "executed":
        return t.CallToolResult.model_validate({**request["result"], "_meta": meta})
    if request["state"] == "rejected":
        text = f"Rejected in {request['ticket']}: {request['tool']} did not run."
        return t.CallToolResult(content=[t.TextContent(type="text", text=text)], isError=True, _meta=meta)
    text = (
        f"Pending approval in {request['ticket']} (https://desk.example/{request['ticket']}): "
        f"{request['tool']} has not run. Call again with the same arguments for the outcome."
    )
    return t.CallToolResult(
        content=[t.TextContent(type="text", text=text)], isError=has_output_schema, _meta=meta
    )


def as_task(request: dict) -> t.Task:
    status = {"pending": "working", "approved": "working", "executed": "completed", "rejected": "failed"}
    now = datetime.now(timezone.utc)
    return t.Task(
        taskId=request["id"],
        status=status[request["state"]],
        statusMessage=f"{request['ticket']}: {request['state']}",
        createdAt=now,
        lastUpdatedAt=now,
        ttl=TASK_TTL_MS,
        pollInterval=1000,
    )


async def serve(args: argparse.Namespace) -> None:
    store = FileStore(Path(args.store))
    async with (
        stdio_client(stdio_params(Path(args.ledger))) as (read, write),
        ClientSession(read, write) as upstream,
    ):
        await upstream.initialize()
        proxy = build_proxy(upstream, store, args.requester, args.tasks)
        if not args.http:
            from mcp.server.stdio import stdio_server

            async with stdio_server() as (r, w):
                await proxy.run(r, w, proxy.create_initialization_options())
            return
        await serve_http(proxy, args.port)


async def serve_http(proxy: Server, port: int) -> None:
    import uvicorn
    from mcp.server.fastmcp.server import StreamableHTTPASGIApp
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.applications import Starlette
    from starlette.routing import Route

    manager = StreamableHTTPSessionManager(app=proxy)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        async with manager.run():
            yield

    app = Starlette(routes=[Route("/mcp", endpoint=StreamableHTTPASGIApp(manager))], lifespan=lifespan)
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    web = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    serving = asyncio.create_task(web.serve(sockets=[sock]))
    while not web.started:
        await asyncio.sleep(0.02)
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}/mcp", flush=True)
    await serving


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--requester", default="alice")
    parser.add_argument("--tasks", action="store_true")
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(serve(parser.parse_args()))
    sys.exit(0)
