"""Quorum and separation of duties: the votes seen on a quorum route's tickets, one row each.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "votes",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("vote_key", sa.String(64), primary_key=True),
        sa.Column("vote_id", sa.Text, nullable=False),
        sa.Column("voter", sa.String(200), nullable=False),
        sa.Column("voter_name", sa.String(300), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("counted", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("voter_groups", sa.Text, nullable=False),
        sa.Column("voted_at", sa.DateTime(timezone=True)),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
    )
