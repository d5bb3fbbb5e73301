"""Indexes for ``requests list`` filtered by state, route or system: each ends in (created_at,
id), so the newest matching rows are read in order at any table size instead of all matches
being sorted (seconds at a million rows without them).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"

INDEXES = {
    "ix_requests_state_created": ["state", "created_at", "id"],
    "ix_requests_route_created": ["route", "created_at", "id"],
    "ix_requests_system_created": ["system", "created_at", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "approval_requests", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="approval_requests")
