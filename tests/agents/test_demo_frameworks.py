"""``demo --framework maf`` and ``demo --mcp``: the same steps as the AutoGen demo — a ticket, a
human's decision, the call run once, the agent told — with a MAF agent, and with the demo's MCP
ledger server behind the gated AutoGen workbench, on the local desk and the simulated systems."""

from __future__ import annotations

import json

import pytest

from tests.conftest import sent_mail
from tests.connector.test_cli import cli
from tests.connector.test_cli_desk import demo_stored, run


def ledger(workdir) -> list[dict]:
    path = workdir / "approval-connector-ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_demo_with_a_maf_agent(workdir, capsys):
    code, out, err = run(capsys, "demo", "--framework", "maf", "--approve")
    assert code == 0, err
    assert 'agent calls send_email({"to": "jane.doe@example.com"' in out
    assert "tool answers: Approval requested in LOCAL-1" in out
    assert "and executed. Result: sent to jane.doe@example.com" in out
    assert "agent: Noted the outcome for Jane: Approved by demo-approver (ticket LOCAL-1)" in out  # heard it
    assert "audit chain intact" in out and len(sent_mail(workdir)) == 1


@pytest.mark.parametrize("system", ["local", "servicenow"])  # a summary, a short_description to retitle
def test_demo_with_an_mcp_servers_tool(system, workdir):
    done = cli("demo", "--mcp", "--system", system, "--approve", cwd=workdir)  # starts the server
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "tool answers: ACME-1042: 0" in out  # a trusted server's read-only tool passes as is
    assert "tool answers: Approval requested in" in out and "Status: pending human approval" in out
    assert "Agent asks to transfer 250 to ACME-1042" in out or system != "local"
    assert "and executed. Result: moved 250 to ACME-1042" in out
    assert ledger(workdir) == [{"account": "ACME-1042", "amount": 250}]
    assert "audit chain intact" in out


def test_demo_with_an_mcp_tool_approved_with_edits(workdir):
    done = cli("demo", "--mcp", "--edit", '{"amount": 200}', cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert ledger(workdir) == [{"account": "ACME-1042", "amount": 200}]  # what the approver approved
    done = cli("demo", "--mcp", "--edit", '{"amount": "lots"}', cwd=workdir)
    assert done.returncode == 2 and "arguments do not fit ledger/transfer_funds: amount:" in done.stderr
    assert "LOCAL-2 still waits" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--framework", "crewai"], "--framework: 'crewai' is not autogen or maf"),
        (["--framework", "maf", "--mcp"], "--mcp shows an MCP server's tools in AutoGen"),
        (["--framework", "maf", "--model", "openai:gpt-4o"], "--framework maf scripts its model offline"),
    ],
)
def test_demo_refuses_a_framework_it_cannot_play(args, message, workdir, capsys):
    code, out, err = run(capsys, "demo", *args, "--approve")
    assert code == 2 and message in err
    assert "No requests." in demo_stored(capsys)
