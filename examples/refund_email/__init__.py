"""The seed tutorial's refund e-mail: an assistant drafts it and calls the gated send_email; a
support lead approves, rejects with a reason (the assistant revises and proposes again) or edits
it; the e-mail is sent once; the assistant is resumed with the outcome."""

from __future__ import annotations

from pathlib import Path

from connector.demo.examples import Example
from connector.demo.tools import MAILBOX_ENV, mailbox


def _sent() -> list[str]:
    return [f"mailbox: {m['message_id']} to {m['to']}: {m['subject']!r}\n{m['body']}" for m in mailbox()] or [
        "mailbox: nothing was sent"
    ]


EXAMPLE = Example(
    name="refund-email",
    title="Refund e-mail",
    factory="examples.refund_email.team:build_team",
    task=(
        "Draft a short customer email to jane.doe@example.com explaining that their refund for order "
        "1042 will be processed within 3 business days, then send it."
    ),
    requester="jane.doe@example.com",
    rationale="Jane asked when her refund for order 1042 arrives.",
    configs={"local": "connector.yaml", "jira": "jira.yaml"},
    approvers={"local": "lead.kim", "jira": "alice"},
    effect=_sent,
    world={MAILBOX_ENV: "mailbox.jsonl"},
    folder=Path(__file__).parent,
)
