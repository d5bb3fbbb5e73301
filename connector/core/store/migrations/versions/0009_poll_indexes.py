"""Indexes for the poll's look-ups of waiting requests (connector.core.pending): the route
summary reads (state, system, route, created_at) alone; tickets recorded since the last poll
are a range on (state, system, updated_at); a hit is found by its ticket id (ticket_id) alone.
Without them each look-up walked every waiting row (milliseconds at 10,000, growing with them).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"

INDEXES = {
    "ix_requests_waiting_route": ["state", "system", "route", "created_at"],
    "ix_requests_waiting_recorded": ["state", "system", "updated_at"],
    "ix_requests_ticket_id": ["ticket_id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "approval_requests", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="approval_requests")
