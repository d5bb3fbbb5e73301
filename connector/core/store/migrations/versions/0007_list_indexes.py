"""Indexes for ``requests list`` filtered by state, route or system: each ends in (created_at,
id), so the newest matching rows are read in order at any table size instead of all matches
being sorted (seconds at a million rows without them).

Revision ID: 0007
Revises: 0006 (0005 until 0006 is present)
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

revision = "0007"
# 0006 is being added on another branch at the same time; until it is merged this revision
# follows 0005 directly, and after the merge it follows 0006 (the chain stays linear either way)
down_revision = "0006" if any(Path(__file__).parent.glob("0006_*.py")) else "0005"

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
