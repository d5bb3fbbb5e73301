"""``requests list`` (paged and filtered in SQL, names not account ids), ``poll --once``'s count,
``requests resolve`` on IN_DOUBT requests and ``db upgrade``, each run as its own process."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from datetime import timedelta
from importlib import resources
from pathlib import Path
from string import Template

import pytest

from connector.app.runtime import Connector
from connector.core.models import RequestState, Verdict
from connector.demo.tools import send_email
from tests.conftest import EMAIL, sent_mail
from tests.connector.test_cli import cli, submit_in_own_process


def copies(workdir: Path, count: int, spacing_seconds: int = 1) -> None:
    """``count`` more requests like the stored one, each ``spacing_seconds`` older than the last,
    bulk-inserted in SQL (a store that has run for a long time)."""
    db = sqlite3.connect(workdir / "connector.db")
    try:
        columns = [row[1] for row in db.execute("PRAGMA table_info(approval_requests)")]
        made = {
            "id": "printf('%032x', n)",
            "created_at": (
                f"strftime('%Y-%m-%d %H:%M:%f000', created_at, '-' || (n * {spacing_seconds}) || ' seconds')"
            ),
            "ticket_key": "'OLD-' || n",
            "dedupe_key": "NULL",
            "state": "CASE n % 3 WHEN 0 THEN 'SUCCEEDED' WHEN 1 THEN 'REJECTED' ELSE 'EXPIRED' END",
        }
        picked = ", ".join(made.get(c, c) for c in columns)
        db.execute(
            f"""WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {count})
            INSERT INTO approval_requests ({", ".join(columns)})
            SELECT {picked} FROM seq, (SELECT * FROM approval_requests LIMIT 1)"""
        )
        db.commit()
    finally:
        db.close()


def ids_in(listing: str) -> list[str]:
    return [line.split()[0] for line in listing.splitlines()[1:] if line.strip() and not line.startswith("(")]


def test_list_pages_newest_first_with_filters(config_path, workdir):
    newest = submit_in_own_process(config_path, workdir)
    copies(workdir, 120, spacing_seconds=3600)  # one an hour, going back five days
    base = ("-c", str(config_path), "requests", "list")
    first = cli(*base, "--limit", "10", cwd=workdir)
    assert first.returncode == 0, first.stderr
    page = ids_in(first.stdout)
    assert page[0] == newest[:12] and len(page) == 10
    assert page[1:] == [f"{n:032x}"[:12] for n in range(1, 10)]
    assert "--offset 10" in first.stdout
    second = ids_in(cli(*base, "--limit", "10", "--offset", "10", cwd=workdir).stdout)
    assert second == [f"{n:032x}"[:12] for n in range(10, 20)]

    old = ids_in(cli(*base, "--older-than", "100h", "--limit", "500", cwd=workdir).stdout)
    assert old == [f"{n:032x}"[:12] for n in range(100, 121)]
    recent = ids_in(cli(*base, "--newer-than", "2d", "--state", "ticketed", cwd=workdir).stdout)
    assert recent == [newest[:12]]
    expired = ids_in(cli(*base, "--state", "EXPIRED", "--newer-than", "10h", cwd=workdir).stdout)
    assert expired == [f"{n:032x}"[:12] for n in (2, 5, 8)]
    assert ids_in(cli(*base, "--route", "internal", cwd=workdir).stdout) == []
    assert len(ids_in(cli(*base, "--system", "desk", "--limit", "200", cwd=workdir).stdout)) == 121
    none = cli(*base, "--system", "nowhere", cwd=workdir)
    assert none.returncode == 0 and "No requests." in none.stdout
    bad = cli(*base, "--newer-than", "soon", cwd=workdir)
    assert bad.returncode == 2 and "--newer-than: 'soon' is not a duration" in bad.stderr


PEAK_RSS = (
    "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(done.returncode)"
)


def test_list_reads_only_its_page_of_a_large_store(config_path, workdir):
    """200,000 stored requests: the list's memory is the CLI's own, not the table's (loading
    every row took ~570 MB at 100,000)."""
    submit_in_own_process(config_path, workdir)
    copies(workdir, 200_000)
    import subprocess

    from tests.conftest import REPO

    command = [sys.executable, "-m", "connector.cli", "-c", str(config_path), "requests", "list"]
    for filters in ([], ["--state", "SUCCEEDED", "--older-than", "1h"]):
        done = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, *command, *filters],
            cwd=workdir,
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        peak_mb = int(done.stdout.strip()) / 1024
        assert peak_mb < 150, f"requests list {' '.join(filters)} peaked at {peak_mb:.0f} MB"


# --- names, not account ids ----------------------------------------------------------------------
def test_list_shows_the_jira_approvers_name_not_the_account_id(workdir):
    from adapters.jira.simulator import JiraSimulator
    from adapters.jira.testing import JiraDriver

    sim = JiraSimulator.seeded_demo("http://127.0.0.1")
    template = Template((resources.files("adapters.jira") / "demo.yaml").read_text(encoding="utf-8"))
    with sim.serve() as url:
        config = workdir / "jira.yaml"
        config.write_text(template.substitute(store_url=f"sqlite:///{workdir / 'jira.db'}", url=url))
        env = sim.demo_env()
        conn = Connector.from_config(str(config), env=env)
        try:
            conn.register_tool(send_email)
            request = asyncio.run(conn.service.submit("send_email", EMAIL, {"agent": "a"}))
            JiraDriver(sim).approve(request.ticket, "alice")
            asyncio.run(conn.poll_once())
        finally:
            conn.close()
        listed = cli("-c", str(config), "requests", "list", cwd=workdir, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "SUCCEEDED" in listed.stdout and "Alice Approver" in listed.stdout
    assert sim.users["alice"].account_id not in listed.stdout


# --- poll --once says what it did ----------------------------------------------------------------
def test_poll_once_counts_decisions_runs_reports_and_expiries(config_path, workdir):
    approved = submit_in_own_process(config_path, workdir)
    late = submit_in_own_process(config_path, workdir)
    conn = Connector.from_config(config_path)
    try:  # alice approves on the desk (not through this CLI); the other request's hour is up
        conn.adapters["desk"].decide(conn.store.get(approved).ticket.key, Verdict.APPROVED, "alice")
    finally:
        conn.close()
    db = sqlite3.connect(workdir / "connector.db")
    db.execute("UPDATE approval_requests SET deadline = '2000-01-01 00:00:00.000000' WHERE id = ?", (late,))
    db.commit()
    db.close()
    done = cli("-c", str(config_path), "poll", "--once", cwd=workdir)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("decisions seen: 1, runs: 1 (1 succeeded), reports delivered: "), line
    assert "expired: 1" in line
    assert int(line.split("reports delivered: ")[1].split(",")[0]) >= 2  # the outcome and the expiry
    assert len(sent_mail(workdir)) == 1


# --- requests resolve ----------------------------------------------------------------------------
def in_doubt(config_path: Path, workdir: Path) -> str:
    """A request whose run was cut short: approved, claimed by a worker that then died."""
    request_id = submit_in_own_process(config_path, workdir)
    conn = Connector.from_config(config_path)
    try:
        conn.register_tool(send_email)
        request = conn.store.get(request_id)
        conn.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
        decision = asyncio.run(conn.bridges["desk"].read_decision(request.ticket, request))
        conn.service.execution.start = lambda *args, **kwargs: None  # this process runs nothing
        asyncio.run(conn.service.decisions.apply(request, decision, "poll", wait=False))
        conn.store.claim(request_id, "dead-worker", timedelta(seconds=-1))
        assert asyncio.run(conn.recover()) == 1
        assert conn.store.get(request_id).state is RequestState.IN_DOUBT
    finally:
        conn.close()
    return request_id


def desk_comments(workdir: Path) -> list[str]:
    """The desk tickets' comments, read from its tables as a third party would."""
    db = sqlite3.connect(workdir / "connector.db")
    try:
        return [body for (body,) in db.execute("SELECT body FROM local_comments ORDER BY id")]
    finally:
        db.close()


