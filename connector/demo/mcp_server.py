"""A small MCP server for the demo (``demo --mcp``) and the tests, built on the official `mcp`
SDK (extra `[mcp]`).

Two tools, both writing to or reading from a ledger file (one JSON line per transfer), so a
test counts side effects by counting lines:

- ``transfer_funds(account, amount)``: destructive (``destructiveHint=True``,
  ``readOnlyHint=False``, ``idempotentHint=False``); appends one line.
- ``get_balance(account)``: read-only (``readOnlyHint=True``); sums the lines.

Run over stdio (the client starts it)::

    python -m connector.demo.mcp_server --ledger PATH

or over streamable HTTP on a loopback port (``--port 0`` picks a free one; the server prints
``listening on http://127.0.0.1:PORT/mcp`` on stdout once it accepts connections)::

    python -m connector.demo.mcp_server --ledger PATH --http --port 0

The ledger path may also come from ``MCP_TEST_LEDGER``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from pathlib import Path

from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations

HOST = "127.0.0.1"


def build_server(ledger: Path) -> FastMCP:
    """The test server, its tools bound to ``ledger``."""
    server = FastMCP("ledger", log_level="WARNING")

    @server.tool(
        annotations=ToolAnnotations(
            title="Transfer funds", readOnlyHint=False, destructiveHint=True, idempotentHint=False
        )
    )
    def transfer_funds(account: str, amount: int) -> str:
        """Move `amount` to `account`. Irreversible."""
        with ledger.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"account": account, "amount": amount}) + "\n")
        return f"moved {amount} to {account}"

    @server.tool(annotations=ToolAnnotations(title="Get balance", readOnlyHint=True))
    def get_balance(account: str) -> str:
        """The total moved to `account` so far."""
        lines = ledger.read_text(encoding="utf-8").splitlines() if ledger.exists() else []
        total = sum(entry["amount"] for entry in map(json.loads, lines) if entry["account"] == account)
        return f"{account}: {total}"

    return server


async def serve_http(server: FastMCP, port: int) -> None:
    """Serve streamable HTTP on a socket bound here, so ``--port 0`` can report the port."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    config = uvicorn.Config(server.streamable_http_app(), log_level="warning", lifespan="on")
    web = uvicorn.Server(config)
    serving = asyncio.create_task(web.serve(sockets=[sock]))
    while not web.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.02)
    print(f"listening on http://{HOST}:{sock.getsockname()[1]}/mcp", flush=True)
    await serving


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", default=os.environ.get("MCP_TEST_LEDGER"), help="ledger file path")
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    parser.add_argument("--port", type=int, default=0, help="loopback port for --http (0: a free one)")
    args = parser.parse_args(argv)
    if not args.ledger:
        parser.error("--ledger (or MCP_TEST_LEDGER) is required")
    server = build_server(Path(args.ledger))
    if args.http:
        asyncio.run(serve_http(server, args.port))
    else:
        server.run("stdio")


if __name__ == "__main__":
    sys.exit(main())
