"""Durable state in one SQL database (SQLite by default, PostgreSQL for several replicas).

Every state change is a conditional UPDATE (``WHERE state IN (...)``) so concurrent pollers,
webhook handlers and replicas race safely: exactly one wins, the others see rowcount 0. The
audit row for a change is written in the same transaction as the change itself."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, OperationalError

from connector.core.audit import AuditLog, audit_metadata
from connector.core.errors import ConfigError, NotFoundInStore, UserError
from connector.core.models import ApprovalRequest, RequestState, TicketRef, utcnow

metadata = MetaData()

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
    Column("state", String(20), nullable=False, index=True),
    Column("deadline", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("ticket_system", String(200)),
    Column("ticket_key", String(200), index=True),
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
)

outbox_table = Table(
    "outbox",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("request_id", String(64), nullable=False, index=True),
    Column("kind", String(30), nullable=False),
    Column("payload", Text, nullable=False, default="{}"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, index=True),
    Column("delivered_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

cursors_table = Table(
    "poll_cursors",
    metadata,
    Column("system", String(200), primary_key=True),
    Column("cursor", Text),
    Column("last_success_at", DateTime(timezone=True)),
    Column("last_error", Text),
)

deliveries_table = Table(
    "webhook_deliveries",
    metadata,
    Column("system", String(200), primary_key=True),
    Column("delivery_id", String(300), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("system", "delivery_id"),
)


def insert_if_absent(conn: Connection, table: Table, **values: Any) -> bool:
    """INSERT that does nothing when the primary key exists (no check-then-insert race between
    replicas); True when the row was added."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    key = next(iter(table.primary_key.columns))
    statement = dialect_insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return conn.execute(statement).first() is not None  # rowcount is -1 here on psycopg 3


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything in the store is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _on_sqlite_connect)
        else:
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(f"store.url: cannot use {url.split('@')[-1]!r}: {exc}") from None
    return engine


