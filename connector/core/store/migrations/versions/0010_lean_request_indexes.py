"""Fewer, smaller indexes on approval requests, for what every write costs: each index a row is in
is a B-tree page written by its insert and by each change of an indexed column (a state change
moved every (state, ...) index). Dropped: (state, system, created_at) and (state, lease_until),
whose queries the (state, created_at, id) index answers as well; (ticket_system, ticket_key),
folded into the ticket key index as (ticket_key, ticket_system), which also serves a key alone.
Made partial: a key most rows leave NULL (ticket key and id, dedupe key, deadline, next nudge)
indexes only the rows that have one; the poll's waiting indexes hold only waiting (TICKETED) rows;
the audit_dirty index only the heads not sealed yet. Both planners use a partial index for the
queries that state its predicate, or compare its not-NULL column (``=``, ``<``, ``IN``).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0010"
down_revision = "0009"

TABLE = "approval_requests"
DIALECTS = ("sqlite", "postgresql")
DROPPED = {
    "ix_requests_state_system": ["state", "system", "created_at"],
    "ix_requests_state_lease": ["state", "lease_until"],
    "ix_requests_ticket": ["ticket_system", "ticket_key"],
}
WAITING = "state = 'TICKETED'"
DIRTY = {"sqlite": "audit_dirty IS 1", "postgresql": "audit_dirty IS true"}
# name: (columns before, columns after, predicate after (one for both dialects, or per dialect))
PARTIAL: dict[str, tuple[list[str], list[str], str | dict[str, str]]] = {
    "ix_requests_ticket_key": (["ticket_key"], ["ticket_key", "ticket_system"], "ticket_key IS NOT NULL"),
    "ix_requests_ticket_id": (["ticket_id"], ["ticket_id"], "ticket_id IS NOT NULL"),
    "ux_requests_dedupe_key": (["dedupe_key"], ["dedupe_key"], "dedupe_key IS NOT NULL"),
    "ix_requests_state_deadline": (["state", "deadline"], ["state", "deadline"], "deadline IS NOT NULL"),
    "ix_requests_state_nudge": (["state", "nudge_at"], ["state", "nudge_at"], "nudge_at IS NOT NULL"),
    "ix_requests_waiting_route": (
        ["state", "system", "route", "created_at"],
        ["state", "system", "route", "created_at"],
        WAITING,
    ),
    "ix_requests_waiting_recorded": (
        ["state", "system", "updated_at"],
        ["state", "system", "updated_at"],
        WAITING,
    ),
    "ix_approval_requests_audit_dirty": (["audit_dirty"], ["audit_dirty"], DIRTY),
}


def _where(predicate: str | dict[str, str]) -> dict[str, object]:
    by_dialect = predicate if isinstance(predicate, dict) else dict.fromkeys(DIALECTS, predicate)
    return {f"{dialect}_where": text(sql) for dialect, sql in by_dialect.items()}


def upgrade() -> None:
    for name in DROPPED:
        op.drop_index(name, table_name=TABLE)
    for name, (_, columns, predicate) in PARTIAL.items():
        op.drop_index(name, table_name=TABLE)
        op.create_index(name, TABLE, columns, unique=name.startswith("ux_"), **_where(predicate))


def downgrade() -> None:
    for name, (columns, _, _) in PARTIAL.items():
        op.drop_index(name, table_name=TABLE)
        op.create_index(name, TABLE, columns, unique=name.startswith("ux_"))
    for name, columns in DROPPED.items():
        op.create_index(name, TABLE, columns)
