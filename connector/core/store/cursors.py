"""Poll cursors per system and webhook delivery ids (redelivery de-duplication)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from connector.core.models import utcnow

from .base import StoreBase
from .engine import driver_writing
from .schema import aware, cursors_table, deliveries_table, insert_if_absent


class CursorQueries(StoreBase):
    def cursor(self, system: str) -> tuple[str | None, datetime | None]:
        c = cursors_table.c
        row = self._read(select(c.cursor, c.last_success_at).where(c.system == system)).first()
        return (row[0], aware(row[1])) if row else (None, None)

    def save_cursor(
        self,
        system: str,
        cursor: str | None,
        error: str | None = None,
        fence: tuple[str, str, int] | None = None,
    ) -> bool:
        """Record a poll's outcome. With ``fence`` (lease name, holder, token) the write happens
        only while that lease is still held: a poller that lost its lead cannot roll the cursor
        back over its successor's. False when refused."""
        c = cursors_table.c
        with self.transaction() as conn:
            if fence is not None and not self.holds_lease(conn, *fence):  # type: ignore[attr-defined]
                return False
            values: dict[str, Any] = {"last_error": error}
            if error is None:
                values.update(cursor=cursor, last_success_at=utcnow())
            if not insert_if_absent(conn, cursors_table, system=system, **values):
                conn.execute(update(cursors_table).where(c.system == system).values(**values))
            return True

    def first_delivery(self, system: str, delivery_id: str) -> bool:
        """Record one webhook delivery id; False when it was seen before (a redelivery)."""
        return self.record_deliveries([(system, delivery_id)])[0]

    def record_deliveries(self, deliveries: Sequence[tuple[str, str]]) -> list[bool]:
        """Record many webhook delivery ids in one transaction (group commit); for each, True when
        it is new, False for a redelivery (also within the batch). This is the webhook hot path, so
        it runs at the driver level: on PostgreSQL one multi-row INSERT ... RETURNING (one round
        trip for the batch), on SQLite one cached INSERT OR IGNORE per id (cheaper there than
        preparing a statement per batch size)."""
        keys = [(system, delivery[:300]) for system, delivery in deliveries]
        unique = list(dict.fromkeys(keys))  # a redelivery within the batch is inserted once
        if not unique:
            return []
        if self.engine.dialect.name == "postgresql":
            inserted = self._insert_returning(unique)
        else:
            inserted = self._insert_or_ignore(unique)
        fresh: list[bool] = []
        for key in keys:
            fresh.append(key in inserted)
            inserted.discard(key)  # the same id again in this batch is a redelivery
        return fresh

    def _insert_returning(self, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        sql = (
            "INSERT INTO webhook_deliveries (system, delivery_id, received_at) VALUES "
            + ", ".join(["(%s, %s, %s)"] * len(keys))
            + " ON CONFLICT DO NOTHING RETURNING system, delivery_id"
        )
        stamp = utcnow()
        params = [value for system, delivery in keys for value in (system, delivery, stamp)]
        with driver_writing(self.engine) as cursor:
            cursor.execute(sql, params)
            return {(row[0], row[1]) for row in cursor.fetchall()}

    def _insert_or_ignore(self, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        sql = "INSERT OR IGNORE INTO webhook_deliveries (system, delivery_id, received_at) VALUES (?, ?, ?)"
        stamp = utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLAlchemy stores DateTime in SQLite
        inserted: set[tuple[str, str]] = set()
        with driver_writing(self.engine) as cursor:
            for key in keys:
                cursor.execute(sql, (*key, stamp))
                if cursor.rowcount == 1:
                    inserted.add(key)
        return inserted

    def prune_deliveries(self, older_than: datetime) -> int:
        """Forget webhook delivery ids older than any redelivery the systems would attempt."""
        with self.transaction() as conn:
            result = conn.execute(
                deliveries_table.delete().where(deliveries_table.c.received_at < older_than)
            )
            return int(result.rowcount or 0)
