"""AutoGen: an MCP server's tools through the ticket gate. ``connector.mcp_workbench("ledger")``
wraps AutoGen's ``McpWorkbench`` for the configured server; the agent sees the server's tools as
McpWorkbench lists them, and each call goes by the routes (``ledger/transfer_funds``,
``ledger/*``): gate and shadow file a ticket and answer "pending" at once, auto runs through the
connector, deny refuses; a trusted server's read-only tool that no route names passes as is.

    workbench = connector.mcp_workbench("ledger")
    agent = AssistantAgent("treasurer", model_client=client, workbench=workbench)

The stored call names the server by its config name and the tool; on approval the connector
opens the server and calls the tool itself (``SERVER/TOOL`` in the tool registry), exactly once.
McpWorkbench drops the tools' annotations, so they are read from the raw ``tools/list`` over the
workbench's own connection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from autogen_core import CancellationToken
from autogen_core.tools import TextResultContent, ToolResult, ToolSchema, Workbench
from pydantic import BaseModel

from connector.agents.autogen.gate import current_context, outcome_message
from connector.agents.autogen.runs import note_call
from connector.core.errors import UserError

from .servers import autogen_params, list_tools, open_session
from .tools import McpTool, passes_ungated, tool_name

if TYPE_CHECKING:
    from connector.app.runtime import Connector


class _NoConfig(BaseModel):
    pass


class GatedMcpWorkbench(Workbench):
    """McpWorkbench for one configured server, with the connector deciding every call."""

    component_config_schema = _NoConfig

    def __init__(
        self,
        connector: Connector,
        server: str,
        *,
        agent: str = "",
        wait: bool = False,
        wait_timeout: float = 300.0,
        wait_interval: float = 2.0,
        environ: Mapping[str, str],
    ) -> None:
        from autogen_ext.tools.mcp import McpWorkbench

        if server not in connector.config.mcp_servers:
            known = ", ".join(sorted(connector.config.mcp_servers)) or "none"
            raise UserError(f"no MCP server {server!r} in mcp_servers (declared: {known})")
        self.connector = connector
        self.server = server
        self.config = connector.config.mcp_servers[server]
        self.environ = environ
        self.agent = agent
        self.wait, self.wait_timeout, self.wait_interval = wait, wait_timeout, wait_interval
        self.inner = McpWorkbench(autogen_params(server, self.config, environ))
        self.definitions: dict[str, Any] = {}

    # --- lifecycle: McpWorkbench's ---------------------------------------------------------------
    async def start(self) -> None:
        await self.inner.start()
        await self._learn()

    async def stop(self) -> None:
        await self.inner.stop()

    async def reset(self) -> None:
        await self.inner.reset()

    async def save_state(self) -> Mapping[str, Any]:
        return await self.inner.save_state()

    async def load_state(self, state: Mapping[str, Any]) -> None:
        await self.inner.load_state(state)

    async def __aenter__(self) -> GatedMcpWorkbench:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _to_config(self) -> BaseModel:
        return _NoConfig()

    @classmethod
    def _from_config(cls, config: BaseModel) -> GatedMcpWorkbench:
        raise NotImplementedError("a gated workbench is made by connector.mcp_workbench(server)")

    # --- tools -----------------------------------------------------------------------------------
    async def _raw_tools(self) -> list[Any]:
        """The server's own tool list, annotations included: over the workbench's connection
        (McpWorkbench keeps it private), else over a session of our own."""
        actor = getattr(self.inner, "_actor", None)
        if actor is not None and callable(getattr(actor, "call", None)):
            listed = await (await actor.call("list_tools", None))
            return list(listed.tools)
        async with open_session(self.server, self.config, self.environ) as session:
            return await list_tools(session)

    async def _learn(self) -> None:
        self.definitions = {definition.name: definition for definition in await self._raw_tools()}
        for definition in self.definitions.values():
            tool = self.connector.registry.require(tool_name(self.server, definition.name))
            if isinstance(tool, McpTool):
                tool.learn(definition)

    async def list_tools(self) -> list[ToolSchema]:
        return await self.inner.list_tools()

    async def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        cancellation_token: CancellationToken | None = None,
        call_id: str | None = None,
    ) -> ToolResult:
        if name not in self.definitions:
            await self._learn()  # a tool the server added since
        definition = self.definitions.get(name)
        if definition is None or passes_ungated(self.connector.config, self.server, definition):
            return await self.inner.call_tool(name, arguments, cancellation_token, call_id)
        context = {"agent": self.agent, **current_context()}
        if call_id:
            context.setdefault("call_id", call_id)
        service = self.connector.service
        try:
            request = await service.submit(tool_name(self.server, name), dict(arguments or {}), context)
        except UserError as exc:
            return ToolResult(name=name, result=[TextResultContent(content=str(exc))], is_error=True)
        if self.wait and not request.state.terminal:
            request = await service.wait_for(request.id, self.wait_timeout, self.wait_interval)
        note_call(request, deferred=not request.state.terminal)  # a conversation run, if any, learns it
        return ToolResult(name=name, result=[TextResultContent(content=outcome_message(request))])
