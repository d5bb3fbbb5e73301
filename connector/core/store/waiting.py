"""The requests waiting on a system's tickets, as a poll reads them: a summary per route and
look-ups by ticket (a cycle reads the rows its search hits name, not every waiting row)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal_column, select

from connector.core.models import PendingTicket, RequestState, TicketRef
from connector.core.pending import RouteWaiting, WaitingTickets

from .base import StoreBase
from .schema import WAITING_STATE, aware, requests_table

IN_CHUNK = 500  # ticket keys or ids per IN list (well under every backend's parameter limit)

_c = requests_table.c
# the state as a literal, not a parameter: the waiting indexes hold only these rows (schema.py),
# and PostgreSQL's plan cached for a prepared statement cannot match a parameter to a predicate
_IS_WAITING = _c.state == literal_column(f"'{WAITING_STATE}'")
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
    """Waiting rows of ``system``, in no order: each look-up narrows them by an index of its own
    (an ORDER BY here would make the planner walk every waiting row in created_at order)."""
    return select(*_COLUMNS, _c.updated_at).where(
        _IS_WAITING, _c.system == system, _c.ticket_key.is_not(None)
    )


def _oldest_first(rows: Any) -> list[PendingTicket]:
    found = {row.id: _pending(row) for row in rows}
    return sorted(found.values(), key=lambda t: (t.created_at, t.request_id))


def _ticket_rows(read: Any, system: str, column: Any, values: Collection[str]) -> list[Any]:
    """Waiting rows of ``system`` whose ``column`` (ticket key or id) is one of ``values``. Asked
    by that column alone, so its own index answers (with the state and system in the query too,
    SQLite walks every waiting row by the (state, system) indexes); the rest is checked here."""
    wanted = sorted(set(values) - {""})
    rows: list[Any] = []
    for start in range(0, len(wanted), IN_CHUNK):
        query = select(*_COLUMNS, _c.updated_at, _c.state, _c.system).where(
            column.in_(wanted[start : start + IN_CHUNK])
        )
        rows += read(query).all()
    waiting = RequestState.TICKETED.value
    return [r for r in rows if r.state == waiting and r.system == system and r.ticket_key is not None]


class WaitingQueries(StoreBase):
    def waiting_tickets(self, system: str) -> list[PendingTicket]:
        """Every request waiting on a ticket of ``system``: only the columns a poll uses (no
        arguments, no rationale), oldest first."""
        return [_pending(row) for row in self._read(_waiting(system).order_by(_c.created_at, _c.id)).all()]

    def waiting(self, system: str) -> StoreWaiting:
        """The waiting requests of ``system`` behind a poll's look-ups (read on demand)."""
        return StoreWaiting(self, system)

    def waiting_routes(self, system: str) -> dict[str, RouteWaiting]:
        """Route → how many requests wait on a ticket of ``system``, and the oldest's creation
        (from the ix_requests_waiting_route index alone: a waiting request always has its
        ticket's key, so the look-ups' ``ticket_key IS NOT NULL`` is not asked here)."""
        query = (
            select(_c.route, func.count(), func.min(_c.created_at))
            .where(_IS_WAITING, _c.system == system)
            .group_by(_c.route)
        )
        return {row[0]: RouteWaiting(int(row[1]), aware(row[2])) for row in self._read(query).all()}

    def waiting_by_ticket(
        self, system: str, keys: Collection[str], ids: Collection[str]
    ) -> list[PendingTicket]:
        """The requests of ``system`` waiting on a ticket with one of these keys or ids, oldest
        first (by the ticket key and ticket id indexes)."""
        rows = _ticket_rows(self._read, system, _c.ticket_key, keys)
        return _oldest_first(rows + _ticket_rows(self._read, system, _c.ticket_id, ids))

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
        on_routes = _waiting(system).where(_c.route.in_(sorted(routes)))
        if after is None:
            return _oldest_first(self._read(on_routes.order_by(_c.created_at, _c.id).limit(limit)).all())
        # two index ranges (recorded since; the few ids to look up again), not one OR over all rows
        recent = on_routes.where(_c.updated_at > after).order_by(_c.created_at, _c.id).limit(limit)
        rows = list(self._read(recent).all())
        rows += [r for r in _ticket_rows(self._read, system, _c.ticket_id, ids) if r.route in routes]
        return _oldest_first(rows)[:limit]


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
