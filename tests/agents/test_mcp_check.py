"""``check-config`` for MCP servers: offline it says whether each server is declared usably and
which of its tools routes name; ``--live`` starts the server, lists its tools, and fails for a
routed tool the server does not offer or whose schema lacks what the route's conditions test."""

from __future__ import annotations

import json
import sys

from tests.agents.harness import cli_args, run
from tests.agents.mcp_testlib import server_block

CONFIG = """
store: {{url: "sqlite:///{db}"}}
{servers}
  broken:
    command: no-such-binary-here
    env: {{TOKEN: MCP_CHECK_TOKEN_UNSET}}
routes:
  - name: pay
    tools: [{tools}]
    system: desk
    approvers: [carol]
    when: {when}
"""


def config(workdir, tools: str, when: str = "[]"):
    path = workdir / "check.yaml"
    servers = server_block(workdir / "ledger.jsonl", trusted=True)
    path.write_text(CONFIG.format(db=workdir / "c.db", servers=servers, tools=tools, when=when))
    return path


def rows(out: str) -> list[str]:
    return [" ".join(line.split()) for line in out.splitlines() if "mcp:" in line]


def test_offline_check_names_each_server_and_its_routed_tools(workdir):
    done = run(*cli_args(config(workdir, "ledger/transfer_funds, broken/x"), "check-config"), cwd=workdir)
    assert done.returncode == 1, done.stdout + done.stderr
    found = rows(done.stdout)
    assert f"ok mcp:ledger command {sys.executable}" in found
    assert "ok mcp:ledger routes transfer_funds (pay); --live checks each tool exists" in found
    assert "FAIL mcp:broken command 'no-such-binary-here' is not an executable on the PATH" in found
    assert "FAIL mcp:broken env.TOKEN environment variable MCP_CHECK_TOKEN_UNSET is not set" in found
    assert "2 problem(s)" in done.stderr


def test_live_check_starts_the_server_and_finds_each_routed_tool_and_its_arguments(workdir):
    when = json.dumps(
        [{"arg": "amount", "op": "lt", "value": 100}, {"arg": "currency", "op": "eq", "value": "EUR"}]
    )
    path = config(workdir, "ledger/transfer_funds, ledger/refund", when)
    text = path.read_text().replace("  broken:\n", "  exits:\n").replace("no-such-binary-here", '"false"')
    path.write_text(text.replace("    env: {TOKEN: MCP_CHECK_TOKEN_UNSET}\n", ""))
    done = run(*cli_args(path, "check-config", "--live"), cwd=workdir)
    found = rows(done.stdout)
    assert "ok mcp:ledger connection 2 tool(s): get_balance, transfer_funds" in found
    assert (
        "FAIL mcp:ledger tool refund the server offers no such tool (it offers: get_balance, transfer_funds)"
        in found
    )
    conditions = "the routes' conditions test currency, which its schema does not have"
    assert f"FAIL mcp:ledger tool transfer_funds {conditions}" in found
    assert any(r.startswith("FAIL mcp:exits connection MCP server exits: starting it failed") for r in found)
    assert done.returncode == 1


def test_live_check_passes_a_server_whose_routed_tools_exist(workdir):
    path = config(workdir, "ledger/transfer_funds", "[{arg: amount, op: lt, value: 100}]")
    text = path.read_text()
    path.write_text(text[: text.index("  broken:")] + text[text.index("routes:") :])
    done = run(*cli_args(path, "check-config", "--live"), cwd=workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    found = rows(done.stdout)
    assert "ok mcp:ledger tool transfer_funds arguments: account, amount (required: account, amount)" in found
    assert (
        "ok mcp:ledger trusted read-only, so passing ungated unless a route names them: get_balance" in found
    )
    assert "configuration OK" in done.stdout
