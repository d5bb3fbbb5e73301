"""The command line as a user runs it: real processes, one SQLite file shared between them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO, sent_mail


def cli(
    *args: str, cwd: Path, input: str | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO)}
    full_env.pop("APPROVAL_CONNECTOR_CONFIG", None)
    for var in ("EDITOR", "VISUAL"):  # edits are prompted field by field unless a test sets one
        full_env.pop(var, None)
    full_env.update({k: v for k, v in (env or {}).items() if k in ("EDITOR", "VISUAL")})
    return subprocess.run(
        [sys.executable, "-m", "connector.cli", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


SUBMIT = textwrap.dedent(
    """
    import asyncio, sys
    from connector.app.runtime import Connector
    from connector.demo.tools import send_email
    from tests.conftest import agent_calls, EMAIL

    async def main():
        conn = Connector.from_config(sys.argv[1])
        answer = await agent_calls(conn.gate(send_email), "send_email", EMAIL)
        print(conn.store.list()[-1].id)
        conn.close()

    asyncio.run(main())
    """
)


def submit_in_own_process(config_path: Path, workdir: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", SUBMIT, str(config_path)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_decision_in_a_new_process_runs_once_there(config_path, workdir):
    request_id = submit_in_own_process(config_path, workdir)  # that process has exited
    assert sent_mail(workdir) == []
    listed = cli("-c", str(config_path), "requests", "list", cwd=workdir)
    assert request_id[:12] in listed.stdout and "TICKETED" in listed.stdout

    done = cli("-c", str(config_path), "approve", request_id[:10], "--as", "alice", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "executed" in done.stdout
    assert len(sent_mail(workdir)) == 1

    again = cli("-c", str(config_path), "approve", request_id, "--as", "alice", cwd=workdir)
    assert again.returncode == 2 and "SUCCEEDED" in again.stderr
    assert cli("-c", str(config_path), "poll", "--once", cwd=workdir).returncode == 0
    assert len(sent_mail(workdir)) == 1

    shown = cli("-c", str(config_path), "requests", "show", "LOCAL-1", cwd=workdir)
    assert "SUCCEEDED" in shown.stdout and "claimed" in shown.stdout and "decided" in shown.stdout


def test_reject_and_edit_from_the_command_line(config_path, workdir):
    first = submit_in_own_process(config_path, workdir)
    second = submit_in_own_process(config_path, workdir)
    done = cli(
        "-c", str(config_path), "reject", first, "--reason", "wrong customer", "--as", "alice", cwd=workdir
    )
    assert done.returncode == 0 and "wrong customer" in done.stdout
    done = cli(
        "-c",
        str(config_path),
        "approve",
        second,
        "--as",
        "alice",
        "--edit",
        '{"subject": "Refund update"}',
        cwd=workdir,
    )
    assert done.returncode == 0, done.stderr
    assert [m["subject"] for m in sent_mail(workdir)] == ["Refund update"]


def test_review_loop_approves_and_rejects(config_path, workdir):
    submit_in_own_process(config_path, workdir)
    submit_in_own_process(config_path, workdir)
    done = cli("-c", str(config_path), "review", "--as", "alice", input="a\nr\nnot now\n", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "executed" in done.stdout and "Rejected by alice" in done.stdout
    assert "No requests waiting" in done.stdout
    assert len(sent_mail(workdir)) == 1


def test_review_counts_what_still_waits_and_goes_oldest_first(config_path, workdir):
    """Three waiting: skip the oldest, approve the next, reject the last, oldest first; the count
    each time is what is left to review in this session, and a skipped one is not shown again."""
    for _ in range(3):
        submit_in_own_process(config_path, workdir)
    done = cli("-c", str(config_path), "review", "--as", "alice", input="s\na\nr\nno\n", cwd=workdir)
    assert done.returncode == 0, done.stderr
    counts = [line.split()[0] for line in done.stdout.splitlines() if "waiting. Reviewing as alice" in line]
    assert counts == ["3", "2", "1"], done.stdout
    shown = [w for line in done.stdout.splitlines() for w in line.split() if w.startswith("LOCAL-")]
    assert shown.index("LOCAL-1") < shown.index("LOCAL-2") < shown.index("LOCAL-3"), done.stdout
    assert "No requests waiting" in done.stdout and len(sent_mail(workdir)) == 1


def test_review_edit_is_validated(config_path, workdir):
    submit_in_own_process(config_path, workdir)
    # prompts follow the tool's fields: to, subject, body, cc. A bad address is refused, then
    # a valid edit of the subject is approved and run.
    done = cli(
        "-c",
        str(config_path),
        "review",
        "--as",
        "alice",
        input="e\nnot-an-address\n\n\n\ne\n\nNew subject\n\n\n",
        cwd=workdir,
    )
    assert "edit refused" in done.stderr
    assert [m["subject"] for m in sent_mail(workdir)] == ["New subject"]


def test_audit_verify_catches_a_tampered_row(config_path, workdir):
    request_id = submit_in_own_process(config_path, workdir)
    cli("-c", str(config_path), "approve", request_id, "--as", "alice", cwd=workdir)
    assert cli("-c", str(config_path), "audit", "verify", cwd=workdir).returncode == 0

    import sqlite3

    db = sqlite3.connect(workdir / "connector.db")
    db.execute("UPDATE audit_log SET actor = 'mallory' WHERE event = 'decided'")
    db.commit()
    done = cli("-c", str(config_path), "audit", "verify", cwd=workdir)
    assert done.returncode == 1 and "altered" in done.stderr

    db.execute("UPDATE audit_log SET actor = 'alice' WHERE event = 'decided'")
    db.execute("DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)")
    db.commit()
    done = cli("-c", str(config_path), "audit", "verify", cwd=workdir)
    assert done.returncode == 1 and "removed" in done.stderr


def test_audit_export_writes_json_lines(config_path, workdir):
    request_id = submit_in_own_process(config_path, workdir)
    out = workdir / "audit.jsonl"
    done = cli("-c", str(config_path), "audit", "export", "-o", str(out), cwd=workdir)
    assert done.returncode == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["event"] for r in rows] == ["submitted", "ticketed"]
    assert rows[0]["request_id"] == request_id


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-c", "missing.yaml", "requests", "list"], "config file not found: missing.yaml"),
        (["-c", "bad-yaml.yaml", "requests", "list"], "bad-yaml.yaml:3: invalid YAML"),
        (["-c", "bad-key.yaml", "requests", "list"], "bad-key.yaml:3: scheduler.poll_intervall: unknown key"),
        (["-c", "bad-route.yaml", "requests", "list"], "unknown system 'jiraa'"),
        (["approve", "does-not-exist"], "no request or ticket matches 'does-not-exist'"),
        (["reject", "LOCAL-99", "--reason", "x"], "no request or ticket matches 'LOCAL-99'"),
        (["reject", "abc"], "Missing option '--reason'"),
        (["requests", "show", ""], "empty request id"),
        (["requests", "list", "--state", "NOPE"], "--state: unknown state 'NOPE'"),
        (["approve", "x", "--edit", "{oops"], "no request or ticket matches"),
        (["demo"], "no terminal to ask in"),
        (["demo", "--approve", "--reject", "x"], "choose one of"),
        (["demo", "--approve", "--model", "gpt"], "--model: 'gpt' is not"),
        (["demo", "--approve", "--system", "zendesk"], "--system: 'zendesk' is not one of"),
        (["nonsense"], "approval-connector: No such command 'nonsense' (see 'approval-connector --help')"),
        (["requests", "lis"], "error: approval-connector requests: No such command 'lis'"),
        (["requests", "list", "--limit", "abc"], "requests list: Invalid value for '--limit': 'abc'"),
        (["requests", "resolve"], "error: approval-connector requests resolve: Missing argument 'ID'"),
    ],
)
def test_user_errors_print_one_line_and_exit_nonzero(workdir, args, message, capsys, monkeypatch):
    (workdir / "bad-yaml.yaml").write_text("routes:\n  - [\n")
    (workdir / "bad-key.yaml").write_text("scheduler:\n  poll_interval: 5s\n  poll_intervall: 5s\n")
    (workdir / "bad-route.yaml").write_text(
        "routes:\n  - name: r\n    tools: [send_email]\n    system: jiraa\n    approvers: ['*']\n"
    )
    (workdir / "bad-tool.yaml").write_text(
        f"store: {{url: 'sqlite:///{workdir}/x.db'}}\ntools:\n  t: {{import: 'nowhere:thing'}}\n"
    )
    from connector.app.cli import main

    with open(os.devnull) as no_terminal, pytest.raises(SystemExit) as exited:
        monkeypatch.setattr("sys.stdin", no_terminal)  # no terminal, as in CI
        main(list(args))
    captured = capsys.readouterr()
    assert exited.value.code != 0
    assert message in captured.err
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, lines  # one line, click's usage errors too (with where to look)
    assert "Traceback" not in captured.err + captured.out


def test_check_config_reports_an_unimportable_tool(workdir):
    (workdir / "bad-tool.yaml").write_text(
        f"store: {{url: 'sqlite:///{workdir}/x.db'}}\ntools:\n  t: {{import: 'nowhere:thing'}}\n"
    )
    done = cli("-c", "bad-tool.yaml", "check-config", cwd=workdir)
    assert done.returncode == 1
    assert "cannot import module 'nowhere'" in done.stdout and "1 problem(s)" in done.stderr


def test_edit_with_invalid_json_is_a_clear_error(config_path, workdir):
    request_id = submit_in_own_process(config_path, workdir)
    done = cli("-c", str(config_path), "approve", request_id, "--edit", "{oops", cwd=workdir)
    assert done.returncode == 2 and "--edit: not valid JSON" in done.stderr
    done = cli("-c", str(config_path), "approve", request_id, "--edit", '{"to": "nope"}', cwd=workdir)
    assert done.returncode == 2 and "arguments do not fit send_email: to:" in done.stderr
    assert sent_mail(workdir) == []


def test_demo_runs_on_embedded_defaults(workdir):
    done = cli("demo", "--approve", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "executed" in done.stdout and "audit chain intact" in done.stdout
    assert (workdir / "approval-connector.db").exists()
    done = cli("demo", "--reject", "tone is off", cwd=workdir)
    assert done.returncode == 0 and "Reason: tone is off" in done.stdout
    assert len(sent_mail(workdir)) == 1


def test_webhooks_register_prints_each_systems_setup_verbatim(workdir):
    done = cli(
        "-c",
        str(REPO / "config" / "servicenow-change-triage.yaml"),
        "webhooks",
        "register",
        "--public-url",
        "https://connector.example.com",
        cwd=workdir,
        env={"APPROVAL_CONNECTOR_DB_URL": f"sqlite:///{workdir / 'x.db'}"},
    )
    assert done.returncode == 0, done.stderr
    assert "https://connector.example.com/webhooks/" in done.stdout
    from adapters.servicenow import ServiceNowAdapter  # noqa: F401 - the script below is its own text

    assert "new GlideDigest()" in done.stdout or "GlideCertificateEncryption" in done.stdout
    assert "prefixes[i]" in done.stdout  # rich would read [i] as italic markup and eat it


def test_webhooks_register_needs_a_public_url(workdir, config_path):
    done = cli("-c", str(config_path), "webhooks", "register", cwd=workdir)
    assert done.returncode == 2 and "no public URL" in done.stderr


@pytest.mark.parametrize(
    ("system", "where"),
    [("jira", "issue OPS-1 is now Done"), ("servicenow", "record CHG0030001 is now in state 3")],
)
def test_demo_against_simulated_ticketing_systems(workdir, system, where):
    done = cli("demo", "--approve", "--system", system, cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "and executed" in done.stdout and where in done.stdout
    assert len(sent_mail(workdir)) == 1
    done = cli("demo", "--edit", '{"subject": "x"}', "--system", system, cwd=workdir)
    assert done.returncode == 0, done.stderr  # edited in the field / the record's column
    assert "and executed" in done.stdout
    assert [m["subject"] for m in sent_mail(workdir)][-1] == "x"


def test_argument_text_that_looks_like_markup_is_printed_as_is(config_path, workdir):
    """A model can write '[/b]' in an e-mail; showing the request must not crash or eat it."""
    import asyncio

    from connector.app.runtime import Connector

    conn = Connector.from_config(config_path)
    args = {"to": "a@b.example", "subject": "x [/b] y", "body": "see [link] [/] [bold]"}
    asyncio.run(conn.service.submit("send_email", args, {}))
    conn.close()
    done = cli("-c", str(config_path), "requests", "show", "LOCAL-1", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "x [/b] y" in done.stdout and "see [link] [/] [bold]" in done.stdout


@pytest.mark.parametrize("args", [[], ["requests"], ["audit"]])
def test_a_group_named_alone_shows_its_help_not_a_one_line_error(workdir, args):
    """Usage errors are one line, but a group given no subcommand is asking for its help: the
    whole help, one item per line, as click prints it."""
    done = cli(*args, cwd=workdir)
    assert done.returncode == 2
    assert "Usage: approval-connector" in done.stderr and "Commands:" in done.stderr
    assert len(done.stderr.splitlines()) > 5 and not done.stderr.startswith("error:")
