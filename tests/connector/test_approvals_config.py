"""The quorum and approve-with-edits keys of a route in the config: every mistake is one line
naming the file, the line and the key (groups that outnumber the quorum, a quorum on a route
nobody decides, a system that cannot collect votes, a column name ServiceNow cannot have), and
``check-config`` fails on them offline."""

from __future__ import annotations

import pytest

from tests.connector.test_config_values import JIRA, SERVICENOW, STORE, error_of

DESK = "tools:\n  send_email: {import: 'connector.demo.tools:send_email'}\nroutes:\n"
ROUTE = "  - name: r\n    tools: [send_email]\n    system: desk\n    approvers: [alice, bob]\n"
TOOLS = "tools:\n  apply_change: {import: 'connector.demo.tools:apply_change'}\n"

CASES = [
    (
        DESK + ROUTE + "    quorum: 2\n",
        "c.yaml:9: routes[0].quorum: system 'desk': system type 'local' cannot collect several "
        "approvers' votes",
    ),
    (
        DESK + ROUTE + "    quorum: 1\n    from_groups: [ops, security]\n",
        "routes[0].quorum: quorum 1 is fewer than the 2 groups in from_groups: each group needs its "
        "own approver",
    ),
    (
        DESK + ROUTE + "    from_groups: [ops, Ops]\n",
        "c.yaml:9: routes[0].from_groups: name each group once (no empty names)",
    ),
    (
        DESK + "  - {name: a, tools: [send_email], system: desk, mode: auto, quorum: 2}\n",
        "routes[0].quorum: only routes where people decide (gate, shadow) use quorum",
    ),
    (
        DESK + ROUTE + "    quorum: 0\n",
        "routes[0].quorum: Input should be greater than or equal to 1",
    ),
    (
        TOOLS + SERVICENOW + "    quorum: 2\n",
        "routes[0].quorum: system 'sn': set decision.source: approvers (votes are the record's "
        "sysapproval_approver rows)",
    ),
    (
        TOOLS + SERVICENOW + "    decision: {arguments_field: U-Args}\n",
        "'U-Args' is not a ServiceNow column name",
    ),
    (
        TOOLS + SERVICENOW + "    decision: {arguments_field: correlation_id}\n",
        "routes[0]: decision.arguments_field: 'correlation_id' already carries the connector's own value",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_a_quorum_or_edit_mistake_is_one_line_with_its_key(text, expected, tmp_path):
    message = error_of(text, tmp_path)
    assert expected in message
    assert "\n" not in message.strip()


def test_a_jira_quorum_route_loads_and_its_votes_are_described(tmp_path):
    from connector.app.runtime import Connector

    route = (
        "tools:\n  send_email: {import: 'connector.demo.tools:send_email'}\nroutes:\n"
        "  - name: j\n    tools: [send_email]\n    system: jira\n    approvers: [alice, carol]\n"
        "    quorum: 2\n    ticket: {project: OPS}\n    decision: {arguments_field: customfield_10100}\n"
    )
    path = tmp_path / "c.yaml"
    path.write_text(STORE + JIRA + route)
    conn = Connector.from_config(path, env={"JIRA_EMAIL": "a@b.c", "JIRA_API_TOKEN": "t"})
    try:
        rows = {r.item: r for r in conn.adapters["jira"].check(live=False)}
        assert rows["route j: decision.arguments_field"].ok
        assert "'/approve'" in rows["route j: votes"].detail
    finally:
        conn.close()


def test_check_config_fails_offline_on_a_quorum_mistake(workdir):
    from tests.connector.test_cli import cli

    (workdir / "q.yaml").write_text(STORE + DESK + ROUTE + "    quorum: 1\n    from_groups: [a, b]\n")
    done = cli("-c", "q.yaml", "check-config", cwd=workdir)
    assert done.returncode != 0
    assert "routes[0].quorum: quorum 1 is fewer than the 2 groups" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
