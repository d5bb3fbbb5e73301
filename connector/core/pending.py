"""What a poll knows of the requests waiting on one system's tickets. A cycle must not read every
waiting row (10,000 waiting is an ordinary day, and a cycle runs every few seconds): an adapter
gets a summary per route (how many, the oldest) and looks up only the rows its search hits name,
plus, for systems that look new tickets up by id, those recorded since the last poll. Iterating
still gives every row, oldest first, for adapters written against the earlier plain list."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, overload

from .models import PendingTicket


@dataclass(frozen=True)
class RouteWaiting:
    """The requests waiting on one route: how many, and when the oldest was created."""

    count: int
    oldest: datetime


class WaitingTickets(Sequence[PendingTicket]):
    """The requests waiting on one system's tickets, read on demand. The look-ups answer from the
    source at the time they are made: a request decided meanwhile is no longer in them (the core
    re-checks every event against the stored state anyway)."""

    _all: list[PendingTicket] | None = None

    @abstractmethod
    def routes(self) -> dict[str, RouteWaiting]:
        """Route → its count and oldest request; empty when nothing waits."""

    @abstractmethod
    def on_tickets(self, keys: Collection[str] = (), ids: Collection[str] = ()) -> list[PendingTicket]:
        """Those waiting on a ticket whose key is in ``keys`` or whose id is in ``ids`` (a search's
        hits), oldest first."""

    @abstractmethod
    def recorded(
        self, routes: Collection[str], after: datetime | None, ids: Collection[str], limit: int
    ) -> list[PendingTicket]:
        """Those on ``routes`` whose ticket was recorded after ``after`` (every one when None) or
        whose ticket id is in ``ids``: the oldest ``limit`` of them, so the first is the oldest of
        all that match."""

    @abstractmethod
    def all(self) -> list[PendingTicket]:
        """Every waiting request, oldest first (reads them all: not for a poll's hot path)."""

    def _rows(self) -> list[PendingTicket]:
        if self._all is None:
            self._all = self.all()
        return self._all

    @overload
    def __getitem__(self, index: int) -> PendingTicket: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[PendingTicket]: ...
    def __getitem__(self, index: Any) -> Any:
        return self._rows()[index]

    def __len__(self) -> int:
        return len(self._rows())


class WaitingList(WaitingTickets):
    """A plain list of waiting requests behind the same look-ups (tests, direct adapter calls)."""

    def __init__(self, items: Iterable[PendingTicket]) -> None:
        self._all = sorted(items, key=lambda t: t.created_at)

    def routes(self) -> dict[str, RouteWaiting]:
        found: dict[str, RouteWaiting] = {}
        for t in self._rows():
            seen = found.get(t.route)
            found[t.route] = RouteWaiting(
                (seen.count if seen else 0) + 1, min(seen.oldest, t.created_at) if seen else t.created_at
            )
        return found

    def on_tickets(self, keys: Collection[str] = (), ids: Collection[str] = ()) -> list[PendingTicket]:
        keys, ids = set(keys), set(ids) - {""}
        return [t for t in self._rows() if t.ticket.key in keys or t.ticket.id in ids]

    def recorded(
        self, routes: Collection[str], after: datetime | None, ids: Collection[str], limit: int
    ) -> list[PendingTicket]:
        routes, ids = set(routes), set(ids) - {""}
        return [
            t
            for t in self._rows()
            if t.route in routes
            and (after is None or t.ticketed_at is None or t.ticketed_at > after or t.ticket.id in ids)
        ][:limit]

    def all(self) -> list[PendingTicket]:
        return list(self._rows())


def as_waiting(pending: Sequence[PendingTicket]) -> WaitingTickets:
    """The look-ups over whatever a caller handed an adapter's poll (a plain list is wrapped)."""
    return pending if isinstance(pending, WaitingTickets) else WaitingList(pending)
