"""The timing keys of a route in the config: every mistake is one line naming the file, the line
and the key path (a deadline auto-approval outside a low-risk tier, a standard route without
conditions, an escalation with nowhere to go, a time zone or time of day that does not exist,
timing a system cannot do), and ``check-config`` fails on them offline."""

from __future__ import annotations

import pytest

from tests.connector.test_config_values import JIRA, STORE, error_of

DESK = "tools:\n  send_email: {import: 'connector.demo.tools:send_email'}\nroutes:\n"
ROUTE = "  - name: r\n    tools: [send_email]\n    system: desk\n    approvers: [alice]\n"

CASES = [
    (
        ROUTE + "    on_deadline: approve\n",
        "c.yaml:9: routes[0].on_deadline: approve on deadline is only for gate routes or tiers marked "
        "risk: low (this one is risk: normal, mode: gate)",
    ),
    (
        ROUTE + "    tiers:\n      - {name: t, risk: high, on_deadline: approve}\n",
        "c.yaml:10: routes[0].tiers[0].on_deadline: approve on deadline is only for gate routes or tiers "
        "marked risk: low (this one is risk: high, mode: gate)",
    ),
    (
        "  - {name: s, tools: [send_email], system: desk, mode: standard}\n",
        "c.yaml:5: routes[0].when: a standard (pre-approved) route needs conditions: the calls the "
        "organisation pre-approved; anything outside them goes on to the next route (the normal gate)",
    ),
    (
        ROUTE + "    escalate_after: 1h\n",
        "c.yaml:5: routes[0].escalation: say whom an escalation goes to (e.g. escalation: {assignee: ...})",
    ),
    (
        ROUTE + "    remind_every: 1h\n",
        "c.yaml:9: routes[0].remind_every: set remind_after too (when the first reminder is due)",
    ),
    (
        "  - {name: a, tools: [send_email], system: desk, mode: auto, valid_for: 1h}\n",
        "c.yaml:5: routes[0].valid_for: only routes where a person decides (gate, shadow) use valid_for",
    ),
    (
        ROUTE + "    window: {timezone: Mars/Olympus, open: [{start: '22:00', end: '02:00'}]}\n",
        "c.yaml:9: routes[0].window.timezone: unknown time zone 'Mars/Olympus' (use an IANA name such as "
        "Europe/Berlin or UTC)",
    ),
    (
        ROUTE + "    window: {open: [{days: [someday], start: '22:00', end: '02:00'}]}\n",
        "c.yaml:9: routes[0].window.open[0].days: 'someday' is not a day",
    ),
    (
        ROUTE + "    window: {open: [{start: '25:00', end: '02:00'}]}\n",
        "routes[0].window.open[0].start: '25:00' is not a time of day like 22:00",
    ),
    (
        "  - {name: a, tools: [send_email], system: desk, mode: auto,"
        " window: {open: [{start: '22:00', end: '02:00'}]}}\n",
        "routes[0].window: only gate and standard routes wait for a window (an auto route runs at once)",
    ),
    (ROUTE + "    valid_for: 0\n", "c.yaml:9: routes[0].valid_for: must be between 1s and 365d (got 0)"),
    (  # a high-risk tier without its own on_deadline would inherit the route's approve
        ROUTE + "    risk: low\n    on_deadline: approve\n    tiers:\n      - {name: prod, risk: high}\n",
        "routes[0].tiers[0].on_deadline: set on_deadline for this risk: high tier: the route's 'approve' "
        "is only for low-risk calls, and a tier without its own on_deadline would take it",
    ),
    (  # "Prod", "prod " and a missing argument are all "not prod"
        "  - {name: s, tools: [send_email], system: desk, mode: standard,"
        " when: [{arg: to, op: ne, value: ceo@ourco.example}]}\n",
        "routes[0].when[0].op: op 'ne' cannot pre-approve a call: it also holds for values nobody listed",
    ),
    (
        ROUTE + "    tiers:\n      - {name: t, risk: low, on_deadline: approve, when: [{arg: to, op: not_in,"
        " value: [ceo@ourco.example]}]}\n",
        "routes[0].tiers[0].when[0].op: op 'not_in' cannot pre-approve a call",
    ),
    (
        ROUTE + "    window: {from: ticket}\n",
        "c.yaml:9: routes[0].window: system 'desk': system type 'local' does not support 'window'",
    ),
]


@pytest.mark.parametrize(("route", "expected"), CASES)
def test_a_timing_mistake_is_one_line_with_its_key(route, expected, tmp_path):
    assert expected in error_of(DESK + route, tmp_path)


def test_jira_names_the_setting_a_timing_feature_needs(tmp_path):
    route = (
        "tools:\n  send_email: {import: 'connector.demo.tools:send_email'}\nroutes:\n"
        "  - name: j\n    tools: [send_email]\n    system: jira\n    approvers: [alice]\n"
        "    valid_for: 30m\n    ticket: {project: OPS}\n"
    )
    message = error_of(JIRA + route, tmp_path)
    assert message.endswith(
        "routes[0].valid_for: system 'jira': set outcome.on_reopen: the transition back to the waiting "
        "status (e.g. Reopen)"
    )
    assert message.startswith("c.yaml:14:")


def test_check_config_fails_offline_on_a_timing_mistake(workdir):
    from tests.connector.test_cli import cli

    (workdir / "t.yaml").write_text(STORE + DESK + ROUTE + "    valid_for: 1h\n    on_deadline: approve\n")
    done = cli("-c", "t.yaml", "check-config", cwd=workdir)
    assert done.returncode != 0
    assert "routes[0].on_deadline: approve on deadline is only for" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
