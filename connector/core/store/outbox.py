"""The outbox: ticket creations and outcome reports, retried until delivered."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from connector.core.models import utcnow

from .base import StoreBase
from .schema import insert_if_absent, outbox_table


class OutboxQueries(StoreBase):
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
