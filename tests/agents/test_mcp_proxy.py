"""``approval-connector mcp-proxy`` driven by the official MCP client SDK, over stdio and
streamable HTTP: the upstream tools listed unchanged, a gated call answered at once with
"pending", the same call repeated gets the same request (never a second ticket), the decision
taken in another process runs the upstream call once, the repeat then returns its result;
rejection; who asks comes from the config or the bearer token, never from clientInfo; replicas
on one database; a client that disconnects and comes back (to another replica) finds its task."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from connector.core.models import RequestState
from tests.agents.harness import cli_args, connector, env, finished, spawn
from tests.agents.mcp_testlib import ledger_lines, server_block

mcp = pytest.importorskip("mcp")
import mcp.types as t  # noqa: E402
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared._httpx_utils import create_mcp_http_client  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # mcp 1.2x: SEP-1686 tasks API

TOKENS = {"ALICE_TOKEN": "alice-token-0123456789", "BOB_TOKEN": "bob-token-0123456789ab"}
PROXY = """
    proxy:
      requester: alice
      tasks: true
      tokens: {alice: ALICE_TOKEN, bob: BOB_TOKEN}
"""
CONFIG = """
store: {{url: "{url}"}}
scheduler: {{lease: 2s, outbox_interval: 1s, poll_interval: 1s}}
systems:
  desk: {{type: local}}
{servers}
routes:
  - name: payments
    tools: [ledger/transfer_funds]
    system: desk
    approvers: [carol]
