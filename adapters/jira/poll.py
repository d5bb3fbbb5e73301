"""The poll: one search for every waiting approval issue of this system that left the pending
statuses within a time window. Neither the query nor the work grows with the number waiting:
the JQL names projects and statuses (from the routes that have waiting requests), and only the
issues the search returns are matched to their waiting requests, by the issue id or key the
request stored (an issue that merely carries a request's label decides nothing)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from connector.core.models import DecisionEvent, PendingTicket, PollResult, Verdict, utcnow
from connector.core.pending import WaitingTickets, as_waiting

from . import jql
from .parse import SEAL_PROPERTY

if TYPE_CHECKING:
    from .adapter import JiraAdapter

SWEEP_EVERY = timedelta(hours=1)  # a full look back at least this often
POLL_OVERLAP = timedelta(minutes=10)  # re-read the end of the previous window (index lag, drift)


def poll_window(oldest: datetime, cursor: str | None) -> tuple[int, str]:
    """Minutes to look back, and the next cursor. Normally: since the last poll plus an overlap
    (search-index lag, clock drift), so a cycle reads only recent activity, not history. At
    start-up and every SWEEP_EVERY: since the oldest waiting request plus a day, so nothing is
    ever out of reach. Only durations go into the JQL; Jira applies them to its own clock."""
    now = utcnow()
    state = _parse_cursor(cursor)
    sweep_due = state is None or (now - state["sweep"]) > SWEEP_EVERY
    if sweep_due:
        since, sweep = oldest - timedelta(days=1), now
    else:
        since, sweep = state["last"] - POLL_OVERLAP, state["sweep"]
    minutes = max(1, int((now - since).total_seconds() // 60) + 1)
    return minutes, json.dumps({"last": now.isoformat(), "sweep": sweep.isoformat()})


def _parse_cursor(cursor: str | None) -> dict[str, datetime] | None:
    """The poll cursor this adapter wrote; anything else (absent, older format) means a full sweep."""
    if not cursor:
        return None
    try:
        data = json.loads(cursor)
        return {"last": datetime.fromisoformat(data["last"]), "sweep": datetime.fromisoformat(data["sweep"])}
    except (ValueError, KeyError, TypeError):
        return None


def poll(adapter: JiraAdapter, pending: Sequence[PendingTicket], cursor: str | None) -> PollResult:
    """One search (see the module docstring); its size does not grow with the number waiting, and
    no absolute time is sent (JQL dates are minute-resolution in the user's zone)."""
    waiting = as_waiting(pending)
    summary = {r: w for r, w in waiting.routes().items() if r in adapter.routes}
    names = sorted(summary, key=lambda r: (summary[r].oldest, r))  # the oldest route's first
    routes = [adapter.route(r) for r in names]
    projects = sorted({r.ticket.project for r in routes if r.ticket})
    if not names or not projects:
        return PollResult(cursor=cursor)
    common: set[str] | None = None
    for route in routes:
        statuses = {s.strip().lower() for s in route.decision.pending}
        common = statuses if common is None else common & statuses
    pending_entries = [s for s in routes[0].decision.pending if s.strip().lower() in (common or set())]
    query = f"project in {jql.in_list(projects)} AND labels = {jql.quote(adapter.settings.label)}"
    votes = any(r in adapter.context.vote_routes for r in names)
    if pending_entries and not votes:  # quorum routes: votes come in while the issue waits
        query += f" AND status not in {jql.status_list(pending_entries)}"
    minutes, next_cursor = poll_window(min(summary[r].oldest for r in names), cursor)
    query += f" AND updated >= -{minutes}m"
    identities = adapter.service_identities()
    fields = adapter.issue_fields_read(routes)
    issues = list(adapter.client.search(query, fields, expand="changelog", properties=[SEAL_PROPERTY]))
    events = _events(adapter, waiting, issues, identities)
    return PollResult(events=events, cursor=next_cursor)


def _events(
    adapter: JiraAdapter, waiting: WaitingTickets, issues: list[dict[str, Any]], identities: frozenset[str]
) -> list[DecisionEvent]:
    """The decisions among the hits, each matched to the waiting request of its own issue."""
    found = waiting.on_tickets(
        keys=[str(i.get("key")) for i in issues if i.get("key")],
        ids=[str(i.get("id")) for i in issues if i.get("id")],
    )
    mine = [t for t in found if t.ticket.system == adapter.name and t.route in adapter.routes]
    by_key = {t.ticket.key: t for t in mine}
    by_id = {t.ticket.id: t for t in mine if t.ticket.id}
    events: list[DecisionEvent] = []
    seen: set[str] = set()
    for issue in issues:
        # only the stored ticket itself: an issue that merely carries a request's label (a
        # decoy someone labelled) decides nothing
        item = by_id.get(str(issue.get("id"))) or by_key.get(str(issue.get("key")))
        if item is None or item.request_id in seen:
            continue  # finished earlier, or not a waiting request's issue
        decision = adapter._decide(issue, adapter.route(item.route), item.route, item.request_id)
        if decision.verdict is Verdict.PENDING and not decision.votes:
            continue
        if decision.actor is not None and decision.actor.names() & identities:
            continue  # the connector's own change is never a decision
        seen.add(item.request_id)
        events.append(
            DecisionEvent(
                system=adapter.name,
                ticket_key=item.ticket.key,
                request_id=item.request_id,
                decision=decision,
                source="poll",
            )
        )
    return events
