"""What the ServiceNow adapter needs for a decision's timing: pre-approved standard changes (the
Change Management API from a template, else a change_request of type standard), the planned
start and end columns, escalation (assignment group, approval group) and re-opening a record for
a fresh decision (the route's ``outcome.transitions.reopened`` path, e.g. back to New then
Assess, which cancels the old approvals and asks again)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector.core.errors import ConfigError
from connector.core.models import ApprovalRequest, Mode, OutcomeReport, ReportKind, TicketRef

from . import render
from .decide import safe
from .parse import parse_time, value

if TYPE_CHECKING:
    from .adapter import ServiceNowAdapter
    from .settings import ServiceNowRouteSettings

_SYS_ID = re.compile(r"^[0-9a-f]{32}$")


def create_values(request: ApprovalRequest, route: ServiceNowRouteSettings, values: dict[str, str]) -> None:
    """A standard change without a template is still a standard change: type=standard."""
    if (
        request.mode is Mode.STANDARD
        and route.ticket.table == "change_request"
        and not route.ticket.standard_template
    ):
        values["type"] = "standard"


def uses_template(request: ApprovalRequest, route: ServiceNowRouteSettings) -> str | None:
    return route.ticket.standard_template if request.mode is Mode.STANDARD else None


def read_window(
    adapter: ServiceNowAdapter, ticket: TicketRef, request: ApprovalRequest
) -> tuple[datetime | None, datetime | None]:
    """One read of the two columns (UTC 'YYYY-MM-DD HH:MM:SS' in value mode)."""
    route = adapter.route(request.route)
    window = route.ticket.window
    if window is None:
        raise ConfigError(f"{adapter.name}: route {request.route!r}: set ticket.window")
    record = adapter.client.read(route.ticket.table, ticket.id, ["sys_id", window.start, window.end])
    return parse_time(value(record, window.start)), parse_time(value(record, window.end))


def _group_id(adapter: ServiceNowAdapter, name: str) -> str:
    if _SYS_ID.match(name):
        return name
    rows = adapter.client.list("sys_user_group", f"name={name}", ["sys_id", "name"], limit=2, max_pages=1)
    found = [r for r in rows if value(r, "name") == name]
    if len(found) != 1:
        raise ConfigError(
            f"{adapter.name}: escalation group {name!r}: {len(found)} sys_user_group rows have that name"
        )
    return value(found[0], "sys_id")


def escalate(adapter: ServiceNowAdapter, ticket: TicketRef, report: OutcomeReport, attempt: int) -> str:
    """Reassign (assignment_group, with the work note in the same PATCH) and/or ask an approval
    group (a sysapproval_group row). A retry looks for the note's marker and the group's row."""
    route = adapter.route(report.route)
    escalation = route.escalation
    if escalation is None:
        raise ConfigError(f"{adapter.name}: route {report.route!r}: set escalation")
    table = adapter.table_of(ticket)
    journal = route.outcome.journal_field
    posted = attempt > 0 and adapter.outcome.marker_present(ticket, journal, report.report_id)
    done = [f"assignment group {escalation.assignment_group}"] if escalation.assignment_group else []
    done += [f"approval group {escalation.approval_group}"] if escalation.approval_group else []
    values: dict[str, Any] = {}
    if escalation.assignment_group:
        values["assignment_group"] = _group_id(adapter, escalation.assignment_group)
    if not posted:
        values[journal] = render.outcome_note(
            report.model_copy(update={"text": f"{report.text} Handed to {', '.join(done)}."})
        )
    if values:
        adapter.client.update(table, ticket.id, values, ["sys_id"], appends=not posted)
    if escalation.approval_group:
        group = _group_id(adapter, escalation.approval_group)
        query = f"parent={ticket.id}^assignment_group={group}"
        if not (
            safe(ticket.id)
            and adapter.client.list("sysapproval_group", query, ["sys_id"], limit=1, max_pages=1)
        ):
            adapter.client.create(
                "sysapproval_group",
                {"parent": ticket.id, "assignment_group": group, "approval": "requested"},
                ["sys_id"],
            )
    return ", ".join(done)


def reopen(adapter: ServiceNowAdapter, ticket: TicketRef, report: OutcomeReport, attempt: int) -> None:
    """The route's ``reopened`` state path with the note: the platform cancels the old approvals
    and asks again; a step the instance refuses raises, so the request keeps waiting for it."""
    route = adapter.route(report.route)
    if ReportKind.REOPENED not in route.outcome.transitions:
        raise ConfigError(f"{adapter.name}: route {report.route!r}: set outcome.transitions.reopened")
    adapter.outcome.report(ticket, report.model_copy(update={"final": True}), attempt)


def problem(adapter: ServiceNowAdapter, feature: str, route_name: str) -> str | None:
    route = adapter.routes.get(route_name)
    if route is None:
        return f"route {route_name!r} is not configured for this system"
    if feature == "escalate" and route.escalation is None:
        return "set escalation.assignment_group (or approval_group): where an escalated record goes"
    if feature == "reopen" and not route.outcome.transitions.get(ReportKind.REOPENED):
        return (
            "set outcome.transitions.reopened: the state path back to waiting, e.g. "
            "{path: ['-5', '-4']} (New cancels the old approvals, Assess asks again)"
        )
    if feature == "window" and route.ticket.window is None:
        return "set ticket.window (columns start_date / end_date by default)"
    return None
