"""What a script sees of the command line: options where a user puts them, and an exit code that
says how a decision ended (the README's table). Every command runs as its own process."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import sent_mail
from tests.connector.test_cli import cli, submit_in_own_process


def db_exec(workdir: Path, sql: str) -> None:
    """Change the connector's SQLite file as someone with database access would."""
    db = sqlite3.connect(workdir / "connector.db")
    try:
        db.execute(sql)
        db.commit()
    finally:
        db.close()


# --- --config before and after the subcommand ----------------------------------------------------
@pytest.mark.parametrize(
    "where",
    [
        ["requests", "list", "--config", "{cfg}"],
        ["requests", "list", "-c", "{cfg}"],
        ["requests", "--config", "{cfg}", "list"],
        ["--config", "{cfg}", "requests", "list"],
        ["check-config", "--config", "{cfg}"],
        ["poll", "--once", "--config", "{cfg}"],
        ["audit", "verify", "--config", "{cfg}"],
        ["requests", "show", "LOCAL-1", "--config", "{cfg}"],
    ],
)
def test_config_works_before_and_after_the_subcommand(config_path, workdir, where):
    submit_in_own_process(config_path, workdir)
    args = [a.format(cfg=config_path) for a in where]
    done = cli(*args, cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "No such option" not in done.stderr


def test_serve_takes_config_after_the_subcommand(workdir):
    """The README's own ``serve --config FILE``: the option is read (here: a missing file)."""
    done = cli("serve", "--config", "missing.yaml", cwd=workdir)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: config file not found: missing.yaml"


def test_the_later_config_wins(config_path, workdir):
    done = cli("-c", "missing.yaml", "requests", "list", "-c", str(config_path), cwd=workdir)
    assert done.returncode == 0, done.stderr


# --- help and version ----------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"], ["requests", "list", "--help"], ["-h"]])
def test_help_shows_no_type_placeholders_on_flags(workdir, args):
    done = cli(*args, cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "<bool>" not in done.stdout and "Usage:" in done.stdout
    assert "--config" in done.stdout


def test_version(workdir):
    from importlib.metadata import version

    done = cli("--version", cwd=workdir)
    assert done.returncode == 0
    assert done.stdout.strip() == f"approval-connector {version('approval-connector')}"


# --- ids ----------------------------------------------------------------------------------------
def test_a_too_short_prefix_is_told_apart_from_no_match(config_path, workdir):
    request_id = submit_in_own_process(config_path, workdir)
    short = cli("-c", str(config_path), "requests", "show", request_id[:3], cwd=workdir)
    assert short.returncode == 2
    assert "prefix too short (at least 6 characters)" in short.stderr
    other = "0" * 8 if not request_id.startswith("0") else "f" * 8
    missing = cli("-c", str(config_path), "requests", "show", other, cwd=workdir)
    assert missing.returncode == 2 and f"no request or ticket matches '{other}'" in missing.stderr
    assert "Traceback" not in short.stderr + missing.stderr


# --- exit codes of a decision --------------------------------------------------------------------
def test_approve_exits_0_only_when_the_call_ran(config_path, workdir):
    request_id = submit_in_own_process(config_path, workdir)
    done = cli("-c", str(config_path), "approve", request_id, "--as", "alice", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "executed" in done.stdout and len(sent_mail(workdir)) == 1


def test_a_refused_approver_prints_the_refusal_and_exits_5(config_path, workdir):
    request_id = submit_in_own_process(config_path, workdir)
    done = cli("-c", str(config_path), "approve", request_id, "--as", "mallory", cwd=workdir)
    assert done.returncode == 5, done.stdout + done.stderr
    assert "mallory is not an allowed approver for route customer-email" in done.stderr
    assert "Approval pending" not in done.stdout + done.stderr
    assert sent_mail(workdir) == []
    listed = cli("-c", str(config_path), "requests", "list", "--state", "TICKETED", cwd=workdir)
    assert request_id[:12] in listed.stdout  # still waits for an allowed approver


def test_a_failed_call_exits_4(config_path, workdir, tmp_path):
    request_id = submit_in_own_process(config_path, workdir)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the mailbox folder should be")
    env = {"APPROVAL_CONNECTOR_DEMO_MAILBOX": str(blocked / "mailbox.jsonl")}
    done = cli("-c", str(config_path), "approve", request_id, "--as", "alice", cwd=workdir, env=env)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "the call failed" in done.stdout


def test_a_tampered_call_exits_6(config_path, workdir):
    request_id = submit_in_own_process(config_path, workdir)
    db_exec(workdir, "UPDATE approval_requests SET arguments = replace(arguments, 'jane@', 'evil@')")
    done = cli("-c", str(config_path), "approve", request_id, "--as", "alice", cwd=workdir)
    assert done.returncode == 6, done.stdout + done.stderr
    assert "no longer matches" in done.stdout and sent_mail(workdir) == []


def test_an_expired_request_exits_7(config_path, workdir):
    request_id = submit_in_own_process(config_path, workdir)
    # its hour has passed (the deadline moved back rather than the test waiting for it)
    db_exec(workdir, "UPDATE approval_requests SET deadline = '2000-01-01 00:00:00.000000'")
    done = cli("-c", str(config_path), "approve", request_id, "--as", "alice", cwd=workdir)
    assert done.returncode == 7, done.stdout + done.stderr
    assert "Expired" in done.stdout and sent_mail(workdir) == []


def test_reject_exits_0_when_recorded_and_approving_it_then_is_bad_input(config_path, workdir):
    request_id = submit_in_own_process(config_path, workdir)
    done = cli("-c", str(config_path), "reject", request_id, "-r", "no", "--as", "mallory", cwd=workdir)
    assert done.returncode == 0 and "Rejected by mallory" in done.stdout
    again = cli("-c", str(config_path), "approve", request_id, "--as", "alice", cwd=workdir)
    assert again.returncode == 2 and "REJECTED" in again.stderr


# --- the demo ------------------------------------------------------------------------------------
@pytest.mark.parametrize("system", ["jira", "servicenow"])
def test_demo_as_an_unknown_user_is_one_line_before_the_agent_runs(workdir, system):
    done = cli("demo", "--system", system, "--approve", "--as", "nobody", cwd=workdir)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "KeyError" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "--as: 'nobody' is not a user of a simulated" in lines[0]
    assert "The agent drafts" not in done.stdout  # the story never started: no ticket was filed


def test_demo_with_a_user_who_may_not_approve_exits_5(workdir):
    done = cli("demo", "--system", "jira", "--approve", "--as", "mallory", cwd=workdir)
    assert done.returncode == 5, done.stdout + done.stderr
    assert "outcome: refused:" in done.stdout and "not an allowed approver" in done.stdout
    assert sent_mail(workdir) == []


def test_demo_reject_exits_0_and_approve_runs(workdir):
    assert cli("demo", "--reject", "tone", cwd=workdir).returncode == 0
    assert cli("demo", "--approve", cwd=workdir).returncode == 0
    assert len(sent_mail(workdir)) == 1


def test_an_unreachable_store_is_a_system_failure(workdir):
    config = workdir / "pg.yaml"
    config.write_text("store: {url: 'postgresql+psycopg://postgres@127.0.0.1:1/test'}\n")
    done = cli("-c", str(config), "requests", "list", cwd=workdir)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "database unreachable" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("system", ["jira", "servicenow"])
def test_a_demo_writes_its_seal_key_in_the_working_directory_not_the_package(workdir, system):
    """The demos run on a config inside the installed package (adapters/<system>/demo.yaml):
    their generated seal key belongs in the working directory, as with the built-in defaults,
    never beside that file (site-packages may be read-only, or shared by every user)."""
    import importlib

    package = Path(importlib.import_module(f"adapters.{system}").__file__).parent
    (package / "approval-connector.key").unlink(missing_ok=True)  # left by an earlier version
    done = cli("demo", "--system", system, "--approve", cwd=workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (package / "approval-connector.key").exists()
    assert (workdir / "approval-connector.key").exists()
