"""What the Jira adapter needs for a decision's timing: the planned start and end from the
route's window fields, and whether a route is configured for escalation, re-opening and windows."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from connector.core.errors import ConfigError
from connector.core.models import ApprovalRequest, TicketRef

from . import parse as p

if TYPE_CHECKING:
    from .adapter import JiraAdapter


def read_window(
    adapter: JiraAdapter, ticket: TicketRef, request: ApprovalRequest
) -> tuple[datetime | None, datetime | None]:
    """One GET of the two fields, parsed with the offsets Jira writes (date-only fields as whole
    days in ``ticket.window.timezone``)."""
    window = adapter.ticket_settings(request.route).window
    if window is None:
        raise ConfigError(f"{adapter.name}: route {request.route!r}: set ticket.window.start and .end")
    start, end = adapter.field_id(window.start), adapter.field_id(window.end)
    fields = adapter.client.issue(ticket.id or ticket.key, [start, end]).get("fields") or {}
    return (
        p.planned_time(fields.get(start), window.timezone, end=False),
        p.planned_time(fields.get(end), window.timezone, end=True),
    )


def problem(adapter: JiraAdapter, feature: str, route: str) -> str | None:
    """Why ``route`` cannot use ``feature`` on this Jira (a missing setting), or None."""
    settings = adapter.routes.get(route)
    if settings is None:
        return f"route {route!r} is not configured for this system"
    if feature == "escalate" and settings.escalation is None:
        return "set escalation.assignee (accountId on Cloud, user name on Data Center)"
    if feature == "reopen" and settings.outcome.on_reopen is None:
        return "set outcome.on_reopen: the transition back to the waiting status (e.g. Reopen)"
    if feature == "window" and (settings.ticket is None or settings.ticket.window is None):
        return "set ticket.window.start and ticket.window.end: the fields with the planned dates"
    return None
