"""``serve``'s start-up checks: every tool it may have to run imports, and every environment variable
the configuration names is set. A replica that starts without them takes webhooks and claims
approved calls, then fails each one later (a request marked, a ticket commented, an operator
paged); refusing to start says it at once, and ``--allow-missing`` starts anyway with a warning."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connector.agents.mcp.check import is_mcp_tool
from connector.core.errors import ConfigError, ConnectorError

if TYPE_CHECKING:
    from connector.app.runtime import Connector

log = logging.getLogger("approval_connector.startup")


@dataclass(frozen=True)
class Missing:
    """One thing ``serve`` needs and does not have: ``where`` is ``file:line: key.path``."""

    kind: str  # "variable" or "tool"
    name: str
    where: str
    why: str

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.name} ({self.where}): {self.why}"
            if self.where
            else f"{self.kind} {self.name}: {self.why}"
        )


def named_variables(
    data: Any, loc: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every environment variable the configuration names, with its key path: the value of every
    ``*_env`` key (``token_env: JIRA_API_TOKEN``), and an MCP server's ``env`` and ``headers``
    values. ``proxy.tokens`` is left out: only ``mcp-proxy`` reads it."""
    if isinstance(data, dict):
        for key, value in data.items():
            here = (*loc, str(key))
            if str(key).endswith("_env") and isinstance(value, str) and value:
                yield here, value
            elif loc[:1] == ("mcp_servers",) and len(loc) == 2 and key in ("env", "headers"):
                for name, variable in (value or {}).items() if isinstance(value, dict) else ():
                    if isinstance(variable, str):
                        yield (*here, str(name)), variable
            elif not (loc[:1] == ("mcp_servers",) and len(loc) == 2 and key == "proxy"):
                yield from named_variables(value, here)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from named_variables(item, (*loc, index))


def _path(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + str(part)
    return text


def missing_variables(conn: Connector, environ: Mapping[str, str]) -> list[Missing]:
    config = conn.config
    found = []
    for loc, variable in named_variables(config._data or {}):
        if not environ.get(variable):
            where = f"{config.where(*loc)}: {_path(loc)}"
            found.append(Missing("variable", variable, where, "not set"))
    return found


def missing_tools(conn: Connector) -> list[Missing]:
    """Tools ``serve`` cannot run: an ``import`` that fails, one declared without ``import``
    (registered in code, which ``serve`` has none of), and route tools declared nowhere."""
    config, registry = conn.config, conn.registry
    found = []
    for name, tool in config.tools.items():
        where = f"{config.where('tools', name)}: tools.{name}"
        if tool.import_path is None and registry.get(name) is None:
            found.append(Missing("tool", name, where, "no import: this process cannot run it"))
            continue
        try:
            registry.require(name)
        except ConnectorError as exc:  # its message names the file, line and key already
            found.append(Missing("tool", name, "", str(exc)))
    for i, route in enumerate(config.routes):
        for j, tool in enumerate(route.tools):
            if tool not in config.tools and not is_mcp_tool(config, tool) and registry.get(tool) is None:
                where = f"{config.where('routes', i, 'tools', j)}: routes[{i}].tools[{j}]"
                found.append(Missing("tool", tool, where, "declared nowhere (add tools.<name>.import)"))
    return found


def check_ready(conn: Connector, *, allow_missing: bool = False) -> list[Missing]:
    """What is missing; raises ConfigError listing it unless ``allow_missing`` (then each is
    logged as a warning and returned)."""
    missing = missing_variables(conn, conn.environ) + missing_tools(conn)
    if missing and not allow_missing:
        listed = "\n".join(f"  - {m}" for m in missing)
        raise ConfigError(
            f"serve: not starting, {len(missing)} missing (start with --allow-missing to serve anyway):\n"
            f"{listed}"
        )
    for item in missing:
        log.warning("serving without %s", item)
    return missing