@pytest.mark.parametrize(
    ("args", "code", "state", "mails", "said"),
    [
        (["--ran", "--result", "sent as <abc@x>"], 0, "SUCCEEDED", 0, "confirmed that send_email did run"),
        (["--did-not-run"], 8, "FAILED", 0, "did not run (confirmed by ops.lead)"),
        (["--did-not-run", "--rerun"], 0, "SUCCEEDED", 1, "Executed send_email"),
        (["--failed", "bounced at the relay"], 4, "FAILED", 0, "bounced at the relay"),
    ],
)
def test_resolve_an_in_doubt_request(config_path, workdir, args, code, state, mails, said):
    request_id = in_doubt(config_path, workdir)
    done = cli(
        "-c", str(config_path), "requests", "resolve", request_id[:8], *args, "--as", "ops.lead", cwd=workdir
    )
    assert done.returncode == code, done.stdout + done.stderr
    assert len(sent_mail(workdir)) == mails
    assert any(said in c for c in desk_comments(workdir)), desk_comments(workdir)
    shown = cli("-c", str(config_path), "requests", "show", request_id, cwd=workdir).stdout
    assert state in shown and "resolved" in shown and "ops.lead" in shown
    again = cli("-c", str(config_path), "requests", "resolve", request_id, "--ran", "--as", "x", cwd=workdir)
    assert again.returncode == 2 and "not IN_DOUBT; nothing to resolve" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as", "ops"], "exactly one of --ran, --did-not-run or --failed REASON"),
        (["--ran", "--did-not-run", "--as", "ops"], "exactly one of"),
        (["--ran", "--rerun", "--as", "ops"], "--rerun goes with --did-not-run"),
        (["--did-not-run", "--result", "x", "--as", "ops"], "--result goes with --ran"),
        (["--failed", " ", "--as", "ops"], "--failed needs a reason"),
        (["--ran"], "Missing option '--as'"),
        (["--ran", "--as", " "], "say who checked"),
    ],
)
def test_resolve_refuses_unclear_findings(config_path, workdir, args, message):
    request_id = in_doubt(config_path, workdir)
    done = cli("-c", str(config_path), "requests", "resolve", request_id, *args, cwd=workdir)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert "IN_DOUBT" in cli("-c", str(config_path), "requests", "show", request_id, cwd=workdir).stdout


