"""Queries on approval requests. ``transition`` is the conditional UPDATE every state change is
made of; only ``connector.core.service.transitions`` calls the methods that change a state."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.engine import Connection

from connector.core.errors import NotFoundInStore, UserError
from connector.core.models import (
    TERMINAL_STATES,
    ApprovalRequest,
    RequestState,
    TicketRef,
    utcnow,
)

from .audit import GENESIS, AuditEvent, chain_rows
from .moves import _INSERT_AUDIT, TransitionQueries
from .prepared import run
from .rows import _INSERT_REQUEST, _from_row, _to_row
from .schema import meta_table, requests_table

_GET_REQUEST = select(requests_table).where(requests_table.c.id == bindparam("b_id"))  # built once

PREFIX_MIN = 6  # characters of a request id that may stand for it (a prefix range scan)


class RequestQueries(TransitionQueries):
    def insert_request(
        self, conn: Connection, request: ApprovalRequest, audit: Sequence[AuditEvent] = ()
    ) -> None:
        """Store a new request with its first audit rows (its chain starts here)."""
        row = _to_row(request)
        rows: list[dict[str, Any]] = []
        if audit:
            rows, head = chain_rows(request.id, 1, GENESIS, audit)
            row.update(audit_rseq=len(rows), audit_hash=head, audit_dirty=True)
            request._audit_head = (len(rows), head)  # what this process wrote (models.py)
            self.heads.note(request.id, len(rows), head)
        run(conn, _INSERT_REQUEST, row)
        if rows:
            run(conn, _INSERT_AUDIT, rows)

    def get(self, request_id: str, conn: Connection | None = None) -> ApprovalRequest:
        params = {"b_id": request_id}
        if conn is not None:
            row = run(conn, _GET_REQUEST, params).first()
        else:
            with self.engine.connect() as reading:
                row = run(reading, _GET_REQUEST, params).first()
        if row is None:
            raise NotFoundInStore(f"no request with id {request_id!r}")
        self.heads.note(request_id, row["audit_rseq"], row["audit_hash"])
        return _from_row(row)

    def resolve(self, ident: str) -> ApprovalRequest:
        """Find a request by full id, unique id prefix (PREFIX_MIN+ chars) or ticket key."""
        ident = ident.strip()
        if not ident:
            raise UserError("empty request id")
        c = requests_table.c
        rows = self._read(select(requests_table).where(c.id == ident)).mappings().all()
        if not rows:
            rows = self._read(select(requests_table).where(c.ticket_key == ident)).mappings().all()
        if not rows and len(ident) >= PREFIX_MIN and ident.isalnum():
            # a prefix as a range on the primary key (LIKE would scan: SQLite's is case-insensitive)
            upper = ident[:-1] + chr(ord(ident[-1]) + 1)
            prefix = select(requests_table).where(c.id >= ident, c.id < upper).order_by(c.id).limit(2)
            rows = self._read(prefix).mappings().all()
        if not rows and len(ident) < PREFIX_MIN and all(ch in "0123456789abcdef" for ch in ident.lower()):
            raise UserError(
                f"{ident!r}: id prefix too short (at least {PREFIX_MIN} characters), or give the ticket key"
            )
        if not rows:
            raise NotFoundInStore(f"no request or ticket matches {ident!r}")
        if len(rows) > 1:
            raise UserError(f"{ident!r} matches several requests; give more characters of the id")
        return _from_row(rows[0])

    def by_dedupe_key(self, key: str, conn: Connection | None = None) -> ApprovalRequest | None:
        """The request that holds a repeated call's key, if any."""
        query = select(requests_table).where(requests_table.c.dedupe_key == key)
        row = (conn.execute(query) if conn else self._read(query)).mappings().first()
        return _from_row(row) if row else None

    def release_dedupe_key(self, conn: Connection, key: str, ended_before: datetime) -> bool:
        """A request that ended before ``ended_before`` gives its key up (the same call is then a
        new request); one that is live, or ended since, keeps it. True when a key was released."""
        c = requests_table.c
        result = conn.execute(
            update(requests_table)
            .where(
                c.dedupe_key == key,
                c.state.in_([s.value for s in TERMINAL_STATES]),
                c.updated_at < ended_before,
            )
            .values(dedupe_key=None)
        )
        return result.rowcount == 1

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

    def approved_ids(self, limit: int = 500) -> list[str]:
        """Approved requests nobody claimed yet whose change window (if any) has opened, oldest
        first (ids only: the pool claims each; one whose window closed meanwhile is ended there)."""
        c = requests_table.c
        query = (
            select(c.id)
            .where(
                c.state == RequestState.APPROVED.value,
                or_(c.not_before.is_(None), c.not_before <= utcnow()),
            )
            .order_by(c.created_at, c.id)
            .limit(limit)
        )
        return [row[0] for row in self._read(query).all()]

    def page(
        self,
        *,
        states: Iterable[RequestState] | None = None,
        route: str | None = None,
        system: str | None = None,
        since: datetime | None = None,
        before: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[ApprovalRequest]:
        """One page of requests, newest first, filtered and sliced in SQL (the list of a million
        requests reads only the rows it shows); ``since`` / ``before`` bound ``created_at``. Each
        filter has an index that ends in (created_at, id), so the newest matching rows are read
        in order; several states are one such read each, merged (an IN list would sort them all)."""
        wanted = list(dict.fromkeys(states)) if states is not None else None
        if wanted is not None and len(wanted) > 1:
            bounds = {"route": route, "system": system, "since": since, "before": before}
            top = offset + limit
            found = [row for state in wanted for row in self.page(states=[state], limit=top, **bounds)]
            found.sort(key=lambda r: (r.created_at, r.id), reverse=True)
            return found[offset : offset + limit]
        states = wanted
        c = requests_table.c
        query = select(requests_table).order_by(c.created_at.desc(), c.id.desc()).limit(limit).offset(offset)
        if states is not None:
            query = query.where(c.state.in_([s.value for s in states]))
        if route is not None:
            query = query.where(c.route == route)
        if system is not None:
            query = query.where(c.system == system)
        if since is not None:
            query = query.where(c.created_at >= since)
        if before is not None:
            query = query.where(c.created_at < before)
        return [_from_row(r) for r in self._read(query).mappings().all()]

    def count_by(self, *columns: str) -> list[tuple[Any, ...]]:
        cols = [requests_table.c[name] for name in columns]
        query = select(*cols, func.count()).group_by(*cols)
        return [tuple(row) for row in self._read(query).all()]

    def mark_problem(self, request_id: str, kind: str, detail: str) -> bool:
        """Note why a request is skipped (it stays where it is; the rest of the cycle goes on).
        True the first time this kind is noted, so it is logged once, not every cycle."""
        c = requests_table.c
        with self.transaction() as conn:
            result = conn.execute(
                update(requests_table)
                .where(c.id == request_id, or_(c.problem_kind.is_(None), c.problem_kind != kind))
                .values(problem_kind=kind, problem=detail[:2000])
            )
            if result.rowcount != 1:
                conn.execute(update(requests_table).where(c.id == request_id).values(problem=detail[:2000]))
            return result.rowcount == 1

    def seal_legacy(self, seal: Callable[[ApprovalRequest], str]) -> int:
        """Seal the requests a migration found unsealed, once, at the first start with the key
        (the marker is removed in the same transaction, so a seal set back to 'legacy' later is
        plain tampering and fails closed)."""
        c, m = requests_table.c, meta_table.c
        with self.transaction() as conn:
            if conn.execute(select(m.value).where(m.key == "legacy_seal")).first() is None:
                return 0
            rows = conn.execute(select(requests_table).where(c.seal == "legacy")).mappings().all()
            for row in rows:
                request = _from_row(row)
                conn.execute(update(requests_table).where(c.id == request.id).values(seal=seal(request)))
            conn.execute(meta_table.delete().where(m.key == "legacy_seal"))
            return len(rows)

    def problem_of(self, request_id: str) -> tuple[str | None, str | None]:
        c = requests_table.c
        row = self._read(select(c.problem_kind, c.problem).where(c.id == request_id)).first()
        return (row[0], row[1]) if row else (None, None)

    def mark_refused(self, conn: Connection, request_id: str, signature: str) -> bool:
        """Remember a refused decision; False if this exact decision was already refused (by this
        or another replica), so it is commented and audited once — or if the request no longer
        waits for a decision (a stale hint must not speak about a request that moved on)."""
        c = requests_table.c
        result = conn.execute(
            update(requests_table)
            .where(
                c.id == request_id,
                c.state == RequestState.TICKETED.value,
                or_(c.refused_signature.is_(None), c.refused_signature != signature),
            )
            .values(refused_signature=signature)
        )
        return result.rowcount == 1

    def set_fields(self, conn: Connection, request_id: str, **values: Any) -> None:
        conn.execute(
            update(requests_table)
            .where(requests_table.c.id == request_id)
            .values(updated_at=utcnow(), **values)
        )

    def set_ticket(
        self,
        conn: Connection,
        request_id: str,
        ticket: TicketRef,
        target: RequestState = RequestState.TICKETED,
        audit: Sequence[AuditEvent] = (),
    ) -> ApprovalRequest | None:
        """Record the ticket and move SUBMITTED → TICKETED (a pre-approved standard change: →
        APPROVED), with ``audit``; returns the request as moved. A request that expired or was
        decided meanwhile keeps its state but still learns its ticket (so outcomes can be
        reported; its audit rows are written then too): None. A request that has a ticket keeps
        it: the first ticket recorded counts, a second one (two creates that both landed) changes
        nothing here."""
        fields = {
            "ticket_system": ticket.system,
            "ticket_key": ticket.key,
            "ticket_id": ticket.id,
            "ticket_url": ticket.url,
        }
        moved = self.moved(conn, request_id, [RequestState.SUBMITTED], target, audit=audit, **fields)
        if moved is None:
            c = requests_table.c
            learned = conn.execute(
                update(requests_table)
                .where(c.id == request_id, c.ticket_key.is_(None))
                .values(updated_at=utcnow(), **fields)
            )
            if learned.rowcount == 1 and audit:
                self.audit.append_many(conn, request_id, audit)  # type: ignore[attr-defined]
        return moved

    def claim(self, request_id: str, worker: str, lease: timedelta) -> ApprovalRequest | None:
        """APPROVED → EXECUTING for exactly one worker, only inside the change window if any:
        the request as claimed, or None when it was not there to claim."""
        now = utcnow()
        with self.transaction() as conn:
            return self.moved(
                conn,
                request_id,
                [RequestState.APPROVED],
                RequestState.EXECUTING,
                within_window=now,
                claimed_by=worker,
                lease_until=now + lease,
                audit=[("claimed", worker, {"lease_seconds": lease.total_seconds()})],
            )

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

    def due_for_nudge(self, now: datetime, limit: int = 500) -> list[ApprovalRequest]:
        """Waiting requests whose next reminder or escalation is due."""
        c = requests_table.c
        query = (
            select(requests_table)
            .where(c.state == RequestState.TICKETED.value, c.nudge_at.is_not(None), c.nudge_at <= now)
            .order_by(c.nudge_at)
            .limit(limit)
        )
        return [_from_row(r) for r in self._read(query).mappings().all()]

    def advance_nudge(
        self, conn: Connection, request_id: str, seen: datetime, following: datetime | None
    ) -> bool:
        """Move the next-nudge time on from ``seen`` (compare-and-set: one replica wins a nudge)."""
        c = requests_table.c
        result = conn.execute(
            update(requests_table)
            .where(c.id == request_id, c.state == RequestState.TICKETED.value, c.nudge_at == seen)
            .values(nudge_at=following)
        )
        return result.rowcount == 1

    def stale_claims(self, now: datetime) -> list[ApprovalRequest]:
        c = requests_table.c
        query = select(requests_table).where(
            c.state == RequestState.EXECUTING.value, or_(c.lease_until.is_(None), c.lease_until < now)
        )
        return [_from_row(r) for r in self._read(query).mappings().all()]
