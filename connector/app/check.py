"""What ``check-config`` checks, apart from how the command prints it: tools import, routes name
known tools, templates name arguments their tools take, and each system's own checks (offline,
or ``--live`` against the instance with a short connect timeout and no retries, so an
unreachable host is named within seconds instead of after the adapters' full retry budget)."""

from __future__ import annotations

import asyncio
import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from connector.agents.mcp.check import is_mcp_tool
from connector.app.check_templates import missing_arguments
from connector.core.errors import AdapterError, ConnectorError, UserError
from connector.core.http import NO_RETRY, ApiClient
from connector.core.models import CheckResult

if TYPE_CHECKING:
    from connector.app.runtime import Connector

CHECK_CONNECT_TIMEOUT = 3.0  # seconds: a check answers fast; a real call keeps its own timeouts
CHECK_READ_TIMEOUT = 15.0


@dataclass(frozen=True)
class Row:
    """One line of the report. ``warning``: shown as a warning and not counted as a problem,
    whether or not the item could be verified (a warning is never shown as ``ok``)."""

    system: str
    item: str
    ok: bool
    detail: str = ""
    warning: bool = False

    @property
    def mark(self) -> str:
        if self.warning:
            return "warning"
        return "ok" if self.ok else "FAIL"

    @property
    def failed(self) -> bool:
        return not self.ok and not self.warning

    @classmethod
    def of(cls, result: CheckResult) -> Row:
        return cls(result.system, result.item, result.ok, result.detail, result.warning)


def run_checks(conn: Connector, live: bool) -> list[Row]:
    rows = tool_rows(conn)
    rows += route_tool_rows(conn)
    rows += template_rows(conn)
    for name, adapter in conn.adapters.items():
        if live:
            quick_client(adapter)
        try:
            rows += [Row.of(c) for c in adapter.check(live)]
        except (AdapterError, ConnectorError) as exc:
            rows.append(Row(name, "connection", False, str(exc)))
    if conn.config.mcp_servers:
        rows += [Row.of(c) for c in mcp_rows(conn, live)]
    return rows


def tool_rows(conn: Connector) -> list[Row]:
    rows = []
    for name in conn.registry.names():
        configured = conn.config.tools.get(name)
        if configured is not None and configured.import_path is None:
            detail = "no import: registered in code, so every process that runs it must register it"
            rows.append(Row("tools", name, True, detail, warning=True))
            continue
        try:
            conn.registry.require(name)
            rows.append(Row("tools", name, True, "importable"))
        except UserError as exc:
            rows.append(Row("tools", name, False, str(exc)))
    return rows


def route_tool_rows(conn: Connector) -> list[Row]:
    """A route naming a tool nobody declared is a typo until shown otherwise: it would deny (no
    tool of that name is ever gated) or fail at run time. An error, with the file and line."""
    config, known = conn.config, conn.registry.names()
    rows = []
    for i, route in enumerate(config.routes):
        for j, tool in enumerate(route.tools):
            if tool in known or is_mcp_tool(config, tool):
                continue
            close = difflib.get_close_matches(tool, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            detail = (
                f"{config.where('routes', i, 'tools', j)}: routes[{i}].tools[{j}]: unknown tool {tool!r}"
                f"{hint}; declare it under tools: (tools.{tool}.import: 'module:function', "
                f"or tools.{tool}: {{}} for a tool registered in code)"
            )
            rows.append(Row(route.name, f"tool {tool}", False, detail))
    return rows


def template_rows(conn: Connector) -> list[Row]:
    """Templates compared with the schemas of the tools that load here (MCP tools' schemas are
    only known live, so they are left out)."""
    schemas: dict[str, set[str]] = {}
    for name in conn.registry.names():
        try:
            schemas[name] = conn.registry.require(name).known_keys()
        except (UserError, ConnectorError):
            continue
    return [
        Row(route, path, False, f"{where}: {path}: {problem}")
        for route, where, path, problem in missing_arguments(conn.config, schemas)
    ]


def quick_client(adapter: object) -> None:
    """A short connect timeout and one attempt for this check's HTTP calls (the adapter belongs
    to this command alone)."""
    client = getattr(adapter, "client", None)
    if isinstance(client, ApiClient):
        connect, read = client.timeouts
        client.timeouts = (min(connect, CHECK_CONNECT_TIMEOUT), min(read, CHECK_READ_TIMEOUT))
        client.retry = NO_RETRY


def mcp_rows(conn: Connector, live: bool) -> list[CheckResult]:
    """The MCP servers' rows: declared (offline), and started, listed and matched (``--live``)."""
    from connector.agents.mcp import check

    rows = check.offline(conn.config, conn.environ)
    if live:
        rows += asyncio.run(check.live(conn.config, conn.environ))
    return rows
