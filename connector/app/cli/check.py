"""``check-config``: the configuration validated offline, or with ``--live`` against each system."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

from connector.agents.mcp.check import is_mcp_tool
from connector.app.cli import codes
from connector.app.cli.options import command
from connector.app.cli.output import TerminalTable, err, out
from connector.app.cli.session import connector
from connector.core.errors import AdapterError, ConnectorError, UserError
from connector.core.models import CheckResult

if TYPE_CHECKING:
    from connector.app.runtime import Connector


@command("check-config")
@click.option("--live", is_flag=True, help="Also check each system against the live instance.")
def check_config(live: bool) -> None:
    """Validate the configuration (offline, or with --live against Jira / ServiceNow)."""
    conn = connector()
    results = []
    for name in conn.registry.names():
        try:
            conn.registry.require(name)
            results.append(("tools", name, True, "importable", False))
        except UserError as exc:
            results.append(("tools", name, False, str(exc), False))
    for route in conn.config.routes:
        for tool in route.tools:
            if tool not in conn.registry.names() and not is_mcp_tool(conn.config, tool):
                results.append(
                    (
                        route.name,
                        f"tool {tool}",
                        False,
                        "not in tools: (register it in code, or add tools.<name>.import)",
                        True,
                    )
                )
    for name, adapter in conn.adapters.items():
        try:
            checks = adapter.check(live)
        except (AdapterError, ConnectorError) as exc:
            results.append((name, "connection", False, str(exc), False))
            continue
        results.extend((c.system, c.item, c.ok, c.detail, c.warning) for c in checks)
    if conn.config.mcp_servers:
        results.extend((c.system, c.item, c.ok, c.detail, c.warning) for c in mcp_checks(conn, live))
    table = TerminalTable(box=None, padding=(0, 2), header_style="bold")
    for col in ("", "system / route", "item", "detail"):
        table.add_column(col, overflow="fold")
    failed = 0
    for system, item, ok, detail, warning in results:
        mark = "ok" if ok else ("warn" if warning else "FAIL")
        failed += not ok and not warning
        table.add_row(mark, system, item, detail)
    out.print(table)
    source = getattr(conn.config, "_source", "")
    if failed:
        err.print(f"{failed} problem(s) in {source}")
        codes.leave(codes.CHECK_FAILED)
    out.print(f"{source}: configuration OK" + ("" if live else " (offline; --live checks the systems)"))


def mcp_checks(conn: Connector, live: bool) -> list[CheckResult]:
    """The MCP servers' rows: declared (offline), and started, listed and matched (``--live``)."""
    from connector.agents.mcp import check

    rows = check.offline(conn.config, conn.environ)
    if live:
        rows += asyncio.run(check.live(conn.config, conn.environ))
    return rows
