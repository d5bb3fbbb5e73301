"""MCP tools in AutoGen through the ticket gate: an AssistantAgent on ``connector.mcp_workbench``
calls the test server's destructive tool, hears "pending" at once, a human decides in the local
desk, Jira or ServiceNow (simulated over HTTP), and the connector opens the server and runs the
stored call itself, exactly once; the route decides per server and per tool, and annotations set
defaults only for a trusted server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from connector.core.models import Mode, RequestState
from tests.agents.harness import cli_args, finished, spawn
from tests.agents.mcp_testlib import SERVER, agent_answers, ledger_lines, server_block
from tests.agents.systems import ticketing

PAY = ("transfer_funds", {"account": "ACME", "amount": 9})
BALANCE = ("get_balance", {"account": "ACME"})


ROUTES = {  # mode -> (the route put first, whether the server is trusted)
    "auto": ("  - {name: reads, tools: [ledger/get_balance], system: desk, mode: auto}\n", True),
    "deny": ("  - {name: no-reads, tools: [ledger/get_balance], system: desk, mode: deny}\n", True),
    "shadow": ("  - {name: watch, tools: ['ledger/*'], system: desk, mode: shadow, approvers: [x]}\n", False),
}


@contextlib.asynccontextmanager
async def agent_on(
    kind: str, workdir: Any, *turns: tuple[str, dict], trusted: bool = False, route: str = ""
) -> AsyncIterator[tuple[Any, Any, list[tuple[str, bool]]]]:
    """A ticketing system configured for the test server (a route ``gated`` for transfer_funds,
    and ``route`` put first), and an agent whose turns went through the gated workbench: yields
    (system, connector, what each call answered)."""
    with ticketing(
        kind, workdir, "ledger/transfer_funds", server_block(ledger_of(workdir), trusted=trusted)
    ) as system:
        if route:
            system.config.write_text(system.config.read_text().replace("routes:\n", "routes:\n" + route, 1))
        conn = system.connector()
        try:
            async with conn.mcp_workbench("ledger", agent="treasurer") as workbench:
                answers = await agent_answers(workbench, *turns)
            yield system, conn, answers
        finally:
            conn.close()


def ledger_of(workdir: Any) -> Any:
    return workdir / "ledger.jsonl"


@pytest.mark.parametrize("kind", ["local", "jira", "servicenow"])
async def test_gated_mcp_call_waits_for_the_ticket_and_runs_once(kind, workdir):
    ledger = ledger_of(workdir)
    async with agent_on(kind, workdir, PAY) as (system, conn, [(answer, is_error)]):
        [request] = conn.store.list()
        assert not is_error and "Status: pending human approval" in answer
        assert request.ticket.key in answer and "NOT been performed" in answer
        assert (request.tool_name, request.arguments) == ("ledger/transfer_funds", PAY[1])
        assert request.state is RequestState.TICKETED and ledger_lines(ledger) == []

        await system.decide(conn, request.ticket.key, approve=True)
        done = conn.store.get(request.id)
        assert (done.state, done.result) == (RequestState.SUCCEEDED, "moved 9 to ACME")
        assert ledger_lines(ledger) == [{"account": "ACME", "amount": 9}]
        assert any("moved 9 to ACME" in c for c in system.comments(conn, request.ticket.key))
        await conn.poll_once()  # a later poll runs nothing again
        assert len(ledger_lines(ledger)) == 1


async def test_a_rejected_mcp_call_never_reaches_the_server(workdir):
    async with agent_on("local", workdir, PAY) as (system, conn, _):
        [request] = conn.store.list()
        await system.decide(conn, request.ticket.key, approve=False, reason="wrong account")
        assert conn.store.get(request.id).state is RequestState.REJECTED
    assert ledger_lines(ledger_of(workdir)) == []


async def test_another_process_approves_and_runs_the_mcp_call_from_config_alone(workdir):
    async with agent_on("local", workdir, PAY) as (system, conn, _):
        [request] = conn.store.list()
    approve = cli_args(system.config, "approve", request.ticket.key, "--as", "alice")
    out, _ = finished(spawn(*approve, cwd=workdir))
    assert "moved 9 to ACME" in out
    spawn(*approve, cwd=workdir).communicate(timeout=120)
    assert ledger_lines(ledger_of(workdir)) == [{"account": "ACME", "amount": 9}]  # the second ran nothing


@pytest.mark.parametrize("trusted", [False, True])
async def test_annotations_set_defaults_only_for_a_trusted_server(trusted, workdir):
    async with agent_on("local", workdir, BALANCE, PAY, trusted=trusted) as (_, conn, answers):
        [(balance, _), (pay, _)] = answers
        requests = {r.tool_name: r for r in conn.store.list()}
    assert "Status: pending" in pay  # destructive: gated by its route, trusted or not
    if trusted:  # readOnlyHint of a trusted server that no route names: passes as is, unrecorded
        assert balance == "ACME: 0" and "ledger/get_balance" not in requests
    else:  # an untrusted server's hint counts for nothing: no route lists it, so it is denied
        assert balance.startswith("Denied by policy: no route allows this call")
        assert requests["ledger/get_balance"].state is RequestState.DENIED


@pytest.mark.parametrize("mode", ["auto", "deny", "shadow"])
async def test_the_route_decides_per_tool_whatever_the_annotations(mode, workdir):
    route, trusted = ROUTES[mode]
    async with agent_on("local", workdir, BALANCE, trusted=trusted, route=route) as (_, conn, answers):
        [(answer, _)] = answers
        [request] = conn.store.list()
    assert request.tool_name == "ledger/get_balance" and request.mode is Mode(mode)
    if mode == "auto":  # named by a route: recorded, run by the connector at once
        assert request.state is RequestState.SUCCEEDED and "ACME: 0" in answer
    elif mode == "deny":
        assert request.state is RequestState.DENIED and answer.startswith("Denied by policy")
    else:  # an untrusted server's tool under SERVER/* in shadow: a ticket as a record, never run
        assert request.state is RequestState.TICKETED and request.ticket is not None


async def test_arguments_the_tool_schema_refuses_are_an_error_and_nothing_is_stored(workdir):
    bad = ("transfer_funds", {"account": "ACME", "amount": "nine"})
    async with agent_on("local", workdir, bad) as (_, conn, [(answer, is_error)]):
        assert is_error and answer.startswith("arguments do not fit ledger/transfer_funds: amount:")
        assert conn.store.list() == []


OTHER_SERVER = """
from mcp.server.fastmcp import FastMCP

