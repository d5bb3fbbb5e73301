"""Append-only, hash-chained audit log. Each row's hash covers its content and the previous
row's hash; a one-row head table (locked by every append) keeps the chain linear even with
several replicas writing, and lets ``verify`` notice rows removed from the end."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, TextIO

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, insert, select, update
from sqlalchemy.engine import Connection, Engine

from connector.core.models import canonical_json, utcnow

GENESIS = "0" * 64


def _row_hash(
    prev_hash: str, seq: int, request_id: str, at: str, event: str, actor: str, details: str
) -> str:
    body = canonical_json(
        {"seq": seq, "request_id": request_id, "at": at, "event": event, "actor": actor, "details": details}
    )
    return hashlib.sha256(f"{prev_hash}|{body}".encode()).hexdigest()


def _at_text(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


audit_metadata = MetaData()

audit_table = Table(
    "audit_log",
    audit_metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("request_id", String(64), nullable=False, index=True),
    Column("at", String(40), nullable=False),
    Column("event", String(60), nullable=False),
    Column("actor", String(300), nullable=False, default=""),
    Column("details", Text, nullable=False, default="{}"),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
audit_head_table = Table(
    "audit_head",
    audit_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("at", DateTime(timezone=True)),
)


class AuditLog:
    def __init__(self) -> None:
        self.table = audit_table
        self.head = audit_head_table

    def ensure_head(self, conn: Connection) -> None:
        if conn.execute(select(self.head.c.id).where(self.head.c.id == 1)).first() is None:
            conn.execute(insert(self.head).values(id=1, seq=0, hash=GENESIS, at=utcnow()))

    def append(
        self,
        conn: Connection,
        request_id: str,
        event: str,
        actor: str = "",
        details: dict[str, Any] | None = None,
    ) -> int:
        """Append inside the caller's transaction (the head row lock serialises writers)."""
        head = self.head.c
        conn.execute(update(self.head).where(head.id == 1).values(seq=head.seq + 1))  # takes the lock
        seq, prev_hash = conn.execute(select(head.seq, head.hash).where(head.id == 1)).one()
        at = _at_text(utcnow())
        details_text = canonical_json(details or {})
        digest = _row_hash(prev_hash, seq, request_id, at, event, actor or "", details_text)
        conn.execute(
            insert(self.table).values(
                seq=seq,
                request_id=request_id,
                at=at,
                event=event,
                actor=actor or "",
                details=details_text,
                prev_hash=prev_hash,
                hash=digest,
            )
        )
        conn.execute(update(self.head).where(head.id == 1).values(hash=digest, at=utcnow()))
        return seq

    def rows(self, engine: Engine, request_id: str | None = None) -> Iterator[dict[str, Any]]:
        query = select(self.table).order_by(self.table.c.seq)
        if request_id is not None:
            query = query.where(self.table.c.request_id == request_id)
        with engine.connect() as conn:
            for row in conn.execute(query).mappings():
                item = dict(row)
                item["details"] = json.loads(item["details"])
                yield item

    def verify(self, engine: Engine) -> list[str]:
        """Problems found in the chain; an empty list means intact."""
        problems: list[str] = []
        expected_prev = GENESIS
        expected_seq = 1
        with engine.connect() as conn:
            rows = conn.execute(select(self.table).order_by(self.table.c.seq)).mappings().all()
            head = conn.execute(select(self.head.c.seq, self.head.c.hash).where(self.head.c.id == 1)).first()
        for row in rows:
            seq = row["seq"]
            if seq != expected_seq:
                problems.append(f"rows {expected_seq}..{seq - 1} are missing")
            if row["prev_hash"] != expected_prev:
                problems.append(f"row {seq}: does not follow the previous row (chain broken)")
            recomputed = _row_hash(
                row["prev_hash"],
                seq,
                row["request_id"],
                row["at"],
                row["event"],
                row["actor"],
                row["details"],
            )
            if recomputed != row["hash"]:
                problems.append(f"row {seq}: content was altered (hash mismatch)")
            expected_prev = row["hash"]
            expected_seq = seq + 1
        if head is not None:
            head_seq, head_hash = head
            if head_seq != expected_seq - 1 or head_hash != expected_prev:
                problems.append(
                    f"the log ends at row {expected_seq - 1} but {head_seq} rows were written "
                    "(rows removed from the end, or the head was altered)"
                )
        return problems

    def export(self, engine: Engine, out: TextIO, request_id: str | None = None) -> int:
        count = 0
        for row in self.rows(engine, request_id):
            out.write(canonical_json(row) + "\n")
            count += 1
        return count
