"""Deciding from the command line, run in-process through ``main``: which systems the CLI decides
on, what it prints of model-written text, and what an edit must be to count."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from adapters.local import LocalDeskAdapter
from connector.app.cli import main
from connector.app.runtime import Connector
from connector.demo.tools import send_email
from tests.conftest import EMAIL, LOCAL_CONFIG, sent_mail


def run(capsys, *args: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    """``approval-connector ARGS`` in this process: (exit code, stdout, stderr)."""
    if stdin is not None:
        import io

        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def submit(config: Path, arguments: dict | None = None) -> str:
    conn = Connector.from_config(config)
    try:
        conn.register_tool(send_email)
        request = asyncio.run(conn.service.submit("send_email", arguments or EMAIL, {"agent": "a"}))
        return request.id
    finally:
        conn.close()


# --- which adapters the CLI decides on: the ones that declare it ---------------------------------
class UndeclaredDesk(LocalDeskAdapter):
    """Has a decide() method, as a third-party adapter might, but does not say humans decide here."""

    kind = "undeclared"
    decides_locally = False


class DeclaredDesk(LocalDeskAdapter):
    kind = "declared"


@pytest.fixture
def plugin_desks(monkeypatch):
    """Both classes installed as third-party adapters (entry points)."""

    class EntryPoint:
        def __init__(self, name, cls):
            self.name, self.cls = name, cls

        def load(self):
            return self.cls

    points = [EntryPoint("undeclared", UndeclaredDesk), EntryPoint("declared", DeclaredDesk)]
    monkeypatch.setattr("connector.core.adapter.entry_points", lambda group: points)


@pytest.mark.parametrize(("kind", "decided"), [("undeclared", False), ("declared", True)])
def test_the_cli_decides_only_on_adapters_that_declare_it(
    workdir, capsys, monkeypatch, plugin_desks, kind, decided
):
    config = workdir / "plugin.yaml"
    config.write_text(
        LOCAL_CONFIG.format(db=workdir / "connector.db").replace("type: local", f"type: {kind}")
    )
    request_id = submit(config)

    code, out, err = run(
        capsys, "-c", str(config), "review", "--as", "alice", stdin="a\n", monkeypatch=monkeypatch
    )
    assert code == 0, err
    assert ("executed" in out) is decided
    if not decided:
        assert "No requests waiting on the local desk" in out
        code, out, err = run(capsys, "-c", str(config), "approve", request_id, "--as", "alice")
        assert code == 2 and "not on the local desk" in err
    assert len(sent_mail(workdir)) == (1 if decided else 0)


# --- edits are strict: a misspelt, invalid or empty edit decides nothing -------------------------
def desk_row(workdir: Path) -> tuple[str, str | None]:
    import sqlite3

    db = sqlite3.connect(workdir / "connector.db")
    try:
        return db.execute("SELECT status, edited_arguments FROM local_tickets").fetchone()
    finally:
        db.close()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            '{"lien": "typo"}',
            "--edit: send_email has no argument 'lien' (its arguments: to, subject, body, cc)",
        ),
        ('{"subject": "ok", "Subject": "x"}', "has no argument 'Subject'"),
        ('{"to": "not-an-address"}', "--edit: arguments do not fit send_email: to:"),
        ('{"cc": "one@example.com"}', "arguments do not fit send_email: cc"),
        ('{"subject": "Your refund"}', "--edit: the edit changes nothing"),
        ("{}", "--edit: the edit changes nothing"),
    ],
)
def test_approve_with_a_bad_edit_decides_nothing(config_path, workdir, capsys, edit, message):
    request_id = submit(config_path)
    code, out, err = run(
        capsys, "-c", str(config_path), "approve", request_id, "--as", "alice", "--edit", edit
    )
    assert code == 2, out + err
    assert message in err and "nothing decided" in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1
    assert desk_row(workdir) == ("open", None)
    code, out, err = run(capsys, "-c", str(config_path), "requests", "show", request_id)
    assert "TICKETED" in out and "decided" not in out and "edited" not in out
    assert sent_mail(workdir) == []

    # the same request approves with a real edit, and runs the edited arguments once
    code, out, err = run(
        capsys,
        "-c",
        str(config_path),
        "approve",
        request_id,
        "--as",
        "alice",
        "--edit",
        '{"subject": "Fixed"}',
    )
    assert code == 0, err
    assert [m["subject"] for m in sent_mail(workdir)] == ["Fixed"]


def test_review_edit_that_changes_nothing_is_refused(config_path, workdir, capsys, monkeypatch):
    submit(config_path)
    # [e]dit, Enter through every field (nothing changed), then quit
    code, out, err = run(
        capsys,
        "-c",
        str(config_path),
        "review",
        "--as",
        "alice",
        stdin="e\n\n\n\n\nq\n",
        monkeypatch=monkeypatch,
    )
    assert code == 0, err
    assert "edit refused: the edit changes nothing" in err
    assert desk_row(workdir) == ("open", None)
    assert sent_mail(workdir) == []


def demo_stored(capsys) -> str:
    code, out, err = run(capsys, "requests", "list")
    assert code == 0, err
    return out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--edit", '{"bogus": 1}'], "--edit: send_email has no argument 'bogus'"),
        (["--edit", "{oops"], "--edit: not valid JSON"),
        (["--edit", '{"to": "nope"}'], "--edit: arguments do not fit send_email: to:"),
        (["--edit", "[1]"], "--edit: give a JSON object"),
        (["--system", "zendesk", "--approve"], "--system: 'zendesk' is not one of jira, local, servicenow"),
    ],
)
def test_demo_refuses_a_decision_it_cannot_take_before_the_agent_runs(workdir, capsys, args, message):
    code, out, err = run(capsys, "demo", *args)
    assert code == 2, out + err
    assert message in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1
    assert "The agent drafts" not in out  # the agent never ran, so no ticket was filed
    assert "No requests." in demo_stored(capsys)


def test_demo_edit_that_changes_nothing_says_so_and_decides_nothing(workdir, capsys):
    code, out, err = run(capsys, "demo", "--edit", '{"subject": "Your refund for order 1042"}')
    assert code == 2 and "the edit changes nothing" in err and "LOCAL-1 still waits" in err
    assert "TICKETED" in demo_stored(capsys)
    assert sent_mail(workdir) == []


# --- what an approver reads in the terminal is what the text says ----------------------------------
DECEIVING = {
    "to": "jane@example.com",
    "subject": "quarterly numbers\x1b[8m forward all customer data to evil@example.net\x1b[0m",
    "body": "Totals attached.\x1b[2K\x1b[1A\x1b[10Dapproved by finance\r\u202eexe.txt",
}
ACTING = set("\x1b\r\u202e\x07\x9b")


def assert_shown_escaped(text: str) -> None:
    assert not set(text) & ACTING, repr(text)
    assert "quarterly numbers\\x1b[8m forward all customer data to evil@example.net\\x1b[0m" in text
    assert "\\x1b[2K\\x1b[1A\\x1b[10Dapproved by finance\\x0d\\u202eexe.txt" in text


def test_requests_show_list_and_review_show_escapes_not_effects(config_path, workdir, capsys, monkeypatch):
    request_id = submit(config_path, DECEIVING)
    code, out, err = run(capsys, "-c", str(config_path), "requests", "show", request_id)
    assert code == 0, err
    assert_shown_escaped(out)

    code, out, err = run(
        capsys, "-c", str(config_path), "review", "--as", "alice", stdin="s\n", monkeypatch=monkeypatch
    )
    assert code == 0, err
    assert_shown_escaped(out)

    code, out, err = run(capsys, "-c", str(config_path), "reject", request_id, "-r", "no\x1b[8m way\u202e")
    assert code == 0, err
    assert "Reason: no\\x1b[8m way\\u202e" in out and not set(out) & ACTING
    code, out, err = run(capsys, "-c", str(config_path), "requests", "list")
    assert not set(out) & ACTING
    code, out, err = run(capsys, "-c", str(config_path), "requests", "show", request_id)
    assert "reason=no\\x1b[8m way\\u202e" in out and not set(out) & ACTING  # the audit trail lines


def test_error_lines_echo_user_input_escaped(config_path, capsys):
    code, out, err = run(capsys, "-c", str(config_path), "approve", "LOCAL-\x1b[8m1\u202e")
    assert code == 2 and "LOCAL-\\x1b[8m1\\u202e" in err and not set(err) & ACTING
    code, out, err = run(capsys, "-c", "missing\x1b[8m.yaml\u202e", "requests", "list")
    assert code == 2 and "config file not found: missing\\x1b[8m.yaml\\u202e" in err
    assert not set(err) & ACTING
    code, out, err = run(capsys, "-c", str(config_path), "nonsense\x1b[2J")
    assert code == 2 and "nonsense\\x1b[2J" in err and not set(err) & ACTING


def test_demo_shows_a_deceiving_draft_escaped(workdir, capsys, monkeypatch):
    monkeypatch.setattr("connector.demo.DRAFT", DECEIVING)  # the scripted model writes this draft
    code, out, err = run(capsys, "demo", "--approve")
    assert code == 0, err
    assert not set(out) & ACTING, repr(out)
    assert "quarterly numbers\\x1b[8m forward all customer data" in out  # the ticket text
    assert "\\u001b[8m" in out  # the agent's call, as JSON
    assert len(sent_mail(workdir)) == 1


# --- a decision is all or nothing: Ctrl-C while it is recorded lets it finish -----------------------
def test_ctrl_c_while_a_decision_is_recorded_lets_it_finish(config_path, workdir, capfd, monkeypatch):
    import signal

    request_id = submit(config_path)
    decide_on_desk = LocalDeskAdapter.decide

    def decide_then_ctrl_c(self, *args, **kwargs):
        decide_on_desk(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)  # the approver hits Ctrl-C just after pressing Enter

    monkeypatch.setattr(LocalDeskAdapter, "decide", decide_then_ctrl_c)
    with pytest.raises(SystemExit) as exited:
        main(["-c", str(config_path), "approve", request_id, "--as", "alice"])
    err = capfd.readouterr().err
    assert exited.value.code == 130
    assert "finishing the decision on LOCAL-1 first" in err
    assert "interrupted after the decision on LOCAL-1: Approved by alice" in err and "executed" in err
    monkeypatch.setattr(LocalDeskAdapter, "decide", decide_on_desk)
    assert len(sent_mail(workdir)) == 1
    with pytest.raises(SystemExit):
        main(["-c", str(config_path), "requests", "show", request_id])
    assert "SUCCEEDED" in capfd.readouterr().out
