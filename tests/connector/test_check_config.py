"""``check-config`` as an operator meets it: a typo in a route's tool or a template's argument is an
error with the file and line; ``--live`` shows what it could not verify as a warning and names an
unreachable host within seconds."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses

from adapters.jira.simulator import JiraSimulator
from connector.app.cli import main
from tests.adapters.jira.test_jira_end_to_end import jira_config
from tests.conftest import REPO
from tests.connector.test_cli import cli

ROUTE = """
store: {{url: 'sqlite:///{db}'}}
tools:
  send_email: {{import: "connector.demo_tools:send_email"}}
routes:
  - name: customer-email
    tools: [{tool}]
    system: desk
    approvers: ["*"]
    ticket:
      summary: "{summary}"
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return int(exited.value.code or 0), captured.out + captured.err


def write(workdir: Path, tool: str = "send_email", summary: str = "Mail to {{ args.to }}") -> Path:
    path = workdir / "c.yaml"
    path.write_text(ROUTE.format(db=workdir / "c.db", tool=tool, summary=summary))
    return path


def test_a_misspelt_tool_in_a_route_is_an_error_with_its_line(workdir, capsys):
    code, output = run(capsys, "-c", str(write(workdir, tool="send_emial")), "check-config")
    assert code == 1
    assert "c.yaml:7: routes[0].tools[0]: unknown tool 'send_emial'" in " ".join(output.split())
    assert "did you mean 'send_email'?" in " ".join(output.split())


def test_a_tool_declared_for_code_registration_is_known(workdir, capsys):
    path = write(workdir, tool="crm_update")
    path.write_text(path.read_text().replace("tools:\n", "tools:\n  crm_update: {}\n", 1))
    path.write_text(path.read_text().replace("{{ args.to }}", "a CRM change"))
    code, output = run(capsys, "-c", str(path), "check-config")
    assert code == 0, output


@pytest.mark.parametrize(
    "summary",
    ["Mail to {{ args.nonexistent }}", "{{ args['nonexistent'] }}", "{{ args.get('nonexistent', '') }}"],
)
def test_a_template_naming_a_missing_argument_is_an_error_with_its_line(workdir, capsys, summary):
    code, output = run(capsys, "-c", str(write(workdir, summary=summary)), "check-config")
    flat = " ".join(output.split())
    assert code == 1
    assert "c.yaml:11: routes[0].ticket.summary: names args.nonexistent" in flat
    assert "send_email does not take (it takes: body, cc, subject, to)" in flat


def test_templates_naming_real_arguments_pass(workdir, capsys):
    summary = "{{ args.to }}: {{ args.subject | upper }} {% if args.cc %}cc {{ args['cc'] }}{% endif %}"
    code, output = run(capsys, "-c", str(write(workdir, summary=summary)), "check-config")
    assert code == 0, output


def test_unknown_system_and_unknown_system_type_name_file_and_line(workdir, capsys):
    path = write(workdir)
    path.write_text(path.read_text().replace("system: desk", "system: jira"))
    code, output = run(capsys, "-c", str(path), "check-config")
    assert code == 2 and "c.yaml:8: routes[0].system: unknown system 'jira'" in output
    path.write_text(path.read_text().replace("routes:", "systems:\n  jira: {type: jiraa}\nroutes:"))
    code, output = run(capsys, "-c", str(path), "check-config")
    assert code == 2 and "c.yaml:6: systems.jira.type: unknown system type 'jiraa'" in output


def test_an_unimportable_tool_says_where_tools_run_and_what_sys_path_holds(workdir, capsys):
    path = workdir / "c.yaml"
    path.write_text(f"store: {{url: 'sqlite:///{workdir}/c.db'}}\ntools:\n  t: {{import: 'myapp.tools:t'}}\n")
    code, output = run(capsys, "-c", str(path), "check-config")
    flat = " ".join(output.split())
    assert code == 1 and "c.yaml:3: tools.t.import: cannot import module 'myapp.tools'" in flat
    assert "PYTHONPATH" in flat and "sys.path starts with" in flat


@pytest.fixture
def jira() -> Iterator[JiraSimulator]:
    simulator = JiraSimulator.seeded_demo("https://acme.atlassian.test")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        simulator.install(rsps)
        yield simulator


def test_live_unverifiable_transitions_are_warnings_not_ok(jira, workdir, capsys, monkeypatch):
    for name, value in jira.demo_env().items():
        monkeypatch.setenv(name, value)
    path = workdir / "jira.yaml"
    path.write_text(jira_config(jira, workdir / "c.db"))  # no issue yet to read transitions from
    code, output = run(capsys, "-c", str(path), "check-config", "--live")
    rows = [line for line in output.splitlines() if "transition '" in line]
    assert rows and code == 0, output
    assert all(line.split()[0] == "warning" for line in rows), rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("example", "placeholder", "env"),
    [
        (
            "jira-customer-email.yaml",
            "https://example.atlassian.net",
            {"JIRA_EMAIL": "bot@example.com", "JIRA_API_TOKEN": "t", "JIRA_WEBHOOK_SECRET": "s"},
        ),
        (
            "servicenow-change-triage.yaml",
            "https://example.service-now.com",
            {"SN_USER": "bot", "SN_PASSWORD": "p", "SN_WEBHOOK_SECRET": "s"},
        ),
    ],
)
def test_live_against_an_unreachable_host_names_it_within_seconds(workdir, example, placeholder, env):
    url = f"https://127.0.0.1:{free_port()}"  # nothing listens there: connection refused
    text = (REPO / "config" / example).read_text().replace(placeholder, url)
    path = workdir / example
    path.write_text(text.replace("sqlite:///approval-connector.db", f"sqlite:///{workdir / 'c.db'}"))
    started = time.monotonic()
    done = cli("-c", str(path), "check-config", "--live", cwd=workdir, env=env)
    assert time.monotonic() - started < 10
    assert done.returncode == 1
    assert f"cannot reach {url}: connection refused" in " ".join(done.stdout.split())
