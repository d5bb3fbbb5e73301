"""The schema of 0.1.0 (frozen: later revisions change it, this file never does).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("system", sa.String(200), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("tool_name", sa.String(200), nullable=False),
        sa.Column("arguments", sa.Text, nullable=False),
        sa.Column("arguments_digest", sa.String(64), nullable=False),
        sa.Column("approved_arguments", sa.Text),
        sa.Column("approved_digest", sa.String(64)),
        sa.Column("agent", sa.String(200), nullable=False),
        sa.Column("conversation_id", sa.String(200), nullable=False),
        sa.Column("requester", sa.String(200), nullable=False),
        sa.Column("rationale", sa.Text, nullable=False),
        sa.Column("call_id", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("deadline", _tz()),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("updated_at", _tz(), nullable=False),
        sa.Column("ticket_system", sa.String(200)),
        sa.Column("ticket_key", sa.String(200)),
        sa.Column("ticket_id", sa.String(200)),
        sa.Column("ticket_url", sa.Text),
        sa.Column("approver", sa.String(200)),
        sa.Column("approver_name", sa.String(300)),
        sa.Column("decision_reason", sa.Text),
        sa.Column("decided_at", _tz()),
        sa.Column("result", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("idempotent", sa.Boolean, nullable=False),
        sa.Column("claimed_by", sa.String(200)),
        sa.Column("lease_until", _tz()),
        sa.Column("refused_signature", sa.Text),
    )
    op.create_index("ix_approval_requests_state", "approval_requests", ["state"])
    op.create_index("ix_approval_requests_ticket_key", "approval_requests", ["ticket_key"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", _tz(), nullable=False),
        sa.Column("delivered_at", _tz()),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", _tz(), nullable=False),
    )
    op.create_index("ix_outbox_request_id", "outbox", ["request_id"])
    op.create_index("ix_outbox_next_attempt_at", "outbox", ["next_attempt_at"])
    op.create_table(
        "poll_cursors",
        sa.Column("system", sa.String(200), primary_key=True),
        sa.Column("cursor", sa.Text),
        sa.Column("last_success_at", _tz()),
        sa.Column("last_error", sa.Text),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("system", sa.String(200), primary_key=True),
        sa.Column("delivery_id", sa.String(300), primary_key=True),
        sa.Column("received_at", _tz(), nullable=False),
        sa.UniqueConstraint("system", "delivery_id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("event", sa.String(60), nullable=False),
        sa.Column("actor", sa.String(300), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_request_id", "audit_log", ["request_id"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at", _tz()),
    )
    op.create_table(
        "local_tickets",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("system", sa.String(200), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False, unique=True),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", _tz()),
        sa.Column("reason", sa.Text),
        sa.Column("edited_arguments", sa.Text),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("updated_at", _tz(), nullable=False),
    )
    op.create_index("ix_local_tickets_status", "local_tickets", ["status"])
    op.create_table(
        "local_comments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_seq", sa.Integer, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("marker", sa.String(200), unique=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
    )
    op.create_index("ix_local_comments_ticket_seq", "local_comments", ["ticket_seq"])
