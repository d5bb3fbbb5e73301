"""Replicas and seals: outbox leases with a fencing token and the shared lost-create guard, leader
leases, per-request audit chains with keyed seals (the old global chain is verified, then re-chained
per request), call seals (requests stored before them are sealed at the first start that has the
key), problems, composite indexes, and the desk's own ticket seal.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

GENESIS = "0" * 64


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _old_hash(prev: str, seq: int, request_id: str, at: str, event: str, actor: str, details: str) -> str:
    """The 0.1.0 chain: one global chain ordered by ``seq``."""
    body = _canonical(
        {"seq": seq, "request_id": request_id, "at": at, "event": event, "actor": actor, "details": details}
    )
    return hashlib.sha256(f"{prev}|{body}".encode()).hexdigest()


def _new_hash(prev: str, rseq: int, request_id: str, at: str, event: str, actor: str, details: str) -> str:
    body = _canonical(
        {"rseq": rseq, "request_id": request_id, "at": at, "event": event, "actor": actor, "details": details}
    )
    return hashlib.sha256(f"{prev}|{body}".encode()).hexdigest()


def upgrade() -> None:
    bind = op.get_bind()
    tables = set(sa.inspect(bind).get_table_names())

    with op.batch_alter_table("approval_requests") as batch:
        batch.add_column(sa.Column("seal", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("ticket_sealed", sa.Boolean, nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("audit_rseq", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("audit_hash", sa.String(64), nullable=False, server_default=GENESIS))
        batch.add_column(sa.Column("audit_dirty", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("problem_kind", sa.String(40)))
        batch.add_column(sa.Column("problem", sa.Text))
        batch.drop_index("ix_approval_requests_state")
        batch.drop_index("ix_approval_requests_ticket_key")
        batch.create_index("ix_approval_requests_audit_dirty", ["audit_dirty"])
        batch.create_index("ix_requests_state_system", ["state", "system", "created_at"])
        batch.create_index("ix_requests_state_deadline", ["state", "deadline"])
        batch.create_index("ix_requests_state_lease", ["state", "lease_until"])
        batch.create_index("ix_requests_ticket", ["ticket_system", "ticket_key"])
        batch.create_index("ix_requests_created", ["created_at", "id"])
        batch.create_index("ix_requests_route_state", ["route", "state"])

    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("leased_by", sa.String(200)))
        batch.add_column(sa.Column("lease_token", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("ambiguous_since", _tz()))
        batch.drop_index("ix_outbox_next_attempt_at")
        batch.create_index("ix_outbox_due", ["delivered_at", "next_attempt_at"])

    op.create_index("ix_webhook_deliveries_received_at", "webhook_deliveries", ["received_at"])
    if bind.dialect.name == "postgresql":  # 0.1.0 declared a unique constraint the primary key already is
        name = "webhook_deliveries_system_delivery_id_key"
        bind.execute(sa.text(f"ALTER TABLE webhook_deliveries DROP CONSTRAINT IF EXISTS {name}"))
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(200)),
        sa.Column("until", _tz()),
        sa.Column("token", sa.Integer, nullable=False),
    )
    _rechain_audit(bind)
    op.create_table(
        "audit_seals",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("entries", sa.Integer, nullable=False),
        sa.Column("prev_mac", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_seal_entries",
        sa.Column("seal_seq", sa.Integer, sa.ForeignKey("audit_seals.seq"), primary_key=True),
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("rseq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )

    if "local_tickets" in tables:
        with op.batch_alter_table("local_tickets") as batch:
            batch.add_column(sa.Column("seal", sa.String(200), nullable=False, server_default=""))

    # Requests stored before call seals existed are sealed at the first start that has the key
    # (the migration never sees it); their tickets predate ticket seals.
    requests = sa.table("approval_requests", sa.column("seal"), sa.column("ticket_sealed"))
    if bind.execute(sa.select(sa.func.count()).select_from(requests)).scalar():
        bind.execute(sa.update(requests).values(seal="legacy", ticket_sealed=False))
        meta = sa.table("store_meta", sa.column("key"), sa.column("value"))
        bind.execute(sa.insert(meta).values(key="legacy_seal", value="pending"))


def _rechain_audit(bind: sa.engine.Connection) -> None:
    """Verify the 0.1.0 global chain (refuse to migrate a trail that no longer verifies: its
    evidence would be laundered by re-hashing), then rebuild it as one chain per request."""
    old = sa.table(
        "audit_log",
        *(
            sa.column(n)
            for n in ("seq", "request_id", "at", "event", "actor", "details", "prev_hash", "hash")
        ),
    )
    head = bind.execute(sa.text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
    rows = bind.execute(sa.select(old).order_by(old.c.seq)).mappings().all()
    prev, expected = GENESIS, 1
    for row in rows:
        again = _old_hash(
            row["prev_hash"],
            row["seq"],
            row["request_id"],
            row["at"],
            row["event"],
            row["actor"],
            row["details"],
        )
        if row["seq"] != expected or row["prev_hash"] != prev or again != row["hash"]:
            raise RuntimeError(
                f"the audit trail does not verify at row {row['seq']} (run `audit verify` with the previous "
                "version); refusing to migrate it"
            )
        prev, expected = row["hash"], row["seq"] + 1
    if head is not None and (head[0] != expected - 1 or head[1] != prev):
        raise RuntimeError("the audit trail was cut at its end; refusing to migrate it")

    op.create_table(
        "audit_log_v2",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("rseq", sa.Integer, nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("event", sa.String(60), nullable=False),
        sa.Column("actor", sa.String(300), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("request_id", "rseq", name="uq_audit_request_rseq"),
    )
    new = sa.table(
        "audit_log_v2",
        *(
            sa.column(n)
            for n in ("seq", "request_id", "rseq", "at", "event", "actor", "details", "prev_hash", "hash")
        ),
    )
    heads: dict[str, tuple[int, str]] = {}
    batch = []
    for row in rows:
        rseq, last = heads.get(row["request_id"], (0, GENESIS))
        rseq += 1
        digest = _new_hash(
            last, rseq, row["request_id"], row["at"], row["event"], row["actor"], row["details"]
        )
        heads[row["request_id"]] = (rseq, digest)
        batch.append({**dict(row), "rseq": rseq, "prev_hash": last, "hash": digest})
    if batch:
        bind.execute(sa.insert(new), batch)
    requests = sa.table(
        "approval_requests",
        sa.column("id"),
        sa.column("audit_rseq"),
        sa.column("audit_hash"),
        sa.column("audit_dirty"),
    )
    for request_id, (rseq, digest) in heads.items():
        bind.execute(
            sa.update(requests)
            .where(requests.c.id == request_id)
            .values(audit_rseq=rseq, audit_hash=digest, audit_dirty=True)
        )
    op.drop_table("audit_log")
    op.drop_table("audit_head")
    op.rename_table("audit_log_v2", "audit_log")
    if bind.dialect.name == "postgresql":  # keep the sequence's name in step, and past the old rows
        bind.execute(sa.text("ALTER SEQUENCE IF EXISTS audit_log_v2_seq_seq RENAME TO audit_log_seq_seq"))
        bind.execute(sa.text("ALTER INDEX IF EXISTS audit_log_v2_pkey RENAME TO audit_log_pkey"))
        bind.execute(
            sa.text(
                "SELECT setval('audit_log_seq_seq', (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log), false)"
            )
        )
