"""The poll: one list query per (table, decision mapping) — normally one per system — for every
waiting record of the configured table, then batched reads for the records that look decided.
Only a waiting request's own record (by its stored sys_id) can produce a decision: a record that
merely carries a request's correlation value decides nothing. A group that cannot be read (a
refusal retrying will not change) is logged and skipped; the other groups go on."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from connector.core.errors import AdapterError
from connector.core.models import DecisionEvent, PendingTicket, PollResult, Verdict, utcnow
from connector.core.pending import WaitingTickets, as_waiting

from .cursor import NEW_TICKET_MARGIN, PollCursor
from .decide import APPROVER_FIELDS, UNREADABLE, safe
from .parse import format_time, value

if TYPE_CHECKING:
    from .adapter import ServiceNowAdapter

log = logging.getLogger(__name__)

MAX_IDS_IN_QUERY = 40  # keeps the URL well under 2048 characters


class Window:
    """The part of one poll query that limits it in time (and to newly pending tickets)."""

    def __init__(self, since: str | None, ids: list[str], floor: str | None) -> None:
        self.since = since
        self.ids = ids
        self.floor = floor

    def clause(self, id_field: str) -> str:
        parts = []
        if self.since:
            parts.append(f"sys_updated_on>={self.since}")
        if self.ids:
            parts.append(f"{id_field}IN{','.join(self.ids)}")
        return ("^" + "^OR".join(parts)) if parts else ""

    def covers(self, row: Mapping[str, Any], ticket_id: str) -> bool:
        if ticket_id in self.ids:
            return True
        return bool(self.since) and value(row, "sys_updated_on") >= (self.since or "")


class Group:
    """Routes that share one query (the oldest waiting one's first: its settings are used), and
    their waiting requests as the query's hits name them."""

    def __init__(self, waiting: WaitingTickets, routes: list[str]) -> None:
        self.waiting = waiting
        self.routes = routes
        self.by_id: dict[str, PendingTicket] = {}

    def find(self, sys_ids: Iterable[str]) -> dict[str, PendingTicket]:
        """sys_id → the request waiting on that record, for the records a query returned."""
        wanted = {i for i in sys_ids if i}
        found = self.waiting.on_tickets(ids=wanted) if wanted else []
        self.by_id = {p.ticket.id: p for p in found if p.route in self.routes and p.ticket.id in wanted}
        return self.by_id


class ServiceNowPoll:
    def __init__(self, adapter: ServiceNowAdapter) -> None:
        self.adapter = adapter
        self.client = adapter.client

    def poll(self, pending: Sequence[PendingTicket], cursor: str | None) -> PollResult:
        state = PollCursor.load(cursor)
        started = utcnow()
        waiting = as_waiting(pending)
        summary = waiting.routes()
        if not summary:
            return PollResult(events=[], cursor=state.dump())
        overlap = self.adapter.settings.poll_overlap_seconds
        groups: dict[str, list[str]] = defaultdict(list)  # routes that share one query
        for name in sorted(summary, key=lambda r: (summary[r].oldest, r)):  # the oldest route's first
            route = self.adapter.route(name)
            key = f"{route.ticket.model_dump_json(exclude={'fields'})}|{route.decision.model_dump_json()}"
            groups[key].append(name)
        events: list[DecisionEvent] = []
        newest_seen: list[str] = []
        retry: set[str] = set()  # records to look up by sys_id again next time
        floors: list[str] = []
        for routes in groups.values():
            group = Group(waiting, routes)
            window = self._window(state, group, overlap)
            if window is None:
                continue
            if window.floor:
                floors.append(window.floor)
            try:
                events += self._poll_group(group, state, window, newest_seen, retry)
            except AdapterError as exc:
                if exc.transient or len(groups) == 1:
                    raise
                log.warning("%s: poll of route %s failed: %s", self.adapter.name, routes[0], exc)
        for stamp in newest_seen:
            state.advance(stamp)
        if state.newest is None and floors:
            state.newest = min(floors)  # nothing seen yet: do not slide back to "ever" next time
        state.polled_at, state.retry = started.isoformat(), retry
        state.prune(overlap)
        return PollResult(events=events, cursor=state.dump())

    def _window(self, state: PollCursor, group: Group, overlap: float) -> Window | None:
        """What the query covers: changes since the cursor (minus the overlap), plus — by sys_id,
        so clock skew cannot hide them — tickets that earlier polls did not look for (read from
        the waiting requests by when they were recorded, not by going through all of them)."""
        since = state.since(overlap)
        after = state.recorded_after() if since else None
        new = group.waiting.recorded(group.routes, after, state.retry, MAX_IDS_IN_QUERY + 1)
        if not new:  # none new; or (no cursor yet) none left waiting since the summary was read
            return Window(since, [], None) if since else None
        ids = [p.ticket.id for p in new]
        if len(ids) <= MAX_IDS_IN_QUERY and all(i and safe(i) for i in ids):
            return Window(since, ids, None)
        floor = format_time(new[0].created_at - NEW_TICKET_MARGIN)  # the oldest of them all
        since = min(since, floor) if since else floor
        return Window(since, [], floor)

    def _changed_records(
        self, group: Group, state: PollCursor, window: Window, newest_seen: list[str]
    ) -> list[Mapping[str, Any]]:
        """The waiting requests' own records that changed in the window and look decided."""
        route = self.adapter.route(group.routes[0])
        t, d = route.ticket, route.decision
        fields = self.adapter.record_fields(route)
        # Everything not known to be waiting: decisions, and values nobody mapped (which must
        # surface as UNKNOWN instead of waiting forever).
        waiting = ",".join(d.pending_values)
        if d.source == "approvers":
            corr = f"sysapproval.{t.correlation_field}"
            corr_q = (
                f"{corr}STARTSWITH{t.correlation_prefix}" if t.correlation_prefix else f"{corr}ISNOTEMPTY"
            )
            rows = list(
                self.client.list(
                    "sysapproval_approver",
                    f"{corr_q}^sysapproval.sys_class_name={t.table}{window.clause('sysapproval')}"
                    f"^stateNOT IN{waiting}^ORDERBYsys_updated_on",
                    APPROVER_FIELDS,
                )
            )
            by_id = group.find(value(row, "sysapproval") for row in rows)
            changed: set[str] = set()
            for row in rows:
                newest_seen.append(value(row, "sys_updated_on"))
                ticket_id = value(row, "sysapproval")
                # Re-check locally what the query asked: a dropped query part must not widen the result.
                if ticket_id not in by_id or not window.covers(row, ticket_id):
                    continue
                if not state.is_seen(value(row, "sys_id"), value(row, "sys_mod_count")):
                    changed.add(ticket_id)
                state.mark(value(row, "sys_id"), value(row, "sys_mod_count"), value(row, "sys_updated_on"))
            ids = sorted(i for i in changed if safe(i))
            if not ids:
                return []
            # the records themselves, once for all of them: the seal each one carries
            found = self.client.list(t.table, f"sys_idIN{','.join(ids)}", fields)
            return [r for r in found if value(r, "sys_id") in changed]
        corr_q = (
            f"{t.correlation_field}STARTSWITH{t.correlation_prefix}"
            if t.correlation_prefix
            else f"{t.correlation_field}ISNOTEMPTY"
        )
        ors = []
        if d.uses_approval:
            ors.append(f"{d.approval_field}NOT IN{waiting}")
        if d.uses_state:
            ors.append(f"{d.state_field}NOT IN{','.join(d.pending_states)}")
        rows = list(
            self.client.list(
                t.table, f"{corr_q}{window.clause('sys_id')}^{'^OR'.join(ors)}^ORDERBYsys_updated_on", fields
            )
        )
        by_id = group.find(value(row, "sys_id") for row in rows)
        records = []
        for row in rows:
            newest_seen.append(value(row, "sys_updated_on"))
            sys_id = value(row, "sys_id")
            if sys_id not in by_id or not window.covers(row, sys_id):
                continue  # not a waiting request's own record, or outside what was asked
            if state.is_seen(sys_id, value(row, "sys_mod_count")):
                continue
            state.mark(sys_id, value(row, "sys_mod_count"), value(row, "sys_updated_on"))
            records.append(row)
        return records

    def _poll_group(
        self,
        group: Group,
        state: PollCursor,
        window: Window,
        newest_seen: list[str],
        retry: set[str],
    ) -> list[DecisionEvent]:
        records = self._changed_records(group, state, window, newest_seen)
        if not records:
            return []
        name = group.routes[0]
        route = self.adapter.route(name)
        by_id = group.by_id
        decisions = self.adapter.decisions.decide(route, records, self.adapter.needs_groups(route, name))
        service = {n.lower() for n in self.adapter.service_identities()}
        quorum = name in self.adapter.context.vote_routes
        events = []
        for record in records:
            sys_id = value(record, "sys_id")
            item, decision = by_id.get(sys_id), decisions.get(sys_id)
            if (
                item is None
                or decision is None
                or (decision.verdict is Verdict.PENDING and not decision.votes)
            ):
                continue
            if decision.status.endswith(UNREADABLE):
                # look it up again next time, by sys_id: once sys_audit is readable, it is decided
                state.forget(sys_id, value(record, "sys_mod_count"))
                retry.add(sys_id)
            own = decision.actor is not None and {n.lower() for n in decision.actor.names()} & service
            if own and not (decision.votes and quorum):
                continue  # the connector's own write (e.g. it cancelled an expired record)
            # on a quorum route the core judges each vote (the connector's own never counts): a
            # last vote by its account must not hide the people's votes before it
            event = DecisionEvent(
                system=self.adapter.name,
                ticket_key=item.ticket.key,
                request_id=item.request_id,
                decision=decision,
                source="poll",
            )
            events.append(event)
        return events
