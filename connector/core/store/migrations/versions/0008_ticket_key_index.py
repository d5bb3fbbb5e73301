"""An index on the ticket key alone: ``requests show KEY`` (and an id prefix, which is tried as a
ticket key first) looked keys up through the (ticket_system, ticket_key) index, which cannot serve
a key without its system, so every look-up scanned the table (~0.5 s at a million rows).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_index("ix_requests_ticket_key", "approval_requests", ["ticket_key"])


def downgrade() -> None:
    op.drop_index("ix_requests_ticket_key", table_name="approval_requests")
