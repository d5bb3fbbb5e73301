"""The connector's own tables (requests, outbox, poll cursors, webhook delivery ids) and the
small SQL helpers every query module uses."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.engine import Connection

from connector.core.models import RequestState

metadata = MetaData()

# the state the poll's waiting indexes hold (their queries in waiting.py say it as this literal)
WAITING_STATE = RequestState.TICKETED.value
WAITING = f"state = '{WAITING_STATE}'"
# a head not sealed yet, as each dialect renders audit.py's `audit_dirty IS true`
DIRTY = {"sqlite": "audit_dirty IS 1", "postgresql": "audit_dirty IS true"}


def partial_index(name: str, *columns: str, where: str | dict[str, str], unique: bool = False) -> Index:
    """An index over the rows ``where`` holds (one predicate, or one per dialect): a row outside it
    costs no write there. Both planners use it for a query that states the predicate, or (for
    ``col IS NOT NULL``) compares ``col`` with ``=``, ``<`` or ``IN``; tests/core/
    test_request_indexes.py checks each read's plan, and that revision 0010 builds the same."""
    by_dialect = where if isinstance(where, dict) else dict.fromkeys(("sqlite", "postgresql"), where)
    options = {f"{dialect}_where": text(sql) for dialect, sql in by_dialect.items()}
    return Index(name, *columns, unique=unique, **options)


