"""Drive ``approval_proxy.py`` with the official MCP client SDK, over stdio and HTTP.

Shows, in order: tools listed unchanged (annotations kept); an ungated call forwarded; a
gated call answered at once with "pending" (what a plain client sees); the same call
repeated -> the same request, no second ticket; the decision taken in another process
(``decide.py``) runs the upstream call once; the repeat now returns the real result; a
second decision runs nothing; a rejection; and with ``--tasks`` a task-augmented call
(``session.experimental.call_tool_as_task``) polled with ``tasks/get`` from a *new*
session after the first one disconnected.

Run:  python research/mcp/proxy_demo.py
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import mcp.types as t
from common import http_server, ledger_lines
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

HERE = Path(__file__).resolve().parent
warnings.filterwarnings("ignore", category=DeprecationWarning)


def decide(store: Path, ledger: Path, request_id: str, decision: str) -> str:
    cmd = [
        sys.executable,
        str(HERE / "decide.py"),
        "--store",
        str(store),
        "--ledger",
        str(ledger),
        request_id,
        decision,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def request_of(result: t.CallToolResult) -> str:
    return result.meta["approval-connector/request"]


def short(result: t.CallToolResult) -> str:
    return f"isError={result.isError} text={result.content[0].text[:60]!r} meta={result.meta}"


async def plain_client(session: ClientSession, store: Path, ledger: Path) -> None:
    await session.initialize()
    tools = (await session.list_tools()).tools
    print(
        "  tools:",
        [(x.name, x.annotations.destructiveHint, x.annotations.readOnlyHint, x.execution) for x in tools],
    )
    print("  ungated get_balance:", short(await session.call_tool("get_balance", {"account": "ACME"})))
    first = await session.call_tool("transfer_funds", {"account": "ACME", "amount": 7})
    print("  gated, 1st:", short(first))
    again = await session.call_tool(
        "transfer_funds", {"amount": 7, "account": "ACME"}
    )  # same call, keys reordered
    same = request_of(again) == request_of(first)
    print("  gated, repeat: same request:", same, "| ledger lines:", ledger_lines(ledger))
    bad = await session.call_tool("transfer_funds", {"account": "ACME"})
    print("  gated, missing argument:", short(bad))
    request_id = request_of(first)
    print("  decide approve (other process):", decide(store, ledger, request_id, "approve"))
    print("  decide approve again:", decide(store, ledger, request_id, "approve"))
    print(
        "  gated, repeat after approval:",
        short(await session.call_tool("transfer_funds", {"account": "ACME", "amount": 7})),
    )
    print("  ledger lines:", ledger_lines(ledger))
    other = await session.call_tool("transfer_funds", {"account": "EVIL", "amount": 1})
    print("  decide reject:", decide(store, ledger, request_of(other), "reject"))
    print(
        "  rejected, repeat:",
        short(await session.call_tool("transfer_funds", {"account": "EVIL", "amount": 1})),
    )


async def task_client(url: str, store: Path, ledger: Path) -> None:
    async with streamable_http_client(url) as (r, w, _), ClientSession(r, w) as session:
        init = await session.initialize()
        print("  server caps tasks:", init.capabilities.tasks)
        created = await session.experimental.call_tool_as_task(
            "transfer_funds", {"account": "ACME", "amount": 3}
        )
        task_id = created.task.taskId
        print(
            "  call_tool_as_task ->", type(created).__name__, created.task.status, created.task.statusMessage
        )
        plain = await session.call_tool("transfer_funds", {"account": "ACME", "amount": 3})
        print(
            "  same call without task ->",
            plain.meta["approval-connector/state"],
            "same id:",
            request_of(plain) == task_id,
        )
    print("  (client disconnected) decide approve:", decide(store, ledger, task_id, "approve"))
    async with streamable_http_client(url) as (r, w, _), ClientSession(r, w) as session:
        await session.initialize()
        status = await session.experimental.get_task(task_id)
        print("  new session, tasks/get ->", status.status, status.statusMessage)
        final = await session.experimental.get_task_result(task_id, t.CallToolResult)
        print("  tasks/result ->", short(final))
    print("  ledger lines:", ledger_lines(ledger))


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store, ledger = Path(tmp) / "store.json", Path(tmp) / "ledger.jsonl"
        args = [str(HERE / "approval_proxy.py"), "--store", str(store), "--ledger", str(ledger)]
        print("stdio proxy, plain client:")
        params = StdioServerParameters(command=sys.executable, args=args)
        async with stdio_client(params) as (r, w), ClientSession(r, w) as session:
            await plain_client(session, store, ledger)
        print("HTTP proxy with --tasks, task-capable client:")
        with http_server(
            ledger, script=HERE / "approval_proxy.py", extra=["--store", str(store), "--tasks"]
        ) as url:
            await task_client(url, store, ledger)


asyncio.run(main())
