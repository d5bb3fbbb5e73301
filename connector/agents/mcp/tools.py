"""An MCP server's tool as the core's framework-neutral ``Tool``, named ``SERVER/TOOL`` and made
from the config alone, so any process with the config (``serve``, ``poll``, ``approve``) can run
an approved call: it opens the configured server, re-reads the tool's definition (a tool the
server no longer offers, or arguments its current schema refuses, fail closed: nothing runs) and
sends ``tools/call`` itself. An ``isError`` answer is a failed outcome; no answer in time after
the call was sent is an unknown one (IN_DOUBT).

Arguments are validated with the tool's JSON Schema (``inputSchema``), resolving no remote
``$ref``: the gate learns the definition from the server's tool list before it submits, and the
executor re-reads it before it runs."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from connector.core.errors import OutcomeUnknown, UserError
from connector.core.settings import ConnectorConfig, McpServerConfig
from connector.core.tools import Tool

from .results import result_text
from .servers import McpServerError, list_tools, open_session

MAX_ARGUMENT_BYTES = 1_000_000
REQUEST_TIMEOUT = 408  # the code the MCP SDK's McpError carries when a request timed out


class McpToolFailed(McpServerError):
    """The server ran the tool and answered ``isError``: its text is the failure."""


def tool_name(server: str, tool: str) -> str:
    return f"{server}/{tool}"


def _arguments_model(name: str, schema: Mapping[str, Any]) -> type[BaseModel]:
    """A model naming the schema's properties (what edits and prompts list); the JSON Schema
    itself is what validates."""
    required = set(schema.get("required") or [])
    properties = schema.get("properties") or {}
    fields: dict[str, Any] = {
        str(key): (Any, ... if key in required else None) for key in properties if str(key).isidentifier()
    }
    config = ConfigDict(extra="allow")
    return create_model(f"{name.replace('/', '_')}_args", __config__=config, **fields)  # type: ignore[call-overload]


class McpTool(Tool):
    """``SERVER/TOOL``; ``definition`` (the server's ``mcp.types.Tool``) once learned."""

    def __init__(self, server: str, tool: str, config: McpServerConfig, environ: Mapping[str, str]) -> None:
        name = tool_name(server, tool)
        super().__init__(name, "", _arguments_model(name, {}), self._call, False, None)
        self.server = server
        self.tool = tool
        self.config = config
        self.environ = environ
        self.definition: Any = None

    def learn(self, definition: Any) -> None:
        """The tool as the server describes it now (schema, description, annotations)."""
        self.definition = definition
        self.description = definition.description or ""
        self.args_model = _arguments_model(self.name, definition.inputSchema or {})
        self.origin = definition

    @property
    def schema(self) -> dict[str, Any]:
        return dict(self.definition.inputSchema) if self.definition is not None else {"type": "object"}

    def known_keys(self) -> set[str]:
        return {str(key) for key in (self.schema.get("properties") or {})}

    def validate(self, arguments: Mapping[str, Any], *, strict: bool = False) -> dict[str, Any]:
        if not isinstance(arguments, Mapping):
            raise UserError(f"arguments for {self.name} must be an object, not {type(arguments).__name__}")
        try:
            data = json.loads(json.dumps(dict(arguments)))
        except (TypeError, ValueError) as exc:
            raise UserError(f"arguments for {self.name} are not JSON data: {exc}") from None
        if len(json.dumps(data)) > MAX_ARGUMENT_BYTES:
            raise UserError(f"arguments for {self.name} are larger than {MAX_ARGUMENT_BYTES} bytes")
        if strict and self.definition is not None:
            unknown = sorted(k for k in data if k not in self.known_keys())
            if unknown:
                raise UserError(f"arguments do not fit {self.name}: unknown key(s) {', '.join(unknown)}")
        if self.definition is not None:
            _check_schema(self.name, data, self.schema)
        return data

    async def _call(self, arguments: dict[str, Any], call_id: str) -> str:
        async with open_session(self.server, self.config, self.environ) as session:
            offered = {t.name: t for t in await list_tools(session)}
            if self.tool not in offered:
                raise McpServerError(f"MCP server {self.server} no longer offers tool {self.tool}; not run")
            self.learn(offered[self.tool])
            arguments = self.validate(arguments)  # against the schema the server has now
            result = await send_call_once(session, self.name, self.tool, arguments, self.config)
        if result.isError:
            raise McpToolFailed(f"{self.name} answered with an error: {result_text(result)}")
        return result_text(result)


async def send_call_once(
    session: Any, name: str, tool: str, arguments: dict[str, Any], config: McpServerConfig
) -> Any:
    """``send_call`` for an approved run: once ``tools/call`` is on its way the server may act on
    it, so no answer in time, or a connection that drops before the answer, is an unknown
    outcome (IN_DOUBT), never a failure that would invite running it again."""
    import anyio
    from mcp.shared.exceptions import McpError

    try:
        return await send_call(session, tool, arguments, config)
    except McpError as exc:
        if exc.error.code != REQUEST_TIMEOUT:
            raise
        seconds = int(config.call_timeout.total_seconds())
        raise OutcomeUnknown(f"{name}: no answer within {seconds}s after the call was sent") from None
    except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
        message = f"{name}: the connection to the server dropped after the call was sent"
        raise OutcomeUnknown(f"{message} ({type(exc).__name__})") from None


async def send_call(session: Any, tool: str, arguments: dict[str, Any], config: McpServerConfig) -> Any:
    """``tools/call`` as sent by ``ClientSession.call_tool``, without its check of the result
    against ``outputSchema``: the call has run by then, and its outcome is recorded as it came."""
    import mcp.types as t

    request = t.ClientRequest(
        t.CallToolRequest(params=t.CallToolRequestParams(name=tool, arguments=arguments))
    )
    return await session.send_request(
        request, t.CallToolResult, request_read_timeout_seconds=config.call_timeout
    )


def _check_schema(name: str, data: dict[str, Any], schema: dict[str, Any]) -> None:
    try:
        import jsonschema
        from referencing import Registry
    except ImportError:
        raise UserError("MCP tools need the extra: pip install 'approval-connector[mcp]'") from None
    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator = validator_class(schema, registry=Registry())
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    except (jsonschema.SchemaError, Exception) as exc:  # noqa: BLE001 - a schema that cannot validate
        raise UserError(f"{name}: its input schema cannot be used ({type(exc).__name__})") from None
    if errors:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.absolute_path) or '(arguments)'}: {e.message[:200]}"
            for e in errors[:5]
        )
        raise UserError(f"arguments do not fit {name}: {problems}")


def mcp_tool_provider(config: ConnectorConfig, environ: Mapping[str, str]) -> Callable[[str], Tool | None]:
    """For the tool registry: ``SERVER/TOOL`` of a configured server, from config alone."""

    def provide(name: str) -> Tool | None:
        server, slash, tool = name.partition("/")
        if not slash or not tool or "/" in tool or tool == "*" or server not in config.mcp_servers:
            return None
        return McpTool(server, tool, config.mcp_servers[server], environ)

    return provide


def passes_ungated(config: ConnectorConfig, server: str, definition: Any) -> bool:
    """Whether a call goes to the server as is, unrecorded: only a read-only tool (its
    ``readOnlyHint``) of a server the config marks ``trusted``, and only while no route names it
    exactly. Annotations of other servers are never trusted (the MCP specification says so):
    their calls, like every other call, go by the routes that list them — ``SERVER/TOOL`` or
    ``SERVER/*`` — and are denied when none does."""
    name = tool_name(server, definition.name)
    if any(name in route.tools for route in config.routes):
        return False
    annotations = definition.annotations
    return config.mcp_servers[server].trusted and bool(annotations and annotations.readOnlyHint is True)