server = FastMCP("ledger")


@server.tool()
def get_balance(account: str) -> str:
    return "0"


server.run("stdio")
"""


async def test_a_tool_the_server_no_longer_offers_fails_closed_at_run_time(workdir):
    async with agent_on("local", workdir, PAY) as (system, conn, _):
        [request] = conn.store.list()
    changed = workdir / "changed_server.py"
    changed.write_text(OTHER_SERVER)
    system.config.write_text(system.config.read_text().replace(str(SERVER), str(changed)))
    conn = system.connector()
    try:
        await system.decide(conn, request.ticket.key, approve=True)
        failed = conn.store.get(request.id)
    finally:
        conn.close()
    assert failed.state is RequestState.FAILED
    assert "no longer offers tool transfer_funds; not run" in failed.error
    assert ledger_lines(ledger_of(workdir)) == []


SLOW_SERVER = """
import json, sys, time
from mcp.server.fastmcp import FastMCP

server = FastMCP("ledger")


@server.tool()
def transfer_funds(account: str, amount: int) -> str:
    with open(sys.argv[1], "a") as f:
        f.write(json.dumps({"account": account, "amount": amount}) + "\\n")
    time.sleep(30)  # it took effect, but the answer never comes in time
    return "moved"


server.run("stdio")
"""


async def test_a_call_that_times_out_after_it_was_sent_is_in_doubt_not_failed(workdir):
    async with agent_on("local", workdir, PAY) as (system, conn, _):
        [request] = conn.store.list()
    slow = workdir / "slow_server.py"
    slow.write_text(SLOW_SERVER)
    text = system.config.read_text().replace(f'"{SERVER}", "--ledger", ', f'"{slow}", ')
    system.config.write_text(text.replace("    trusted:", "    call_timeout: 1s\n    trusted:", 1))
    conn = system.connector()
    try:
        await system.decide(conn, request.ticket.key, approve=True)
        stored = conn.store.get(request.id)
        comments = system.comments(conn, request.ticket.key)
    finally:
        conn.close()
    assert ledger_lines(ledger_of(workdir)) == [{"account": "ACME", "amount": 9}]  # it did run
    assert stored.state is RequestState.IN_DOUBT
    assert "no answer within 1s after the call was sent" in stored.error
    assert any("outcome is unknown" in c and "will not be run again" in c for c in comments)
