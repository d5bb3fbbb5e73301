"""A repeated call's key on approval requests (the MCP proxy answers the same call from the same
requester with its first request): a nullable column and a unique index over it.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("approval_requests") as batch:
        batch.add_column(sa.Column("dedupe_key", sa.String(64)))
        batch.create_index("ux_requests_dedupe_key", ["dedupe_key"], unique=True)
