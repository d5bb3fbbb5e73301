"""The MCP approval proxy: any MCP client (Claude Desktop, an IDE, an agent) sees an upstream
server's tools unchanged, and a gated ``tools/call`` opens the ticket and answers at once —
never holding the connection for a human (clients give up after about a minute).

- ``tools/list``: the upstream tools as they are (name, schemas, annotations); with Tasks on,
  the gated ones also say ``execution.taskSupport: optional``.
- ``tools/call`` of a tool that passes ungated (a trusted server's read-only tool no route
  names): forwarded, the upstream answer returned as it came.
- Any other call: submitted with a dedupe key for (this server, the requester), so the same
  requester repeating the same call — same tool, same canonical arguments — gets the request's
  current state or its outcome, never a second ticket or run. A client that sent ``task`` gets a
  ``CreateTaskResult`` whose task id is the request id (``tasks/get`` and ``tasks/result`` read
  the store, so a client that reconnects, to any replica, still finds it); any other client gets
  a result that says "pending in OPS-42 (link)".
- The proxy never runs a gated call: the connector's executor does (``serve``, ``poll``,
  ``approve``), opening the upstream itself, exactly once.

Who asks comes from the transport — the config's requester over stdio, the bearer token's
principal over HTTP — never from what the client says of itself (``clientInfo``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timezone
from typing import TYPE_CHECKING, Any

import mcp.types as t
from mcp.shared.exceptions import McpError

from connector.core.errors import UserError
from connector.core.models import ApprovalRequest, RequestState

from .results import call_result
from .servers import list_tools
from .tools import McpTool, passes_ungated, send_call, tool_name

if TYPE_CHECKING:
    from mcp import ClientSession
    from mcp.server.lowlevel import Server

    from connector.app.runtime import Connector

META = "approval-connector/"
TASK_TTL_MS = 7 * 24 * 3600 * 1000  # sent as a number: a null ttl is dropped and the client refuses
POLL_MS = 5000
WAITING = {RequestState.SUBMITTED, RequestState.TICKETED}
RUNNING = {RequestState.APPROVED, RequestState.EXECUTING}
NOT_RUN = {RequestState.REJECTED, RequestState.EXPIRED, RequestState.DENIED, RequestState.SHADOW}


def meta_of(request: ApprovalRequest) -> dict[str, Any]:
    meta = {f"{META}request": request.id, f"{META}state": request.state.value}
    if request.ticket is not None:
        meta[f"{META}ticket"] = request.ticket.key
        if request.ticket.url:
            meta[f"{META}url"] = request.ticket.url
    return meta


def where(request: ApprovalRequest) -> str:
    if request.ticket is None:
        return f"request {request.id}"
    link = f" ({request.ticket.url})" if request.ticket.url else ""
    return f"{request.ticket.key}{link}"


def state_text(request: ApprovalRequest, tool: str) -> str:
    """What a plain client hears while the call waits or runs, or its outcome."""
    if request.state in WAITING:
        return (
            f"Pending approval in {where(request)}: {tool} has not run. Not failed: a human decides. "
            "Call again with the same arguments for its state or its outcome; do not change them."
        )
    if request.state in RUNNING:
        return f"Approved in {where(request)}; {tool} is running. Call again with the same arguments."
    return request.outcome().message()


def answer(request: ApprovalRequest, tool: str, definition: Any) -> Any:
    """The ``CallToolResult`` for this request's state. A tool with an ``outputSchema`` can only be
    answered without its structured result as an error (the official client checks it), so its
    "pending" is ``isError`` too, worded as not failed."""
    meta = meta_of(request)
    output_schema = getattr(definition, "outputSchema", None)
    if request.state is RequestState.SUCCEEDED:
        return call_result(request.result or "", output_schema, meta)
    failed = request.state not in WAITING | RUNNING or output_schema is not None
    content = [t.TextContent(type="text", text=state_text(request, tool))]
    return t.CallToolResult(content=content, isError=failed, _meta=meta)


def task_status(request: ApprovalRequest) -> str:
    if request.state in WAITING | RUNNING:
        return "working"
    if request.state is RequestState.SUCCEEDED:
        return "completed"
    return "cancelled" if request.state in NOT_RUN else "failed"


def as_task(request: ApprovalRequest, tool: str) -> Any:
    return t.Task(
        taskId=request.id,
        status=task_status(request),
        statusMessage=state_text(request, tool),
        createdAt=request.created_at.astimezone(timezone.utc),
        lastUpdatedAt=request.updated_at.astimezone(timezone.utc),
        ttl=TASK_TTL_MS,
        pollInterval=POLL_MS,
    )


class ApprovalProxy:
    """The proxy for ``mcp_servers.<server>`` over one upstream session; ``requester(context)``
    says who sent the request being handled, from its MCP request context (the transport's)."""

    def __init__(
        self, connector: Connector, server: str, upstream: ClientSession, requester: Callable[[Any], str]
    ) -> None:
        self.connector = connector
        self.server = server
        self.config = connector.config.mcp_servers[server]
        self.upstream = upstream
        self.who = requester
        self.definitions: dict[str, Any] = {}
        self.app: Server | None = None

    def requester(self) -> str:
        assert self.app is not None
        return self.who(self.app.request_context)

    async def tools(self) -> list[Any]:
        """The upstream's tools, learned by the registry's ``SERVER/TOOL`` entries (their schemas
        validate what is submitted)."""
        listed = await list_tools(self.upstream)
        self.definitions = {d.name: d for d in listed}
        for definition in listed:
            entry = self.connector.registry.require(tool_name(self.server, definition.name))
            if isinstance(entry, McpTool):
                entry.learn(definition)
        return listed

    def gated(self, definition: Any) -> bool:
        return not passes_ungated(self.connector.config, self.server, definition)

    async def listed(self) -> list[Any]:
        tools = await self.tools()
        if not self.config.proxy.tasks:
            return tools
        optional = t.ToolExecution(taskSupport="optional")
        return [d.model_copy(update={"execution": optional}) if self.gated(d) else d for d in tools]

    async def call(self, name: str, arguments: dict[str, Any], task_wanted: bool) -> Any:
        if name not in self.definitions:
            await self.tools()
        definition = self.definitions.get(name)
        if definition is None or not self.gated(definition):
            return await send_call(self.upstream, name, arguments, self.config)
        requester = self.requester()
        context = {"requester": requester, "agent": f"mcp-proxy:{self.server}"}
        try:
            request = await self.connector.service.submit(
                tool_name(self.server, name),
                arguments,
                context,
                dedupe_key=f"mcp-proxy:{self.server}:{requester}",
                dedupe_window=self.config.proxy.dedupe_window,
            )
        except UserError as exc:
            return t.CallToolResult(content=[t.TextContent(type="text", text=str(exc))], isError=True)
        if task_wanted:
            return t.CreateTaskResult(task=as_task(request, name))
        return answer(request, name, definition)

    async def owned(self, task_id: str) -> ApprovalRequest:
        """The request behind a task id, if this requester filed it through this server."""
        try:
            request = await self.connector.service.ctx.db(self.connector.store.get, task_id)
        except UserError:
            request = None
        prefix = tool_name(self.server, "")
        if (
            request is None
            or request.requester != self.requester()
            or not request.tool_name.startswith(prefix)
        ):
            raise McpError(t.ErrorData(code=t.INVALID_PARAMS, message=f"Task not found: {task_id[:64]}"))
        return request

    def short(self, request: ApprovalRequest) -> str:
        return request.tool_name.removeprefix(tool_name(self.server, ""))

    async def task(self, task_id: str) -> Any:
        request = await self.owned(task_id)
        return t.GetTaskResult(**as_task(request, self.short(request)).model_dump())

    async def task_result(self, task_id: str) -> Any:
        request = await self.owned(task_id)
        if not request.state.terminal:
            raise McpError(
                t.ErrorData(code=t.INVALID_PARAMS, message="the task is not finished; poll tasks/get")
            )
        name = self.short(request)
        if name not in self.definitions:
            await self.tools()
        result = answer(request, name, self.definitions.get(name))
        return t.GetTaskPayloadResult(**result.model_dump(by_alias=True))

    def server_app(self) -> Server:
        """The low-level MCP server a transport runs."""
        from mcp.server.lowlevel import Server

        proxy: Server = Server(f"approval-connector:{self.server}")
        self.app = proxy

        @proxy.list_tools()
        async def _list() -> list[Any]:
            return await self.listed()

        @proxy.call_tool()  # checks the arguments against the upstream inputSchema first
        async def _call(name: str, arguments: dict[str, Any]) -> Any:
            experimental = getattr(proxy.request_context, "experimental", None)
            wants_task = bool(experimental and experimental.is_task) and self.config.proxy.tasks
            return await self.call(name, arguments, wants_task)

        if self.config.proxy.tasks:

            @proxy.experimental.get_task()
            async def _get(req: t.GetTaskRequest) -> t.GetTaskResult:
                return await self.task(req.params.taskId)

            @proxy.experimental.get_task_result()
            async def _result(req: t.GetTaskPayloadRequest) -> t.GetTaskPayloadResult:
                return await self.task_result(req.params.taskId)

        return proxy