requests_table = Table(
    "approval_requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("route", String(200), nullable=False),
    Column("system", String(200), nullable=False),
    Column("mode", String(20), nullable=False),
    Column("tool_name", String(200), nullable=False),
    Column("arguments", Text, nullable=False),
    Column("arguments_digest", String(64), nullable=False),
    Column("approved_arguments", Text),
    Column("approved_digest", String(64)),
    Column("agent", String(200), nullable=False, default=""),
    Column("conversation_id", String(200), nullable=False, default=""),
    Column("requester", String(200), nullable=False, default=""),
    Column("rationale", Text, nullable=False, default=""),
    Column("call_id", String(200), nullable=False, default=""),
    Column("state", String(20), nullable=False),
    Column("deadline", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("ticket_system", String(200)),
    Column("ticket_key", String(200)),
    Column("ticket_id", String(200)),
    Column("ticket_url", Text),
    Column("approver", String(200)),
    Column("approver_name", String(300)),
    Column("decision_reason", Text),
    Column("decided_at", DateTime(timezone=True)),
    Column("result", Text),
    Column("error", Text),
    Column("idempotent", Boolean, nullable=False, default=False),
    Column("claimed_by", String(200)),
    Column("lease_until", DateTime(timezone=True)),
    Column("refused_signature", Text),
    Column("seal", String(64), nullable=False, default=""),
    Column("ticket_sealed", Boolean, nullable=False, default=True),
    # head of this request's audit chain (connector.core.store.audit): rows written, last hash,
    # and whether the head moved since the last seal
    Column("audit_rseq", Integer, nullable=False, default=0),
    Column("audit_hash", String(64), nullable=False, default="0" * 64),
    Column("audit_dirty", Boolean, nullable=False, default=False),
    # why this request is being skipped (tool cannot be imported, template fails, ticket unreadable):
    # shown by `requests show` and /metrics; cleared when the request moves on
    Column("problem_kind", String(40)),
    Column("problem", Text),
    # a repeated call's key (models.dedupe_digest); NULL for calls that do not dedupe. Unique: two
    # replicas filing the same call race on this index and one request results. A request that
    # ended longer ago than the caller's window gives its key up when the call comes again.
    Column("dedupe_key", String(64)),
    # timing (connector.core.timing): the change window of an approved call, the deadline's
    # action, since when it waits for the current decision, when its next reminder is due
    Column("not_before", DateTime(timezone=True)),
    Column("not_after", DateTime(timezone=True)),
    Column("on_deadline", String(20)),
    Column("waiting_since", DateTime(timezone=True)),
    Column("nudge_at", DateTime(timezone=True)),
    # the hot queries, each index chosen for what it costs every write (revision 0010): pages of the
    # list (newest matches in index order), approved work, stale claims and counts by state (the
    # state index), metrics by route, ticket look-ups (webhooks, `requests show KEY`), due
    # deadlines and reminders, the poll's waiting rows. A key most rows leave NULL, or a state
    # most rows are never in, is a partial index: rows outside it cost no write there.
    Index("ix_requests_created", "created_at", "id"),
    Index("ix_requests_state_created", "state", "created_at", "id"),
    Index("ix_requests_route_created", "route", "created_at", "id"),
    Index("ix_requests_system_created", "system", "created_at", "id"),
    Index("ix_requests_route_state", "route", "state"),
    # a ticket by its key (`requests show KEY`), or by key and system (webhooks): one index
    partial_index("ix_requests_ticket_key", "ticket_key", "ticket_system", where="ticket_key IS NOT NULL"),
    partial_index("ix_requests_ticket_id", "ticket_id", where="ticket_id IS NOT NULL"),
    partial_index("ux_requests_dedupe_key", "dedupe_key", where="dedupe_key IS NOT NULL", unique=True),
    partial_index("ix_requests_state_deadline", "state", "deadline", where="deadline IS NOT NULL"),
    partial_index("ix_requests_state_nudge", "state", "nudge_at", where="nudge_at IS NOT NULL"),
    # the poll's look-ups of waiting requests (waiting.py names the state as this literal, which
    # the planners need to match it): summary per route, recorded since
    partial_index("ix_requests_waiting_route", "state", "system", "route", "created_at", where=WAITING),
    partial_index("ix_requests_waiting_recorded", "state", "system", "updated_at", where=WAITING),
    # the heads the next seal covers (audit.py asks `audit_dirty IS true`, rendered per dialect)
    partial_index("ix_approval_requests_audit_dirty", "audit_dirty", where=DIRTY),
)

outbox_table = Table(
    "outbox",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("request_id", String(64), nullable=False, index=True),
    Column("kind", String(30), nullable=False),
    Column("payload", Text, nullable=False, default="{}"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # the lease of the delivery in progress: who holds it, and a token that grows with each lease
    # so a holder whose lease ran out cannot overwrite its successor's bookkeeping (fencing)
    Column("leased_by", String(200)),
    Column("lease_token", Integer, nullable=False, default=0),
    # ticket creation: when a create's answer was first lost (the ticket may exist, not yet
    # searchable); shared by every replica, so none creates a second ticket meanwhile
    Column("ambiguous_since", DateTime(timezone=True)),
    Index("ix_outbox_due", "delivered_at", "next_attempt_at"),
)

votes_table = Table(
    "votes",
    metadata,
    # one row per vote seen on a quorum route's ticket (connector.core.approvals): recorded once
    # (the first replica to insert it), counted or not (and why not), listed on the ticket once
    Column("request_id", String(64), primary_key=True),
    Column("vote_key", String(64), primary_key=True),  # sha256 of the adapter's vote id
    Column("vote_id", Text, nullable=False),
    Column("voter", String(200), nullable=False),
    Column("voter_name", String(300), nullable=False, default=""),
    Column("verdict", String(20), nullable=False),
    Column("counted", Boolean, nullable=False),
    Column("reason", Text),
    Column("voter_groups", Text, nullable=False, default="[]"),
    Column("voted_at", DateTime(timezone=True)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("seq", Integer, nullable=False, default=0),  # order of recording within the request
)

cursors_table = Table(
    "poll_cursors",
    metadata,
    Column("system", String(200), primary_key=True),
    Column("cursor", Text),
    Column("last_success_at", DateTime(timezone=True)),
    Column("last_error", Text),
)

meta_table = Table(
    "store_meta",
    metadata,
    # facts about this database itself (e.g. work a migration left for the first start with the key)
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

leases_table = Table(
    "leases",
    metadata,
    # one row per singleton job (e.g. "poll:jira"): who holds it until when; the token grows with
    # every change of holder, so a holder whose lease ran out cannot write as if it still led
    Column("name", String(200), primary_key=True),
    Column("holder", String(200)),
    Column("until", DateTime(timezone=True)),
    Column("token", Integer, nullable=False, default=0),
)

deliveries_table = Table(
    "webhook_deliveries",
    metadata,
    Column("system", String(200), primary_key=True),
    Column("delivery_id", String(300), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
)


_insert_if_absent: dict[tuple[str, Table], Any] = {}


def insert_if_absent(conn: Connection, table: Table, **values: Any) -> bool:
    """INSERT that does nothing when the primary key exists (no check-then-insert race between
    replicas); True when the row was added. The statement is built once per dialect and table
    (the values are bound at execution): building and cache-keying one per call cost more than
    running it."""
    key = (conn.dialect.name, table)
    statement = _insert_if_absent.get(key)
    if statement is None:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        primary = next(iter(table.primary_key.columns))
        statement = dialect_insert(table).on_conflict_do_nothing().returning(primary)
        _insert_if_absent[key] = statement
    from .prepared import run  # prepared.py needs nothing of this module's

    return run(conn, statement, values).first() is not None  # the key returned: it was added


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything in the store is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class _Buffered:
    """A fully-read result, so connections return to the pool at once."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def mappings(self) -> _Buffered:
        return _Buffered([row._mapping for row in self._rows])

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        row = self.first()
        if row is None:
            return None
        return row[0]
