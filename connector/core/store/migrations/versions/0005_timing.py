"""Timing of decisions: the change window an approved call runs in, what happens at a request's
deadline, since when it waits for its current decision and when its next reminder or escalation
is due; who a local desk ticket is assigned to (escalation).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("approval_requests") as batch:
        batch.add_column(sa.Column("not_before", _tz()))
        batch.add_column(sa.Column("not_after", _tz()))
        batch.add_column(sa.Column("on_deadline", sa.String(20)))
        batch.add_column(sa.Column("waiting_since", _tz()))
        batch.add_column(sa.Column("nudge_at", _tz()))
    op.create_index("ix_requests_state_nudge", "approval_requests", ["state", "nudge_at"])
    if "local_tickets" in sa.inspect(bind).get_table_names():
        with op.batch_alter_table("local_tickets") as batch:
            batch.add_column(sa.Column("assignee", sa.String(200)))
