"""The requests waiting on a system's tickets, as a poll reads them: a summary per route and
look-ups by ticket (a cycle reads the rows its search hits name, not every waiting row)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from connector.core.models import PendingTicket, RequestState, TicketRef
from connector.core.pending import RouteWaiting, WaitingTickets

from .base import StoreBase
from .schema import aware, requests_table

IN_CHUNK = 500  # ticket keys or ids per IN list (well under every backend's parameter limit)

_c = requests_table.c
_COLUMNS = (_c.id, _c.route, _c.ticket_system, _c.ticket_key, _c.ticket_id, _c.ticket_url, _c.created_at)


def _pending(row: Any) -> PendingTicket:
    return PendingTicket(
        request_id=row.id,
        route=row.route,
        ticket=TicketRef(
            system=row.ticket_system, key=row.ticket_key, id=row.ticket_id or "", url=row.ticket_url or ""
        ),
        created_at=aware(row.created_at),
        ticketed_at=aware(row.updated_at),  # a waiting request's row last changed when ticketed
    )


def _waiting(system: str) -> Any:
    """Waiting rows of ``system`` (the ix_requests_state_system index), oldest first."""
    return (
        select(*_COLUMNS, _c.updated_at)
        .where(_c.state == RequestState.TICKETED.value, _c.system == system, _c.ticket_key.is_not(None))
        .order_by(_c.created_at, _c.id)
    )


class WaitingQueries(StoreBase):
    def waiting_tickets(self, system: str) -> list[PendingTicket]:
        """Every request waiting on a ticket of ``system``: only the columns a poll uses (no
        arguments, no rationale), oldest first."""
        return [_pending(row) for row in self._read(_waiting(system)).all()]

    def waiting(self, system: str) -> StoreWaiting:
        """The waiting requests of ``system`` behind a poll's look-ups (read on demand)."""
        return StoreWaiting(self, system)

    def waiting_routes(self, system: str) -> dict[str, RouteWaiting]:
        """Route → how many requests wait on a ticket of ``system``, and the oldest's creation."""
        query = (
            select(_c.route, func.count(), func.min(_c.created_at))
            .where(_c.state == RequestState.TICKETED.value, _c.system == system, _c.ticket_key.is_not(None))
            .group_by(_c.route)
        )
        return {row[0]: RouteWaiting(int(row[1]), aware(row[2])) for row in self._read(query).all()}

    def waiting_by_ticket(
        self, system: str, keys: Collection[str], ids: Collection[str]
    ) -> list[PendingTicket]:
        """The requests of ``system`` waiting on a ticket with one of these keys or ids."""
        found: dict[str, PendingTicket] = {}
        for column, values in ((_c.ticket_key, sorted(set(keys))), (_c.ticket_id, sorted(set(ids) - {""}))):
            for start in range(0, len(values), IN_CHUNK):
                query = _waiting(system).where(column.in_(values[start : start + IN_CHUNK]))
                found.update((row.id, _pending(row)) for row in self._read(query).all())
        return sorted(found.values(), key=lambda t: (t.created_at, t.request_id))

    def waiting_recorded(
        self,
        system: str,
        routes: Collection[str],
        after: datetime | None,
        ids: Sequence[str],
        limit: int,
    ) -> list[PendingTicket]:
        """The oldest ``limit`` requests of ``system`` on ``routes`` whose ticket was recorded after
        ``after`` (all when None) or whose ticket id is in ``ids``."""
        query = _waiting(system).where(_c.route.in_(sorted(routes))).limit(limit)
        if after is not None:
            wanted = [_c.updated_at > after]
            ids = sorted(set(ids) - {""})
            if ids:
                wanted.append(_c.ticket_id.in_(ids))
            query = query.where(or_(*wanted))
        return [_pending(row) for row in self._read(query).all()]


class StoreWaiting(WaitingTickets):
    """One system's waiting requests in the store. The route summary is read once (the poll's
    first look, which also tells whether anything waits); the look-ups read fresh."""

    def __init__(self, store: WaitingQueries, system: str) -> None:
        self.store = store
        self.system = system
        self._routes: dict[str, RouteWaiting] | None = None

    def routes(self) -> dict[str, RouteWaiting]:
        if self._routes is None:
            self._routes = self.store.waiting_routes(self.system)
        return self._routes

    def on_tickets(self, keys: Collection[str] = (), ids: Collection[str] = ()) -> list[PendingTicket]:
        return self.store.waiting_by_ticket(self.system, keys, ids)

    def recorded(
        self, routes: Collection[str], after: datetime | None, ids: Collection[str], limit: int
    ) -> list[PendingTicket]:
        return self.store.waiting_recorded(self.system, routes, after, list(ids), limit)

    def all(self) -> list[PendingTicket]:
        return self.store.waiting_tickets(self.system)