"""
PAY = {"account": "ACME", "amount": 7}


def write_config(workdir: Path, url: str | None = None) -> Path:
    path = workdir / "proxy.yaml"
    servers = server_block(workdir / "ledger.jsonl", trusted=True, extra=PROXY)
    path.write_text(CONFIG.format(url=url or f"sqlite:///{workdir / 'proxy.db'}", servers=servers))
    return path


def proxy_args(config: Path, *extra: str) -> list[str]:
    return ["-m", "connector.cli", "--config", str(config), "mcp-proxy", "--server", "ledger", *extra]


@contextlib.asynccontextmanager
async def stdio_proxy(config: Path, workdir: Path) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable, args=proxy_args(config), env=env(), cwd=str(workdir)
    )
    client = t.Implementation(name="mallory", version="1")  # what a client says of itself counts for nothing
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write, client_info=client) as session,
    ):
        await session.initialize()
        yield session


@contextlib.contextmanager
def http_proxy(config: Path, workdir: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, *proxy_args(config, "--http", "--port", "0")],
        cwd=workdir,
        env=env(**TOKENS),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line + proc.stderr.read()
        yield line.split("listening on ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@contextlib.asynccontextmanager
async def http_session(url: str, token: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(url, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def request_of(result: t.CallToolResult) -> str:
    return result.meta["approval-connector/request"]


def text_of(result: t.CallToolResult) -> str:
    return result.content[0].text


def decide(config: Path, workdir: Path, key: str, *how: str) -> str:
    out, _ = finished(spawn(*cli_args(config, *how[:1], key, *how[1:]), cwd=workdir))
    return out


async def test_stdio_proxy_pending_repeat_approval_result_and_rejection(workdir):
    config = write_config(workdir)
    ledger = workdir / "ledger.jsonl"
    async with stdio_proxy(config, workdir) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert tools["transfer_funds"].annotations.destructiveHint is True  # unchanged upstream tools
        assert tools["transfer_funds"].outputSchema is not None
        assert tools["transfer_funds"].execution.taskSupport == "optional"  # gated, tasks on
        assert tools["get_balance"].annotations.readOnlyHint is True
        balance = await session.call_tool("get_balance", {"account": "ACME"})
        assert (text_of(balance), balance.isError) == ("ACME: 0", False)  # trusted read-only: forwarded

        first = await session.call_tool("transfer_funds", PAY)
        assert first.isError and text_of(first).startswith(
            "Pending approval in LOCAL-1: transfer_funds has not run"
        )
        assert "Not failed" in text_of(first)
        again = await session.call_tool("transfer_funds", {"amount": 7, "account": "ACME"})
        assert request_of(again) == request_of(first) and ledger_lines(ledger) == []
        bad = await session.call_tool("transfer_funds", {"account": "ACME"})
        assert bad.isError and "amount" in text_of(bad)

        conn = connector(config)
        try:
            [request] = conn.store.list()
            assert (request.requester, request.tool_name) == ("alice", "ledger/transfer_funds")
        finally:
            conn.close()
        assert "moved 7 to ACME" in decide(config, workdir, "LOCAL-1", "approve", "--as", "carol")
        second = spawn(*cli_args(config, "approve", "LOCAL-1", "--as", "carol"), cwd=workdir)
        _, said = second.communicate(timeout=120)
        assert second.returncode == 2 and "is SUCCEEDED; only pending requests can be decided" in said
        done = await session.call_tool("transfer_funds", PAY)
        assert (done.isError, text_of(done)) == (False, "moved 7 to ACME")
        assert done.structuredContent == {"result": "moved 7 to ACME"}  # fits the tool's outputSchema
        assert request_of(done) == request_of(first)
        assert ledger_lines(ledger) == [PAY]

        other = await session.call_tool("transfer_funds", {"account": "EVIL", "amount": 1})
        decide(config, workdir, "LOCAL-2", "reject", "--as", "carol", "--reason", "unknown payee")
        rejected = await session.call_tool("transfer_funds", {"account": "EVIL", "amount": 1})
        assert request_of(rejected) == request_of(other)
        assert rejected.isError and text_of(rejected).startswith("Rejected by carol (ticket LOCAL-2)")
        assert "unknown payee" in text_of(rejected)
    assert ledger_lines(ledger) == [PAY]


async def test_the_requester_asks_and_never_approves(workdir):
    config = write_config(workdir)
    async with stdio_proxy(config, workdir) as session:
        await session.call_tool("transfer_funds", PAY)
        spawn(*cli_args(config, "approve", "LOCAL-1", "--as", "alice"), cwd=workdir).communicate(timeout=120)
        again = await session.call_tool("transfer_funds", PAY)
    assert again.meta["approval-connector/state"] == "TICKETED"  # alice asked: her approval counts not
    assert ledger_lines(workdir / "ledger.jsonl") == []


async def test_http_proxy_needs_a_token_and_takes_the_requester_from_it(workdir):
    config = write_config(workdir)
    with http_proxy(config, workdir) as url:
        with pytest.raises(BaseException):  # noqa: B017 - 401: the client SDK fails the connection
            async with http_session(url, None) as session:
                await session.list_tools()
        with pytest.raises(BaseException):  # noqa: B017
            async with http_session(url, "not-a-known-token-at-all") as session:
                await session.list_tools()
        async with http_session(url, TOKENS["ALICE_TOKEN"]) as alice:
            mine = await alice.call_tool("transfer_funds", PAY)
        async with http_session(url, TOKENS["BOB_TOKEN"]) as bob:
            his = await bob.call_tool("transfer_funds", PAY)
            with pytest.raises(mcp.McpError):  # alice's task is not bob's to read
                await bob.experimental.get_task(request_of(mine))
    assert request_of(mine) != request_of(his)
    conn = connector(config)
    try:
        assert sorted(r.requester for r in conn.store.list()) == ["alice", "bob"]
    finally:
        conn.close()


async def test_a_task_survives_the_client_going_away_and_coming_back_to_another_replica(workdir):
    config = write_config(workdir)
    ledger = workdir / "ledger.jsonl"
    connector(config).close()  # the schema exists before the proxies start
    with http_proxy(config, workdir) as url, http_proxy(config, workdir) as other:
        async with http_session(url, TOKENS["ALICE_TOKEN"]) as session:
            created = await session.experimental.call_tool_as_task("transfer_funds", PAY)
            assert created.task.status == "working" and "LOCAL-1" in created.task.statusMessage
            plain = await session.call_tool("transfer_funds", PAY)
            assert request_of(plain) == created.task.taskId  # the same request, task or not
        decide(config, workdir, "LOCAL-1", "approve", "--as", "carol")  # meanwhile, the client is gone
        async with http_session(other, TOKENS["ALICE_TOKEN"]) as session:
            status = await session.experimental.get_task(created.task.taskId)
            result = await session.experimental.get_task_result(created.task.taskId, t.CallToolResult)
    assert status.status == "completed"
    assert (result.isError, result.content[0].text) == (False, "moved 7 to ACME")
    assert ledger_lines(ledger) == [PAY]


def test_replicas_receiving_the_same_call_open_one_ticket(workdir):
    config = write_config(workdir)
    connector(config).close()  # the schema exists before the proxies start

    async def call(url: str) -> str:
        async with http_session(url, TOKENS["ALICE_TOKEN"]) as session:
            return request_of(await session.call_tool("transfer_funds", PAY))

    async def main(urls: list[str]) -> list[str]:
        return await asyncio.gather(*(call(url) for url in urls for _ in range(3)))

    with http_proxy(config, workdir) as one, http_proxy(config, workdir) as two:
        ids = asyncio.run(main([one, two]))
    assert len(set(ids)) == 1
    conn = connector(config)
    try:
        [request] = conn.store.list()
        assert (request.state, request.ticket.key) == (RequestState.TICKETED, "LOCAL-1")  # one ticket
    finally:
        conn.close()
