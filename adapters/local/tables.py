"""The local desk's tables, and the statements of the approval path built once: each call only
binds its values (building a statement per call, and its cache key, cost more CPU than running
it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    insert,
    select,
    update,
)

OPEN, APPROVED, REJECTED = "open", "approved", "rejected"
PRE_APPROVED = "pre-approved"  # a standard change's record: nobody decides it
DONE, FAILED, CLOSED = "done", "failed", "closed"

_meta = MetaData()
tickets = Table(
    "local_tickets",
    _meta,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("system", String(200), nullable=False),
    Column("request_id", String(64), nullable=False, unique=True),
    Column("route", String(200), nullable=False),
    Column("summary", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("decided_by", String(200)),
    Column("decided_at", DateTime(timezone=True)),
    Column("reason", Text),
    Column("edited_arguments", Text),
    Column("seal", String(200), nullable=False, default=""),  # written by the connector alone
    Column("assignee", String(200)),  # whom an escalation handed the ticket to
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
comments = Table(
    "local_comments",
    _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_seq", Integer, nullable=False, index=True),
    Column("author", String(200), nullable=False),
    Column("marker", String(200), unique=True),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

_t, _n = tickets.c, comments.c
_INSERT_TICKET = insert(tickets)
_INSERT_COMMENT = insert(comments)
_TICKET_OF_REQUEST = select(tickets).where(_t.request_id == bindparam("b_request_id"))
_TICKET = select(tickets).where(_t.seq == bindparam("b_seq"))
_COMMENTS = select(comments).where(_n.ticket_seq == bindparam("b_seq")).order_by(_n.id)
_NOTED = select(_n.id).where(_n.marker == bindparam("b_marker"))
_SET_STATUS = (
    update(tickets)
    .where(_t.seq == bindparam("b_seq"))
    .values(status=bindparam("b_status"), updated_at=bindparam("b_now"))
)
_DECIDE = (
    update(tickets)
    .where(_t.seq == bindparam("b_seq"), _t.system == bindparam("b_system"), _t.status == OPEN)
    .values(
        status=bindparam("b_status"),
        decided_by=bindparam("b_by"),
        decided_at=bindparam("b_now"),
        reason=bindparam("b_reason"),
        edited_arguments=bindparam("b_edited"),
        updated_at=bindparam("b_now"),
    )
)
_OPEN_AGAIN = (
    update(tickets)
    .where(_t.seq == bindparam("b_seq"), _t.status.in_(bindparam("b_decided", expanding=True)))
    .values(
        status=OPEN,
        updated_at=bindparam("b_now"),
        decided_by=None,
        decided_at=None,
        reason=None,
        edited_arguments=None,
    )
)
_note_inserts: dict[str, Any] = {}


def _insert_note(conn: Connection) -> Any:
    """The connector's comment, once per marker: INSERT .. ON CONFLICT DO NOTHING on SQLite and
    PostgreSQL (one statement, and no race between replicas); None on other databases."""
    name = conn.dialect.name
    if name not in _note_inserts:
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        elif name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:
            _note_inserts[name] = None
            return None
        _note_inserts[name] = dialect_insert(comments).on_conflict_do_nothing()
    return _note_inserts[name]
