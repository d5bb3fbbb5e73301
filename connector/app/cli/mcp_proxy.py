"""``mcp-proxy --server NAME``: an upstream MCP server's tools for any MCP client, each gated
call a ticket answered at once (see connector.agents.mcp.proxy). Over stdio the client starts
this command and stdout is the MCP channel, so nothing else is printed there."""

from __future__ import annotations

import asyncio
import contextlib

import click

from connector.app.cli.options import command
from connector.app.cli.session import connector
from connector.core.errors import UserError


@command("mcp-proxy")
@click.option(
    "--server", required=True, metavar="NAME", help="The MCP server, by its name under mcp_servers."
)
@click.option("--http", is_flag=True, help="Serve streamable HTTP (bearer tokens) instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP listen address.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="HTTP listen port (0: a free one).",
)
def mcp_proxy(server: str, http: bool, host: str, port: int) -> None:
    """Expose an MCP server's tools unchanged; gated calls become approval tickets."""
    from connector.agents.mcp.servers import require_mcp
    from connector.agents.mcp.transports import log_to_stderr, serve_http, serve_stdio

    require_mcp()
    if not http:
        log_to_stderr()
    conn = connector()
    if server not in conn.config.mcp_servers:
        known = ", ".join(sorted(conn.config.mcp_servers)) or "none"
        raise UserError(f"--server: no MCP server {server!r} in mcp_servers (declared: {known})")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_http(conn, server, host, port) if http else serve_stdio(conn, server))
