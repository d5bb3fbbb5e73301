"""The interactive commands in a real terminal (a pty): what Ctrl-C does at a prompt."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, sent_mail
from tests.connector.test_cli import cli, submit_in_own_process

pexpect = pytest.importorskip("pexpect")


def spawn(*args: str, cwd: Path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("APPROVAL_CONNECTOR_CONFIG", None)
    return pexpect.spawn(
        sys.executable,
        ["-m", "connector.cli", *args],
        cwd=str(cwd),
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 200),
    )


def interrupt_then_answer(child, answer: str = "a") -> tuple[str, bool]:
    """Ctrl-C at the decision prompt; if the command is still there, the key a hurried approver
    presses next. Returns the output and whether the command stopped at once."""
    child.expect(r"\[a\]pprove")
    child.sendintr()  # ^C through the terminal: SIGINT to the foreground process group
    try:
        child.expect(pexpect.EOF, timeout=10)
        stopped = True
    except pexpect.TIMEOUT:
        stopped = False
        child.sendline(answer)
        child.expect(pexpect.EOF)
    child.close()
    return child.before, stopped


def stored(workdir: Path, query: str) -> str:
    """One value from the connector's SQLite file, read as a third party would."""
    import sqlite3

    db = sqlite3.connect(workdir / "connector.db")
    try:
        return db.execute(query).fetchone()[0]
    finally:
        db.close()


def test_ctrl_c_at_the_review_prompt_decides_nothing(config_path, workdir):
    submit_in_own_process(config_path, workdir)
    child = spawn("-c", str(config_path), "review", "--as", "alice", cwd=workdir)
    output, stopped = interrupt_then_answer(child)
    assert stopped and child.exitstatus == 130, output
    assert "interrupted: nothing was decided on LOCAL-1" in output
    assert "Traceback" not in output
    assert stored(workdir, "SELECT status FROM local_tickets") == "open"
    assert stored(workdir, "SELECT state FROM approval_requests") == "TICKETED"
    assert cli("-c", str(config_path), "poll", "--once", cwd=workdir).returncode == 0
    assert sent_mail(workdir) == []

    # the request can still be reviewed, and runs once when approved
    again = cli("-c", str(config_path), "review", "--as", "alice", input="a\n", cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert len(sent_mail(workdir)) == 1


def test_ctrl_c_at_the_demo_prompt_decides_nothing(workdir):
    child = spawn("demo", cwd=workdir)
    output, stopped = interrupt_then_answer(child)
    assert stopped and child.exitstatus == 130, output
    assert "interrupted: nothing was decided on LOCAL-1" in output
    assert "Traceback" not in output
    listed = cli("requests", "list", cwd=workdir)  # the demo's store: the built-in defaults
    assert "TICKETED" in listed.stdout, listed.stdout
    assert cli("poll", "--once", cwd=workdir).returncode == 0
    assert sent_mail(workdir) == []


def test_the_interactive_demo_offers_edit_where_the_system_has_it(workdir):
    child = spawn("demo", "--system", "jira", cwd=workdir)  # the demo route has an arguments field
    child.expect(r"\[a\]pprove[^\n]*: ")
    assert child.after.strip() == "[a]pprove, [r]eject, [e]dit and approve:"
    child.sendline("x")  # not on offer: asked again
    child.expect(r"\[a\]pprove, \[r\]eject, \[e\]dit and approve: ")
    child.sendline("a")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "and executed" in child.before and len(sent_mail(workdir)) == 1

    child = spawn("demo", cwd=workdir)
    child.expect(r"\[a\]pprove[^\n]*: ")
    assert child.after.strip() == "[a]pprove, [r]eject, [e]dit and approve:"
    child.sendintr()
    child.expect(pexpect.EOF)
