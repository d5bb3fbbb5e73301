"""``check-config`` for ``mcp_servers``: offline, each server is declared usably (its command is on
the PATH, the variables it names are set, routes name its tools) ; with ``--live`` the server is
started (or reached), its tools listed, and every tool a route names must exist with an input
schema the connector can validate against, holding the arguments the route's conditions test."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from typing import Any

from connector.core.models import CheckResult
from connector.core.settings import ConnectorConfig, McpServerConfig

from .servers import McpServerError, list_tools, open_session


def is_mcp_tool(config: ConnectorConfig, name: str) -> bool:
    server, slash, tool = name.partition("/")
    return bool(slash and tool) and server in config.mcp_servers


def routed(config: ConnectorConfig, server: str) -> dict[str, list[Any]]:
    """Tool name (or ``*``) → the routes that list ``server/<tool>``."""
    found: dict[str, list[Any]] = {}
    for route in config.routes:
        for tool in route.tools:
            if tool.startswith(f"{server}/"):
                found.setdefault(tool.partition("/")[2], []).append(route)
    return found


def _row(server: str, item: str, ok: bool, detail: str, warning: bool = False) -> CheckResult:
    return CheckResult(system=f"mcp:{server}", item=item, ok=ok, detail=detail, warning=warning)


def offline(config: ConnectorConfig, environ: Mapping[str, str]) -> list[CheckResult]:
    rows: list[CheckResult] = []
    for name, server in config.mcp_servers.items():
        rows.append(_transport_row(name, server))
        for where, variables in (("env", server.env), ("headers", server.headers)):
            for key, variable in variables.items():
                if variable not in environ:
                    detail = f"environment variable {variable} is not set"
                    rows.append(_row(name, f"{where}.{key}", False, detail))
        for principal, variable in server.proxy.tokens.items():
            if len(environ.get(variable, "")) < 16:
                detail = f"{variable} must hold a token of 16+ characters (for mcp-proxy --http)"
                rows.append(_row(name, f"proxy.tokens.{principal}", False, detail, warning=True))
        tools = routed(config, name)
        if tools:
            listed = ", ".join(f"{t} ({', '.join(r.name for r in rs)})" for t, rs in sorted(tools.items()))
            rows.append(_row(name, "routes", True, f"{listed}; --live checks each tool exists"))
        else:
            detail = "no route lists its tools: every call is denied" + (
                " (but read-only ones, the server being trusted)" if server.trusted else ""
            )
            rows.append(_row(name, "routes", True, detail, warning=True))
    return rows


def _transport_row(name: str, server: McpServerConfig) -> CheckResult:
    if server.url is not None:
        return _row(name, "url", True, server.url)
    found = shutil.which(server.command or "")
    if found is None:
        return _row(name, "command", False, f"{server.command!r} is not an executable on the PATH")
    return _row(name, "command", True, found)


async def live(config: ConnectorConfig, environ: Mapping[str, str]) -> list[CheckResult]:
    rows: list[CheckResult] = []
    for name, server in config.mcp_servers.items():
        try:
            async with open_session(name, server, environ) as session:
                offered = {tool.name: tool for tool in await list_tools(session)}
        except McpServerError as exc:
            rows.append(_row(name, "connection", False, str(exc)))
            continue
        rows.append(_row(name, "connection", True, f"{len(offered)} tool(s): {', '.join(sorted(offered))}"))
        for tool, routes in sorted(routed(config, name).items()):
            if tool != "*":
                rows.append(_tool_row(name, tool, offered.get(tool), routes, sorted(offered)))
        if server.trusted:
            passing = sorted(t for t, d in offered.items() if d.annotations and d.annotations.readOnlyHint)
            detail = (
                f"read-only, so passing ungated unless a route names them: {', '.join(passing) or 'none'}"
            )
            rows.append(_row(name, "trusted", True, detail))
    return rows


def _tool_row(server: str, tool: str, definition: Any, routes: list[Any], offered: list[str]) -> CheckResult:
    if definition is None:
        detail = f"the server offers no such tool (it offers: {', '.join(offered) or 'none'})"
        return _row(server, f"tool {tool}", False, detail)
    schema = definition.inputSchema or {}
    problem = schema_problem(schema)
    if problem:
        return _row(server, f"tool {tool}", False, problem)
    properties = set((schema.get("properties") or {}).keys())
    tested = {c.arg.split(".")[0] for route in routes for c in route.when}
    missing = sorted(tested - properties)
    if missing:
        detail = f"the routes' conditions test {', '.join(missing)}, which its schema does not have"
        return _row(server, f"tool {tool}", False, detail)
    required = ", ".join(schema.get("required") or []) or "none"
    detail = f"arguments: {', '.join(sorted(properties)) or 'none'} (required: {required})"
    return _row(server, f"tool {tool}", True, detail)


def schema_problem(schema: Any) -> str | None:
    """Why an input schema cannot validate the calls the connector stores, if it cannot."""
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return "its input schema is not an object schema"
    try:
        import jsonschema

        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"its input schema is invalid: {exc.message[:200]}"
    return None
