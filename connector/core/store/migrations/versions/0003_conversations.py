"""Conversations that wait on approvals: the framework's saved state and the claim of the run in
progress, the requests each conversation proposed, every run's messages, approvers' questions.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("resumer", sa.String(100), nullable=False),
        sa.Column("factory", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("context", sa.Text, nullable=False),
        sa.Column("question_prefix", sa.String(50), nullable=False),
        sa.Column("state", sa.Text),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("run_token", sa.Integer, nullable=False),
        sa.Column("run_kind", sa.String(20)),
        sa.Column("run_holder", sa.String(200)),
        sa.Column("run_lease_until", _tz()),
        sa.Column("awaiting", sa.Text, nullable=False),
        sa.Column("result", sa.Text),
        sa.Column("stop_reason", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("updated_at", _tz(), nullable=False),
    )
    op.create_index("ix_conversations_status", "conversations", ["status"])
    op.create_table(
        "conversation_requests",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("conversation_id", sa.String(200), nullable=False),
        sa.Column("run_token", sa.Integer, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("revision_of", sa.String(64)),
        sa.Column("created_at", _tz(), nullable=False),
    )
    op.create_index("ix_conversation_requests_conversation_id", "conversation_requests", ["conversation_id"])
    op.create_index("ix_conversation_requests_status", "conversation_requests", ["status"])
    op.create_table(
        "conversation_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(200), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(80), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
    )
    op.create_index("ix_conversation_messages_conversation_id", "conversation_messages", ["conversation_id"])
    op.create_table(
        "conversation_questions",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("question_id", sa.String(100), primary_key=True),
        sa.Column("conversation_id", sa.String(200), nullable=False),
        sa.Column("asked_by", sa.String(200), nullable=False),
        sa.Column("asked_by_name", sa.String(300)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("answer", sa.Text),
        sa.Column("created_at", _tz(), nullable=False),
    )
    op.create_index(
        "ix_conversation_questions_conversation_id", "conversation_questions", ["conversation_id"]
    )
