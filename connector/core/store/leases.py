"""Leader leases: at most one holder per name (one poller per system across replicas), taken over
only after the holder stopped renewing, and fenced by a token that grows with each new holder."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import case, or_, select, update
from sqlalchemy.engine import Connection

from connector.core.models import utcnow

from .base import StoreBase
from .schema import aware, insert_if_absent, leases_table


class LeaseQueries(StoreBase):
    def acquire_lease(self, name: str, holder: str, ttl: timedelta) -> int | None:
        """Take or renew the lease; its token while ``holder`` has it, None while another holds
        an unexpired one."""
        c = leases_table.c
        now = utcnow()
        with self.transaction() as conn:
            insert_if_absent(conn, leases_table, name=name, holder=None, until=None, token=0)
            row = conn.execute(
                update(leases_table)
                .where(c.name == name, or_(c.holder == holder, c.holder.is_(None), c.until < now))
                .values(
                    token=case((c.holder == holder, c.token), else_=c.token + 1),
                    holder=holder,
                    until=now + ttl,
                )
                .returning(c.token)
            ).first()
            return int(row[0]) if row is not None else None

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up at once (a clean shutdown): another replica takes over next tick."""
        c = leases_table.c
        with self.transaction() as conn:
            conn.execute(
                update(leases_table).where(c.name == name, c.holder == holder).values(until=None, holder=None)
            )

    def holds_lease(self, conn: Connection, name: str, holder: str, token: int) -> bool:
        """Inside a transaction: whether ``holder`` still holds ``name`` with ``token`` (fencing)."""
        c = leases_table.c
        query = select(c.holder, c.token, c.until).where(c.name == name)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            return False
        until = aware(row[2])
        return row[0] == holder and int(row[1]) == token and until is not None and until >= utcnow()

    def lease_holder(self, name: str) -> tuple[str | None, int]:
        c = leases_table.c
        row = self._read(select(c.holder, c.until, c.token).where(c.name == name)).first()
        if row is None or row[0] is None or aware(row[1]) is None or aware(row[1]) < utcnow():
            return None, int(row[2]) if row else 0
        return row[0], int(row[2])