class Store:
    """Owns the connector's tables. Only ApprovalService calls the state-changing methods."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.audit = AuditLog()

    @classmethod
    def from_url(cls, url: str) -> Store:
        store = cls(make_engine(url))
        store.create_schema()
        return store

    def create_schema(self) -> None:
        try:
            metadata.create_all(self.engine)
            audit_metadata.create_all(self.engine)
            with self.engine.begin() as conn:
                self.audit.ensure_head(conn)
        except OperationalError as exc:
            raise ConfigError(f"store.url: database unreachable: {exc.orig}") from None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except Exception:  # noqa: BLE001 - health check reports, never raises
            return False

    # --- requests -------------------------------------------------------------------------------
    def insert_request(self, conn: Connection, request: ApprovalRequest) -> None:
        conn.execute(insert(requests_table).values(**_to_row(request)))

    def get(self, request_id: str, conn: Connection | None = None) -> ApprovalRequest:
        query = select(requests_table).where(requests_table.c.id == request_id)
        row = (conn.execute(query) if conn else self._read(query)).mappings().first()
        if row is None:
            raise NotFoundInStore(f"no request with id {request_id!r}")
        return _from_row(row)

    def _read(self, query: Any) -> Any:
        with self.engine.connect() as conn:
            return _Buffered(conn.execute(query).all())

    def resolve(self, ident: str) -> ApprovalRequest:
        """Find a request by full id, unique id prefix (6+ chars) or ticket key."""
        ident = ident.strip()
        if not ident:
            raise UserError("empty request id")
        c = requests_table.c
        rows = self._read(select(requests_table).where(c.id == ident)).mappings().all()
        if not rows:
            rows = self._read(select(requests_table).where(c.ticket_key == ident)).mappings().all()
        if not rows and len(ident) >= 6:
            pattern = ident.replace("%", "").replace("_", "") + "%"
            rows = self._read(select(requests_table).where(c.id.like(pattern)).limit(2)).mappings().all()
        if not rows:
            raise NotFoundInStore(f"no request or ticket matches {ident!r}")
        if len(rows) > 1:
            raise UserError(f"{ident!r} matches several requests; give more characters of the id")
        return _from_row(rows[0])

    def find_by_ticket(self, system: str, key: str) -> ApprovalRequest | None:
        c = requests_table.c
        query = select(requests_table).where(c.ticket_system == system, c.ticket_key == key)
        row = self._read(query).mappings().first()
        return _from_row(row) if row else None

    def waiting_on_tickets(self, system: str, keys: Sequence[str]) -> dict[str, str]:
        """Ticket key → request id, for the given tickets whose request still waits for a decision
        or a run (one query for a whole batch of webhook hints)."""
        c = requests_table.c
        waiting = [RequestState.TICKETED.value, RequestState.APPROVED.value]
        query = select(c.ticket_key, c.id).where(
            c.ticket_system == system, c.ticket_key.in_(list(keys)), c.state.in_(waiting)
        )
        return {row[0]: row[1] for row in self._read(query).all()}

    def list(
        self,
        states: Iterable[RequestState] | None = None,
        system: str | None = None,
        limit: int | None = None,
    ) -> list[ApprovalRequest]:
        c = requests_table.c
        query = select(requests_table).order_by(c.created_at, c.id)
        if states is not None:
            query = query.where(c.state.in_([s.value for s in states]))
        if system is not None:
            query = query.where(c.system == system)
        if limit:
            query = query.limit(limit)
        return [_from_row(r) for r in self._read(query).mappings().all()]

    def count_by(self, *columns: str) -> list[tuple[Any, ...]]:
        cols = [requests_table.c[name] for name in columns]
        query = select(*cols, func.count()).group_by(*cols)
        return [tuple(row) for row in self._read(query).all()]

    def transition(
        self,
        conn: Connection,
        request_id: str,
        from_states: Sequence[RequestState],
        to_state: RequestState,
        *,
        only_if: Sequence[Any] = (),
        **values: Any,
    ) -> bool:
        """Atomically move a request; False if it was not in ``from_states`` or an ``only_if``
        condition (e.g. still claimed by this worker) no longer holds: the caller lost a race."""
        c = requests_table.c
        values = {
            k: (json.dumps(v) if k in ("approved_arguments",) and v is not None else v)
            for k, v in values.items()
        }
        result = conn.execute(
            update(requests_table)
            .where(c.id == request_id, c.state.in_([s.value for s in from_states]), *only_if)
            .values(state=to_state.value, updated_at=utcnow(), **values)
        )
        return result.rowcount == 1

    def mark_refused(self, conn: Connection, request_id: str, signature: str) -> bool:
        """Remember a refused decision; False if this exact decision was already refused (by this
        or another replica), so it is commented and audited once."""
        c = requests_table.c
        result = conn.execute(
            update(requests_table)
            .where(c.id == request_id, or_(c.refused_signature.is_(None), c.refused_signature != signature))
            .values(refused_signature=signature)
        )
        return result.rowcount == 1

    def set_fields(self, conn: Connection, request_id: str, **values: Any) -> None:
        conn.execute(
            update(requests_table)
            .where(requests_table.c.id == request_id)
            .values(updated_at=utcnow(), **values)
        )

    def set_ticket(self, conn: Connection, request_id: str, ticket: TicketRef) -> bool:
        """Record the ticket and move SUBMITTED → TICKETED. A request that expired or was decided
        meanwhile keeps its state but still learns its ticket (so outcomes can be reported)."""
        fields = {
            "ticket_system": ticket.system,
            "ticket_key": ticket.key,
            "ticket_id": ticket.id,
            "ticket_url": ticket.url,
        }
        moved = self.transition(conn, request_id, [RequestState.SUBMITTED], RequestState.TICKETED, **fields)
        if not moved:
            self.set_fields(conn, request_id, **fields)
        return moved

    def claim(self, request_id: str, worker: str, lease: timedelta) -> bool:
        """APPROVED → EXECUTING for exactly one worker."""
        with self.transaction() as conn:
            won = self.transition(
                conn,
                request_id,
                [RequestState.APPROVED],
                RequestState.EXECUTING,
                claimed_by=worker,
                lease_until=utcnow() + lease,
            )
            if won:
                self.audit.append(
                    conn, request_id, "claimed", worker, {"lease_seconds": lease.total_seconds()}
                )
            return won

    def extend_lease(self, request_id: str, worker: str, lease: timedelta) -> bool:
        c = requests_table.c
        with self.transaction() as conn:
            result = conn.execute(
                update(requests_table)
                .where(c.id == request_id, c.state == RequestState.EXECUTING.value, c.claimed_by == worker)
                .values(lease_until=utcnow() + lease)
            )
            return result.rowcount == 1

    def due_for_expiry(self, now: datetime) -> list[ApprovalRequest]:
        c = requests_table.c
        waiting = [RequestState.SUBMITTED.value, RequestState.TICKETED.value]
        query = select(requests_table).where(c.state.in_(waiting), c.deadline.is_not(None), c.deadline < now)
        return [_from_row(r) for r in self._read(query).mappings().all()]

    def stale_claims(self, now: datetime) -> list[ApprovalRequest]:
        c = requests_table.c
        query = select(requests_table).where(
            c.state == RequestState.EXECUTING.value, or_(c.lease_until.is_(None), c.lease_until < now)
        )
        return [_from_row(r) for r in self._read(query).mappings().all()]

    # --- outbox ---------------------------------------------------------------------------------
    def enqueue(
        self, conn: Connection, item_id: str, request_id: str, kind: str, payload: dict[str, Any]
    ) -> None:
        """Add outbox work once; a second enqueue of the same id is a no-op."""
        now = utcnow()
        insert_if_absent(
            conn,
            outbox_table,
            id=item_id,
            request_id=request_id,
            kind=kind,
            payload=json.dumps(payload),
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )

    def due_outbox(self, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        c = outbox_table.c
        query = (
            select(outbox_table)
            .where(c.delivered_at.is_(None), c.next_attempt_at <= now)
            .order_by(c.created_at)
            .limit(limit)
        )
        return [dict(r) for r in self._read(query).mappings().all()]

    def lease_outbox(self, item: dict[str, Any], lease: timedelta) -> bool:
        """Take an outbox item for one delivery attempt; False if another worker has it."""
        c = outbox_table.c
        with self.transaction() as conn:
            result = conn.execute(
                update(outbox_table)
                .where(
                    c.id == item["id"],
                    c.delivered_at.is_(None),
                    c.next_attempt_at == item["next_attempt_at"],
                )
                .values(next_attempt_at=utcnow() + lease, attempts=c.attempts + 1)
            )
            return result.rowcount == 1  # attempts counted now: a delivery cut short by a crash
            # is retried with attempt > 0, so adapters look for their marker before posting again

    def outbox_delivered(self, conn: Connection, item_id: str) -> None:
        conn.execute(
            update(outbox_table)
            .where(outbox_table.c.id == item_id)
            .values(delivered_at=utcnow(), last_error=None)
        )

    def outbox_failed(self, item_id: str, attempts: int, retry_at: datetime, error: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                update(outbox_table)
                .where(outbox_table.c.id == item_id)
                .values(attempts=attempts, next_attempt_at=retry_at, last_error=error[:2000])
            )

    def outbox_for(self, request_id: str) -> list[dict[str, Any]]:
        c = outbox_table.c
        query = select(outbox_table).where(c.request_id == request_id).order_by(c.created_at)
        return [dict(r) for r in self._read(query).mappings().all()]

    def outbox_backlog(self) -> int:
        query = select(func.count()).select_from(outbox_table).where(outbox_table.c.delivered_at.is_(None))
        return int(self._read(query).scalar() or 0)

    # --- poll cursors and webhook de-duplication ----------------------------------------------------
    def cursor(self, system: str) -> tuple[str | None, datetime | None]:
        c = cursors_table.c
        row = self._read(select(c.cursor, c.last_success_at).where(c.system == system)).first()
        return (row[0], aware(row[1])) if row else (None, None)

    def save_cursor(self, system: str, cursor: str | None, error: str | None = None) -> None:
        c = cursors_table.c
        with self.transaction() as conn:
            values: dict[str, Any] = {"last_error": error}
            if error is None:
                values.update(cursor=cursor, last_success_at=utcnow())
            if not insert_if_absent(conn, cursors_table, system=system, **values):
                conn.execute(update(cursors_table).where(c.system == system).values(**values))

    def first_delivery(self, system: str, delivery_id: str) -> bool:
        """Record one webhook delivery id; False when it was seen before (a redelivery)."""
        return self.record_deliveries([(system, delivery_id)])[0]

    def record_deliveries(self, deliveries: Sequence[tuple[str, str]]) -> list[bool]:
        """Record many webhook delivery ids in one transaction (group commit); for each, True when
        it is new, False for a redelivery (also within the batch). This is the webhook hot path, so
        it runs one plain statement per id at the driver level (no ORM-level compilation)."""
        if self.engine.dialect.name == "postgresql":
            sql = (
                "INSERT INTO webhook_deliveries (system, delivery_id, received_at) "
                "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
            )
            stamp: Any = utcnow()
        else:
            sql = (
                "INSERT OR IGNORE INTO webhook_deliveries (system, delivery_id, received_at) VALUES (?, ?, ?)"
            )
            stamp = utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLAlchemy stores DateTime in SQLite
        fresh: list[bool] = []
        with self.transaction() as conn:
            cursor = conn.connection.cursor()  # the driver's own cursor, inside this transaction
            try:
                for system, delivery in deliveries:
                    cursor.execute(sql, (system, delivery[:300], stamp))
                    fresh.append(cursor.rowcount == 1)
            finally:
                cursor.close()
        return fresh

    def prune_deliveries(self, older_than: datetime) -> int:
        """Forget webhook delivery ids older than any redelivery the systems would attempt."""
        with self.transaction() as conn:
            result = conn.execute(
                deliveries_table.delete().where(deliveries_table.c.received_at < older_than)
            )
            return int(result.rowcount or 0)


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


def _to_row(request: ApprovalRequest) -> dict[str, Any]:
    data = request.model_dump()
    data["arguments"] = json.dumps(request.arguments, sort_keys=True)
    data["approved_arguments"] = (
        json.dumps(request.approved_arguments, sort_keys=True)
        if request.approved_arguments is not None
        else None
    )
    data["mode"] = request.mode.value
    data["state"] = request.state.value
    ticket = data.pop("ticket")
    data["ticket_system"] = ticket["system"] if ticket else None
    data["ticket_key"] = ticket["key"] if ticket else None
    data["ticket_id"] = ticket["id"] if ticket else None
    data["ticket_url"] = ticket["url"] if ticket else None
    return data


def _from_row(row: Any) -> ApprovalRequest:
    data = dict(row)
    data.pop("refused_signature", None)
    data["arguments"] = json.loads(data["arguments"])
    if data.get("approved_arguments"):
        data["approved_arguments"] = json.loads(data["approved_arguments"])
    key = data.pop("ticket_key")
    system = data.pop("ticket_system")
    ticket_id = data.pop("ticket_id")
    url = data.pop("ticket_url")
    data["ticket"] = TicketRef(system=system, key=key, id=ticket_id or "", url=url or "") if key else None
    for name in ("deadline", "created_at", "updated_at", "decided_at", "lease_until"):
        data[name] = aware(data.get(name))
    return ApprovalRequest.model_validate(data)