# --- db upgrade ----------------------------------------------------------------------------------
def test_db_upgrade_builds_an_empty_store_then_says_it_is_current(config_path, workdir):
    done = cli("-c", str(config_path), "db", "upgrade", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "upgraded from empty to" in done.stdout
    again = cli("db", "upgrade", "--config", str(config_path), cwd=workdir)
    assert again.returncode == 0 and "already at" in again.stdout
    assert cli("-c", str(config_path), "requests", "list", cwd=workdir).stdout.strip() == "No requests."


def test_a_store_migrated_by_a_newer_version_is_refused_in_one_line(config_path, workdir):
    """Running an older version against a database a newer one migrated: one clear line and a
    non-zero exit, never Alembic's traceback, and the database left as it was."""
    assert cli("-c", str(config_path), "db", "upgrade", cwd=workdir).returncode == 0
    db = sqlite3.connect(workdir / "connector.db")
    db.execute("UPDATE alembic_version SET version_num = '9999'")
    db.commit()
    db.close()
    done = cli("-c", str(config_path), "requests", "list", cwd=workdir)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "revision 9999" in lines[0] and "newer version" in lines[0], done.stderr
    db = sqlite3.connect(workdir / "connector.db")
    assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("9999",)]
    db.close()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--older-than", "nan"], "is not a duration"),
        (["--newer-than", "inf"], "is not a duration"),
        (["--newer-than", "99999999999w"], "longer than 100 years"),
        (["--limit", "99999999999999999999"], "--limit"),
        (["--offset", "99999999999999999999"], "--offset"),
    ],
)
def test_out_of_range_list_options_are_refused_without_a_traceback(config_path, workdir, args, said):
    done = cli("-c", str(config_path), "requests", "list", *args, cwd=workdir)
    assert done.returncode == 2 and "Traceback" not in done.stderr and said in done.stderr, done.stderr


def test_a_store_in_a_missing_folder_is_one_line(workdir):
    (workdir / "m.yaml").write_text("store:\n  url: 'sqlite:////nonexistent-acr/x/y.db'\n")
    done = cli("-c", "m.yaml", "requests", "list", cwd=workdir)
    assert done.returncode == 3 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error: store.url (m.yaml:2): database unreachable:"), done.stderr
