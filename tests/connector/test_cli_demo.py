"""``demo --example``, and approve-with-edits as a person does it: in ``$EDITOR`` (multi-line values
included) or, without one, prompted field by field with every current value shown; and offered
only where the system's adapter says its approvers can edit."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from connector.app.runtime import Connector
from connector.demo.tools import send_email
from tests.conftest import EMAIL, REPO, sent_mail
from tests.connector.test_cli import cli

LETTER = {**EMAIL, "body": "Dear Jane,\n\nyour refund is on its way.\n\nKind regards,\nSupport"}


def submit(config: Path, arguments: dict) -> str:
    conn = Connector.from_config(config)
    try:
        conn.register_tool(send_email)
        return asyncio.run(conn.service.submit("send_email", arguments, {"agent": "a"})).id
    finally:
        conn.close()


# --- demo --example ------------------------------------------------------------------------------
def test_demo_example_list_names_the_shipped_examples(workdir):
    done = cli("demo", "--example", "list", cwd=REPO)
    assert done.returncode == 0, done.stderr
    for name in ("refund-email", "crm-update", "change-triage"):
        assert name in done.stdout
    assert "Refund e-mail" in done.stdout


def test_the_installed_script_finds_the_examples_from_a_checkout(workdir):
    import shutil

    script = shutil.which("approval-connector", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("approval-connector is not installed in this interpreter's environment")
    done = subprocess.run([script, "demo", "--example", "list"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0 and "Refund e-mail" in done.stdout, done.stdout + done.stderr


def test_demo_example_runs_one_example_through(workdir):
    done = cli("demo", "--example", "refund-email", "--approve", cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "What happened" in done.stdout and "mailbox:" in done.stdout
    assert done.stdout.strip().splitlines()[-1].endswith(": done")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--example", "nope", "--approve"], "no example 'nope'"),
        (["--example", "change-triage", "--system", "local", "--approve"], "change-triage runs on"),
        (["--example", "refund-email", "--approve", "--framework", "maf"], "leave out --framework"),
    ],
)
def test_demo_example_refuses_what_it_cannot_do_in_one_line(workdir, args, message):
    done = cli("demo", *args, cwd=REPO)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


# --- editing in $EDITOR --------------------------------------------------------------------------
EDITOR_SCRIPT = """
import json, sys
path = sys.argv[1]
call = json.load(open(path))
assert call["body"].startswith("Dear Jane,\\n"), call  # the whole value, line breaks included
call["subject"] = "Refund update"
call["body"] = call["body"].replace("on its way", "on its way:\\nabout 3 business days")
json.dump(call, open(path, "w"), indent=2)
"""


def editor(workdir: Path, script: str) -> str:
    path = workdir / "editor.py"
    path.write_text(textwrap.dedent(script))
    return f"{sys.executable} {path}"


def test_review_edit_opens_the_editor_on_the_calls_json(config_path, workdir):
    submit(config_path, LETTER)
    done = cli(
        "-c",
        str(config_path),
        "review",
        "--as",
        "alice",
        input="e\n",
        cwd=workdir,
        env={"EDITOR": editor(workdir, EDITOR_SCRIPT)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [mail] = sent_mail(workdir)
    assert mail["subject"] == "Refund update"
    assert (
        mail["body"]
        == "Dear Jane,\n\nyour refund is on its way:\nabout 3 business days.\n\nKind regards,\nSupport"
    )


def test_an_editor_that_saves_bad_json_refuses_the_edit_and_asks_again(config_path, workdir):
    submit(config_path, LETTER)
    broken = "import sys; open(sys.argv[1], 'w').write('{not json')\n"
    done = cli(
        "-c",
        str(config_path),
        "review",
        "--as",
        "alice",
        input="e\nr\nnot like this\n",
        cwd=workdir,
        env={"VISUAL": editor(workdir, broken)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "edit refused: not valid JSON" in done.stderr
    assert "Rejected by alice" in done.stdout and sent_mail(workdir) == []


def test_without_an_editor_the_prompts_show_every_current_value(config_path, workdir):
    submit(config_path, LETTER)
    done = cli("-c", str(config_path), "review", "--as", "alice", input="e\n\nNew subject\n\n\n", cwd=workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    for line in LETTER["body"].splitlines():
        assert f"| {line}".rstrip() in done.stdout  # the multi-line body, shown in full
    assert "$EDITOR" in done.stdout
    [mail] = sent_mail(workdir)
    assert mail["subject"] == "New subject" and mail["body"] == LETTER["body"]


# --- [e]dit only where the adapter takes edits ---------------------------------------------------
def test_edit_is_offered_where_the_adapter_says_approvers_can_edit(workdir, monkeypatch):
    from adapters.jira.adapter import JiraAdapter
    from connector.app.cli.demo import edits_offered
    from connector.demo.environment import find_demo

    with find_demo("local")(None) as env:
        assert edits_offered(env, "customer-email")
    with find_demo("jira")(None) as env:
        assert edits_offered(env)  # the demo's route names an arguments field
        assert not edits_offered(env, "another-route")
        monkeypatch.setattr(JiraAdapter, "accepts_edits", lambda self, route: False)
        assert not edits_offered(env)  # the adapter decides: a route without the field takes none
        monkeypatch.undo()
        env.driver.supports_edits = False
        assert not edits_offered(env)  # and a driver that cannot type them offers none
