"""The outbox: ticket creations and outcome reports, retried until delivered."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection

from connector.core.models import utcnow

from .base import StoreBase
from .prepared import run
from .schema import aware, insert_if_absent, outbox_table

_o = outbox_table.c
_LEASE = (  # built once: every delivery takes one
    update(outbox_table)
    .where(_o.id == bindparam("b_id"), _o.delivered_at.is_(None), _o.next_attempt_at <= bindparam("b_now"))
    .values(
        next_attempt_at=bindparam("b_until"),
        attempts=_o.attempts + 1,
        leased_by=bindparam("b_worker"),
        lease_token=_o.lease_token + 1,
    )
    .returning(*outbox_table.c)
)
# the rest of the delivery path, built once too: each call only binds its values
_DELIVERED_VALUES = {"delivered_at": bindparam("b_at"), "last_error": None, "leased_by": None}
_DELIVERED = update(outbox_table).where(_o.id == bindparam("b_id")).values(**_DELIVERED_VALUES)
_DELIVERED_FENCED = (
    update(outbox_table)
    .where(_o.id == bindparam("b_id"), _o.lease_token == bindparam("b_token"), _o.delivered_at.is_(None))
    .values(**_DELIVERED_VALUES)
)
_EXTEND = (
    update(outbox_table)
    .where(_o.id == bindparam("b_id"), _o.lease_token == bindparam("b_token"), _o.delivered_at.is_(None))
    .values(next_attempt_at=bindparam("b_until"))
)
_OUTBOX_FOR = select(outbox_table).where(_o.request_id == bindparam("b_request_id")).order_by(_o.created_at)


class OutboxQueries(StoreBase):
    def enqueue(
        self,
        conn: Connection,
        item_id: str,
        request_id: str,
        kind: str,
        payload: dict[str, Any],
        leased: tuple[str, timedelta] | None = None,
    ) -> None:
        """Add outbox work once; a second enqueue of the same id is a no-op. ``leased`` (worker,
        lease): the item is stored as that worker's first lease (attempt 0, token 1), as
        ``lease_outbox_row`` would have taken it, for a delivery the caller starts at once; if
        the worker never finishes it, it is due again, as attempt 1, once the lease runs out."""
        now = utcnow()
        held: dict[str, Any] = {}
        if leased is not None:
            worker, lease = leased
            held = {"attempts": 1, "next_attempt_at": now + lease, "leased_by": worker, "lease_token": 1}
        insert_if_absent(
            conn,
            outbox_table,
            id=item_id,
            request_id=request_id,
            kind=kind,
            payload=json.dumps(payload),
            **{"attempts": 0, "next_attempt_at": now, **held},
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

    def lease_outbox(
        self, item: dict[str, Any], lease: timedelta, worker: str = ""
    ) -> tuple[int, int] | None:
        """Take a due outbox item for one delivery attempt: (lease token, attempt), or None if
        another worker has it (see ``lease_outbox_row``)."""
        row = self.lease_outbox_row(item["id"], lease, worker)
        return (row["lease_token"], row["attempt"]) if row is not None else None

    def lease_outbox_row(self, item_id: str, lease: timedelta, worker: str = "") -> dict[str, Any] | None:
        """Take a due outbox item for one delivery attempt: the item as leased (with its
        ``lease_token`` and ``attempt``), or None if another worker has it. The attempt is counted
        here, in the same statement that takes the lease, and returned from it, not from the
        caller's copy of the row (which may be older than another worker's lease): a delivery
        re-leased after a crash or a lost answer is attempt n+1, so adapters look for what landed
        before posting again."""
        now = utcnow()
        with self.transaction() as conn:
            params = {"b_id": item_id, "b_now": now, "b_until": now + lease, "b_worker": worker or None}
            row = run(conn, _LEASE, params).first()
            if row is None:
                return None
            leased = dict(row)
            leased["lease_token"], leased["attempt"] = int(row["lease_token"]), int(row["attempts"]) - 1
            return leased

    def release_outbox_lease(self, item_id: str, token: int, attempts: int) -> bool:
        """Give back a lease taken for a delivery that never started: due again now, its attempt
        uncounted (``attempts`` as before the lease); False when the lease is no longer this one."""
        c = outbox_table.c
        with self.transaction() as conn:
            result = conn.execute(
                update(outbox_table)
                .where(c.id == item_id, c.lease_token == token, c.delivered_at.is_(None))
                .values(attempts=attempts, next_attempt_at=utcnow(), leased_by=None)
            )
            return result.rowcount == 1

    def extend_outbox_lease(self, item_id: str, token: int, lease: timedelta) -> bool:
        """Heartbeat of a delivery in progress; False once its lease was taken over."""
        with self.transaction() as conn:
            result = conn.execute(_EXTEND, {"b_id": item_id, "b_token": token, "b_until": utcnow() + lease})
            return result.rowcount == 1

    def outbox_delivered(self, conn: Connection, item_id: str, token: int | None = None) -> bool:
        """Mark delivered; with the delivery's lease ``token``, only while that lease is still the
        current one and nobody marked it first (a holder that overran its lease is fenced: the
        replica that took over records it, once). False when refused."""
        if token is None:
            result = conn.execute(_DELIVERED, {"b_id": item_id, "b_at": utcnow()})
        else:
            result = conn.execute(_DELIVERED_FENCED, {"b_id": item_id, "b_token": token, "b_at": utcnow()})
        return result.rowcount == 1

    def outbox_failed(
        self, item_id: str, attempts: int, retry_at: datetime, error: str, token: int | None = None
    ) -> bool:
        """Schedule the next attempt; refused (False) when the lease ``token`` is no longer the
        current one, so a holder that overran its lease cannot reschedule its successor."""
        c = outbox_table.c
        condition = [c.id == item_id, c.delivered_at.is_(None)]
        if token is not None:
            condition.append(c.lease_token == token)
        with self.transaction() as conn:
            result = conn.execute(
                update(outbox_table)
                .where(*condition)
                .values(attempts=attempts, next_attempt_at=retry_at, last_error=error[:2000], leased_by=None)
            )
            return result.rowcount == 1

    def mark_ambiguous(self, item_id: str) -> datetime:
        """Remember (once) that a create's answer was lost; returns when that first happened."""
        c = outbox_table.c
        with self.transaction() as conn:
            conn.execute(
                update(outbox_table)
                .where(c.id == item_id, c.ambiguous_since.is_(None))
                .values(ambiguous_since=utcnow())
            )
            since = conn.execute(select(c.ambiguous_since).where(c.id == item_id)).scalar()
        return aware(since) or utcnow()

    def outbox_for(self, request_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return run(conn, _OUTBOX_FOR, {"b_request_id": request_id}).rows

    def outbox_backlog(self) -> int:
        query = select(func.count()).select_from(outbox_table).where(outbox_table.c.delivered_at.is_(None))
        return int(self._read(query).scalar() or 0)

    def prune_outbox(self, older_than: datetime) -> int:
        """Forget delivered work older than the retention (the table would otherwise only grow)."""
        c = outbox_table.c
        with self.transaction() as conn:
            result = conn.execute(
                outbox_table.delete().where(c.delivered_at.is_not(None), c.delivered_at < older_than)
            )
            return int(result.rowcount or 0)
