"""Append-only, hash-chained audit trail, one chain per request: each row's hash covers its content
and the previous row of the same request, and the request row keeps the head (count and last
hash) in the same transaction. Writers of different requests never wait on each other (replicas
included); removing, altering or reordering a request's rows, or cutting its end, shows.

Every minute or so one replica *seals* the heads that moved since the last seal into a chain of
seals keyed with the connector's seal key (the database never holds it): a request deleted with
all its rows, or a chain rewritten and re-hashed from the start, no longer matches its seal."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine

from connector.core.models import canonical_json, utcnow

from .engine import writing
from .heads import KnownHeads
from .prepared import run
from .schema import metadata, requests_table

GENESIS = "0" * 64
SEAL_BATCH = 5000

audit_table = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # global order, for export only
    Column("request_id", String(64), nullable=False),
    Column("rseq", Integer, nullable=False),  # 1, 2, 3 ... within the request
    Column("at", String(40), nullable=False),
    Column("event", String(60), nullable=False),
    Column("actor", String(300), nullable=False, default=""),
    Column("details", Text, nullable=False, default="{}"),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("request_id", "rseq", name="uq_audit_request_rseq"),
)
seals_table = Table(
    "audit_seals",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", String(40), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("prev_mac", String(64), nullable=False),
    Column("mac", String(64), nullable=False),
)
seal_entries_table = Table(
    "audit_seal_entries",
    metadata,
    Column("seal_seq", Integer, ForeignKey("audit_seals.seq"), primary_key=True),
    Column("request_id", String(64), primary_key=True),
    Column("rseq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)


def row_hash(
    prev_hash: str, rseq: int, request_id: str, at: str, event: str, actor: str, details: str
) -> str:
    body = canonical_json(
        {"rseq": rseq, "request_id": request_id, "at": at, "event": event, "actor": actor, "details": details}
    )
    return hashlib.sha256(f"{prev_hash}|{body}".encode()).hexdigest()


def _at_text(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


AuditEvent = tuple[str, str, dict[str, Any]]  # (event, actor, details)


def chain_rows(
    request_id: str, first_rseq: int, prev: str, events: Sequence[AuditEvent]
) -> tuple[list[dict[str, Any]], str]:
    """The audit rows for ``events``, chained from ``prev`` starting at ``first_rseq``; and the
    new head hash."""
    at = _at_text(utcnow())
    rows = []
    for offset, (event, actor, details) in enumerate(events):
        rseq = first_rseq + offset
        text = canonical_json(details or {})
        digest = row_hash(prev, rseq, request_id, at, event, actor or "", text)
        rows.append(
            {
                "request_id": request_id,
                "rseq": rseq,
                "at": at,
                "event": event,
                "actor": actor or "",
                "details": text,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    return rows, prev


# Statements of the hot path, built once (building them per call costs more than running them).
_r = requests_table.c
_BUMP_HEAD = (
    update(requests_table)
    .where(_r.id == bindparam("b_id"))
    .values(audit_rseq=_r.audit_rseq + bindparam("b_n"), audit_dirty=True)
    .returning(_r.audit_rseq, _r.audit_hash)
)
_SET_HEAD_HASH = (
    update(requests_table).where(_r.id == bindparam("b_id")).values(audit_hash=bindparam("b_hash"))
)
_MOVE_HEAD = (  # a head known to this process (heads.py) moved on, only while it is still the head
    update(requests_table)
    .where(
        _r.id == bindparam("b_id"),
        _r.audit_rseq == bindparam("b_old_rseq"),
        _r.audit_hash == bindparam("b_prev"),
    )
    .values(audit_rseq=bindparam("b_rseq"), audit_hash=bindparam("b_hash"), audit_dirty=True)
)
_INSERT_ROWS = insert(audit_table)


class AuditLog:
    def __init__(self, heads: KnownHeads | None = None) -> None:
        self.table = audit_table
        self.heads = heads or KnownHeads()

    # --- writing ---------------------------------------------------------------------------------
    def append(
        self,
        conn: Connection,
        request_id: str,
        event: str,
        actor: str = "",
        details: dict[str, Any] | None = None,
    ) -> int:
        """Append one row inside the caller's transaction; returns its number in the request."""
        return self.append_many(conn, request_id, [(event, actor, details or {})])

    def append_many(self, conn: Connection, request_id: str, events: Sequence[AuditEvent]) -> int:
        """Append rows to one request's chain inside the caller's transaction (the request row's
        lock orders writers of the same request; others are not touched). Returns the last rseq."""
        if not events:
            return 0
        known = self.heads.get(request_id)
        if known is not None:  # one UPDATE fewer while the head this process saw is still it
            rows, digest = chain_rows(request_id, known[0] + 1, known[1], events)
            last = known[0] + len(rows)
            params = {"b_id": request_id, "b_old_rseq": known[0], "b_prev": known[1]}
            if run(conn, _MOVE_HEAD, {**params, "b_rseq": last, "b_hash": digest}).rowcount == 1:
                run(conn, _INSERT_ROWS, rows)
                self.heads.note(request_id, last, digest)
                return last
        head = run(conn, _BUMP_HEAD, {"b_id": request_id, "b_n": len(events)}).first()
        if head is None:
            raise LookupError(f"no request {request_id!r} to audit")
        self.write_rows(conn, request_id, int(head["audit_rseq"]), head["audit_hash"], events)
        return int(head["audit_rseq"])

    def write_rows(
        self, conn: Connection, request_id: str, last: int, prev: str | None, events: Sequence[AuditEvent]
    ) -> str:
        """Insert the rows of a head already moved to ``last`` (from ``prev``), and record the new
        head hash (returned): the state change that bumped the head did it in the same statement."""
        rows, digest = chain_rows(request_id, last - len(events) + 1, prev or GENESIS, events)
        run(conn, _INSERT_ROWS, rows)
        run(conn, _SET_HEAD_HASH, {"b_id": request_id, "b_hash": digest})
        self.heads.note(request_id, last, digest)
        return digest

    # --- reading ---------------------------------------------------------------------------------
    def rows(self, engine: Engine, request_id: str | None = None) -> Iterator[dict[str, Any]]:
        query = select(self.table).order_by(self.table.c.seq)
        if request_id is not None:
            query = query.where(self.table.c.request_id == request_id).order_by(self.table.c.rseq)
        with engine.connect() as conn:
            for row in conn.execution_options(yield_per=1000).execute(query).mappings():
                item = dict(row)
                item["details"] = json.loads(item["details"])
                yield item

    def has_event(self, engine: Engine, request_id: str, event: str) -> bool:
        """Whether the request's trail holds a row of ``event`` (one indexed look-up, nothing
        decoded)."""
        c = self.table.c
        query = select(c.seq).where(c.request_id == request_id, c.event == event).limit(1)
        with engine.connect() as conn:
            return conn.execute(query).first() is not None

    def export(self, engine: Engine, out: TextIO, request_id: str | None = None) -> int:
        count = 0
        for row in self.rows(engine, request_id):
            out.write(canonical_json(row) + "\n")
            count += 1
        return count

    # --- sealing ---------------------------------------------------------------------------------
    def seal(self, engine: Engine, key: bytes, limit: int = SEAL_BATCH) -> int:
        """Seal the heads of requests whose chain moved since their last seal (one replica at a
        time: the caller holds a lease). Returns how many heads the new seal covers."""
        r = requests_table.c
        with writing(engine) as conn:  # it reads the heads, then writes their seals
            dirty = conn.execute(
                select(r.id, r.audit_rseq, r.audit_hash)
                .where(r.audit_dirty.is_(True))
                .order_by(r.id)
                .limit(limit)
            ).all()
            if not dirty:
                return 0
            last = conn.execute(
                select(seals_table.c.seq, seals_table.c.mac).order_by(seals_table.c.seq.desc())
            ).first()
            seq = (last[0] + 1) if last else 1
            prev = last[1] if last else GENESIS
            at = _at_text(utcnow())
            entries = [{"seal_seq": seq, "request_id": d[0], "rseq": int(d[1]), "hash": d[2]} for d in dirty]
            mac = _seal_mac(key, seq, at, prev, entries)
            conn.execute(
                insert(seals_table).values(seq=seq, at=at, entries=len(entries), prev_mac=prev, mac=mac)
            )
            conn.execute(insert(seal_entries_table), entries)
            for d in dirty:  # a request that moved meanwhile stays dirty for the next seal
                conn.execute(
                    update(requests_table).where(r.id == d[0], r.audit_rseq == d[1]).values(audit_dirty=False)
                )
            return len(entries)

    # --- verifying -------------------------------------------------------------------------------
    def verify(self, engine: Engine, key: bytes | None = None) -> list[str]:
        """Problems found; an empty list means intact. Streams: memory does not grow with rows."""
        problems: list[str] = []
        with engine.connect() as conn:
            problems += self._verify_chains(conn)
            problems += self._verify_seals(conn, key)
        return problems

    def _verify_chains(self, conn: Connection) -> list[str]:
        a, r = audit_table.c, requests_table.c
        problems: list[str] = []
        # both streams in code-point order of the id (PostgreSQL's locale collation would not match
        # Python's comparison), merged request by request
        heads = conn.execution_options(yield_per=2000).execute(
            select(r.id, r.audit_rseq, r.audit_hash).where(r.audit_rseq > 0).order_by(_binary(conn, r.id))
        )
        rows = conn.execution_options(yield_per=2000).execute(
            select(a.request_id, a.rseq, a.at, a.event, a.actor, a.details, a.prev_hash, a.hash).order_by(
                _binary(conn, a.request_id), a.rseq
            )
        )
        row = next(rows, None)
        for request_id, head_rseq, head_hash in heads:
            while row is not None and row.request_id < request_id:
                problems.append(f"request {row.request_id}: audit rows whose request row is gone")
                row = _skip_request(rows, row)
            expected_rseq, prev = 1, GENESIS
            while row is not None and row.request_id == request_id:
                if row.rseq != expected_rseq:
                    problems.append(f"request {request_id}: rows {expected_rseq}..{row.rseq - 1} are missing")
                if row.prev_hash != prev:
                    problems.append(f"request {request_id}: row {row.rseq} does not follow the previous row")
                again = row_hash(
                    row.prev_hash, row.rseq, request_id, row.at, row.event, row.actor, row.details
                )
                if again != row.hash:
                    problems.append(
                        f"request {request_id}: row {row.rseq} content was altered (hash mismatch)"
                    )
                prev, expected_rseq = row.hash, row.rseq + 1
                row = next(rows, None)
            if expected_rseq - 1 != head_rseq or prev != (head_hash or GENESIS):
                problems.append(
                    f"request {request_id}: the trail ends at row {expected_rseq - 1} but {head_rseq} rows "
                    "were written (rows removed from the end, or the head was altered)"
                )
        while row is not None:
            problems.append(f"request {row.request_id}: audit rows whose request row is gone")
            row = _skip_request(rows, row)
        return problems

    def _verify_seals(self, conn: Connection, key: bytes | None) -> list[str]:
        s, e, a = seals_table.c, seal_entries_table.c, audit_table.c
        problems: list[str] = []
        prev, expected = GENESIS, 1
        for seal in conn.execution_options(yield_per=500).execute(select(seals_table).order_by(s.seq)):
            if seal.seq != expected:
                problems.append(f"seals {expected}..{seal.seq - 1} are missing")
            if seal.prev_mac != prev:
                problems.append(f"seal {seal.seq}: does not follow the previous seal")
            if key is not None:
                entries = [
                    dict(m)
                    for m in conn.execute(
                        select(e.seal_seq, e.request_id, e.rseq, e.hash)
                        .where(e.seal_seq == seal.seq)
                        .order_by(e.request_id)
                    ).mappings()
                ]
                if len(entries) != seal.entries or not hmac.compare_digest(
                    _seal_mac(key, seal.seq, seal.at, seal.prev_mac, entries), seal.mac
                ):
                    problems.append(f"seal {seal.seq}: not made with this connector's key, or altered")
            prev, expected = seal.mac, seal.seq + 1
        # every sealed head must still be in its chain, unchanged
        missing = conn.execute(
            select(e.seal_seq, e.request_id, e.rseq)
            .select_from(
                seal_entries_table.outerjoin(
                    audit_table, and_(a.request_id == e.request_id, a.rseq == e.rseq)
                )
            )
            .where(or_(a.hash.is_(None), a.hash != e.hash))
            .order_by(e.seal_seq, e.request_id)
            .limit(1000)
        ).all()
        for seal_seq, request_id, rseq in missing:
            problems.append(
                f"request {request_id}: row {rseq} sealed in seal {seal_seq} is missing or was rewritten"
            )
        return problems

    def count(self, engine: Engine) -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_table)).scalar() or 0)


def _seal_mac(key: bytes, seq: int, at: str, prev: str, entries: Sequence[dict[str, Any]]) -> str:
    body = canonical_json(
        [seq, at, prev, sorted([e["request_id"], int(e["rseq"]), e["hash"]] for e in entries)]
    )
    return hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()


def _binary(conn: Connection, column: Any) -> Any:
    return column.collate("C") if conn.dialect.name == "postgresql" else column


def _skip_request(rows: Iterator[Any], row: Any) -> Any:
    current = row.request_id
    while row is not None and row.request_id == current:
        row = next(rows, None)
    return row
