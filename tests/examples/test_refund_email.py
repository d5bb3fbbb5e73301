"""examples/refund_email: the seed tutorial, resumable. Two processes: the assistant drafts and
waits; a support lead rejects with a reason in another process, where the assistant is resumed,
revises and proposes again (a new ticket that says what it revises); the revision is approved in
a third; the e-mail is sent once. Also on Jira, with approve-with-edits, a question, and the
``--model`` switch."""

from __future__ import annotations

import re

import pytest

from connector.core.errors import UserError
from connector.demo.examples import main, run_example
from tests.conftest import sent_mail
from tests.examples.conftest import config_for, example, ok


def test_reject_revise_approve_across_processes(world):
    config = config_for("refund_email", "connector.yaml", world)
    started = ok(example("refund_email", "start", "--config", str(config), cwd=world))
    assert "[support_agent] calls send_email(" in started
    assert "ticket LOCAL-1" in started and "Waiting for approval: LOCAL-1 (send_email)" in started
    conversation = re.search(r"conversation (refund-email-\w+): waiting", started).group(1)

    rejected = ok(
        example(
            "refund_email",
            "reject",
            "LOCAL-1",
            "--reason",
            "Too curt: greet Jane and thank her.",
            "--as",
            "lead.kim",
            "--config",
            str(config),
            cwd=world,
        )
    )
    assert "Rejected by lead.kim" in rejected
    shown = ok(
        example("refund_email", "conversations", "show", conversation, "--config", str(config), cwd=world)
    )
    assert "[waiting]" in shown and "LOCAL-2" in shown and "revision of LOCAL-1" in shown
    assert (
        "REJECTED: lead.kim rejected send_email in LOCAL-1. Reason: Too curt: greet Jane and thank her."
        in shown
    )
    assert sent_mail(world) == []

    approved = ok(
        example("refund_email", "approve", "LOCAL-2", "--as", "lead.ravi", "--config", str(config), cwd=world)
    )
    assert "Approved by lead.ravi" in approved
    [mail] = sent_mail(world)
    assert mail["subject"] == "Your refund for order 1042 is on its way" and mail["body"].startswith(
        "Hi Jane"
    )
    shown = ok(
        example("refund_email", "conversations", "show", conversation, "--config", str(config), cwd=world)
    )
    assert "[done]" in shown and "closing the case" in shown


def test_on_jira_and_with_edits_and_questions(world):
    on_jira = run_example("refund-email", "jira", ("approve", ""), folder=world / "jira")
    assert on_jira.status == "done" and on_jira.tickets == ["OPS-1"]
    assert any(
        m["text"].startswith("APPROVED: Alice Approver approved send_email in OPS-1")
        for m in on_jira.messages
    )

    edited = run_example(
        "refund-email", "local", ("edit", '{"subject": "About your refund"}'), folder=world / "edit"
    )
    assert edited.status == "done" and "'About your refund'" in edited.effect[0]
    heard = [m["text"] for m in edited.messages if m["source"] == "approval_gatekeeper"][0]
    assert "The approver edited the arguments before approving" in heard

    asked = run_example("refund-email", "local", ("ask", "Why three days?"), folder=world / "ask")
    assert asked.answer.startswith("Card refunds settle within 3 business days")


def test_a_real_model_needs_its_key_and_says_so(world, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UserError, match="OPENAI_API_KEY"):
        run_example("refund-email", "local", model="openai:gpt-4o-mini", folder=world)
    with pytest.raises(SystemExit) as exit_:
        main("refund-email", ["run", "--model", "openai:gpt-4o-mini"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().startswith("error: --model openai:... needs OPENAI_API_KEY")
