"""Jira JSON → connector records. Pure functions over payloads (tested against recorded fixtures):
status → Verdict, changelog → who made the status change, JSM approvals → decision."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any

from connector.core.errors import ConfigError
from connector.core.models import Actor, TicketDecision, Verdict

from .settings import DecisionSettings

REQUEST_LABEL_PREFIX = "acr-"
ROUTE_LABEL_PREFIX = "acr.route-"
_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_.:\-]")
# The issue entity property the connector sets when it creates an issue (in the create body, so
# it exists from the first moment): {"request": <request id>, "seal": <ticket seal>}. Hidden in
# the UI but editable by anyone with Edit issues; the seal's MAC makes an edit detectable.
SEAL_PROPERTY = "approval-connector"


def request_label(request_id: str) -> str:
    """The label that carries the request id (labels cannot hold spaces; keep them searchable)."""
    return REQUEST_LABEL_PREFIX + _LABEL_UNSAFE.sub("_", request_id)[:250]


def route_label(route: str) -> str:
    return ROUTE_LABEL_PREFIX + _LABEL_UNSAFE.sub("_", route)[:240]


def route_from_labels(labels: Iterable[str]) -> str | None:
    for label in labels or ():
        if isinstance(label, str) and label.startswith(ROUTE_LABEL_PREFIX):
            return label[len(ROUTE_LABEL_PREFIX) :]
    return None


def request_id_from_labels(labels: Iterable[str]) -> str | None:
    for label in labels or ():
        if isinstance(label, str) and label.startswith(REQUEST_LABEL_PREFIX):
            return label[len(REQUEST_LABEL_PREFIX) :]
    return None


def vote_word(text: str) -> str:
    """How a vote comment (and a configured vote word) is compared: its first line, trimmed and
    casefolded. One rule for the vote itself and for the webhook that hints at it."""
    lines = text.strip().splitlines()
    return lines[0].strip().casefold() if lines else ""


def seal_property(request_id: str, seal: str) -> dict[str, Any]:
    return {"key": SEAL_PROPERTY, "value": {"request": request_id, "seal": seal}}


def shown_seal(issue: Mapping[str, Any], request_id: str) -> str | None:
    """The seal the issue carries for this request (read with ``properties=approval-connector``);
    None when the property is gone, is not an object, or names another request."""
    value = (issue.get("properties") or {}).get(SEAL_PROPERTY)
    if not isinstance(value, Mapping) or value.get("request") != request_id:
        return None
    seal = value.get("seal")
    return seal if isinstance(seal, str) and seal else None


def created_by(issue: Mapping[str, Any]) -> Actor | None:
    """Who created the issue: ``creator`` (the reporter can be set to someone else)."""
    fields = issue.get("fields") or {}
    return actor_from_user(fields.get("creator") or fields.get("reporter"))


def parse_time(value: Any) -> datetime | None:
    """Jira timestamps ('2026-01-21T10:14:05.412+0000'); Python 3.10 cannot fromisoformat them."""
    if not isinstance(value, str) or not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class StatusInfo:
    id: str
    name: str
    category: str  # new | indeterminate | done | "" when unknown


def status_of(issue: Mapping[str, Any]) -> StatusInfo:
    status = ((issue.get("fields") or {}).get("status")) or {}
    category = (status.get("statusCategory") or {}).get("key") or ""
    return StatusInfo(str(status.get("id") or ""), str(status.get("name") or ""), str(category))


def status_matches(entries: Iterable[str], status: StatusInfo) -> bool:
    """A configured entry names a status by id or (case-insensitive) name."""
    for entry in entries:
        text = str(entry).strip()
        if status.id and text == status.id:
            return True
        if status.name and text.lower() == status.name.lower():
            return True
    return False


def verdict_for(status: StatusInfo, decision: DecisionSettings) -> Verdict:
    """Listed statuses first; then the category fallback for rejection; anything else fails closed."""
    if status_matches(decision.approved, status):
        return Verdict.APPROVED
    if status_matches(decision.rejected, status):
        return Verdict.REJECTED
    if status_matches(decision.pending, status):
        return Verdict.PENDING
    if status.category and status.category in decision.rejected_categories:
        return Verdict.REJECTED
    return Verdict.UNKNOWN


def actor_from_user(user: Mapping[str, Any] | None) -> Actor | None:
    """Cloud users are named by accountId; DC users by key/name. displayName is no identity."""
    if not user:
        return None
    account_id = user.get("accountId")
    key = user.get("key")
    name = user.get("name")
    ident = account_id or key or name
    if not ident:
        return None
    aliases = {str(v) for v in (account_id, key, name, user.get("emailAddress")) if isinstance(v, str) and v}
    return Actor(id=str(ident), display=str(user.get("displayName") or ""), aliases=frozenset(aliases))


def _history_sort_key(history: Mapping[str, Any]) -> tuple[datetime, int]:
    when = parse_time(history.get("created")) or datetime.min.replace(tzinfo=timezone.utc)
    try:
        hid = int(history.get("id") or 0)
    except (TypeError, ValueError):
        hid = 0
    return when, hid


def histories_of(issue: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(((issue.get("changelog") or {}).get("histories")) or [])


def changelog_complete(issue: Mapping[str, Any]) -> bool:
    """expand=changelog may be cut (40 histories on Cloud search); total tells."""
    changelog = issue.get("changelog")
    if not changelog:
        return False
    histories = changelog.get("histories") or []
    total = changelog.get("total")
    return total is None or len(histories) >= int(total)


def change_into(histories: Iterable[Mapping[str, Any]], status: StatusInfo) -> Mapping[str, Any] | None:
    """The newest history entry that moved the issue INTO ``status`` (order of input irrelevant)."""
    for history in sorted(histories, key=_history_sort_key, reverse=True):
        for item in history.get("items") or []:
            if item.get("field") != "status" and item.get("fieldId") != "status":
                continue
            to_id = str(item.get("to") or "")
            to_name = str(item.get("toString") or "")
            if (status.id and to_id == status.id) or (
                not to_id and status.name and to_name.lower() == status.name.lower()
            ):
                return history
    return None


def decision_from_issue(
    issue: Mapping[str, Any],
    decision: DecisionSettings,
    histories: Iterable[Mapping[str, Any]] | None = None,
    service_ids: frozenset[str] = frozenset(),
) -> TicketDecision:
    """Verdict from the current status; actor and time from the change into that status."""
    status = status_of(issue)
    verdict = verdict_for(status, decision)
    if verdict is Verdict.PENDING:
        return TicketDecision(verdict=verdict, status=status.name)
    history = change_into(histories if histories is not None else histories_of(issue), status)
    actor = actor_from_user(history.get("author")) if history else None
    decided_at = parse_time(history.get("created")) if history else None
    reason = ""
    if verdict is Verdict.REJECTED:
        reason = reason_from_issue(issue, service_ids)
    return TicketDecision(
        verdict=verdict, actor=actor, status=status.name, decided_at=decided_at, reason=reason
    )


def reason_from_issue(issue: Mapping[str, Any], service_ids: frozenset[str] = frozenset()) -> str:
    """Last human comment, else the resolution name (only when the issue came with them)."""
    fields = issue.get("fields") or {}
    comments = ((fields.get("comment") or {}).get("comments")) or []
    for comment in reversed(comments):
        author = actor_from_user(comment.get("author"))
        if author and author.names() & service_ids:
            continue
        body = comment.get("body")
        if isinstance(body, str) and body.strip():
            return body.strip()[:2000]
    resolution = fields.get("resolution") or {}
    return str(resolution.get("name") or "")


def _dto_time(value: Any) -> datetime | None:
    if isinstance(value, Mapping):
        millis = value.get("epochMillis")
        if isinstance(millis, int | float):
            return datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
        return parse_time(value.get("jira") or value.get("iso8601"))
    return None


_JSM_VERDICT = {"approved": Verdict.APPROVED, "declined": Verdict.REJECTED, "pending": Verdict.PENDING}


def decision_from_approvals(
    approvals: Mapping[str, Any], status: StatusInfo, decision: DecisionSettings
) -> TicketDecision:
    """JSM mode: the newest approval's finalDecision; the actor is the approver whose own decision
    equals it. A status moved away from pending without a completed approval fails closed."""
    values = list(approvals.get("values") or [])
    if not values:
        verdict = Verdict.PENDING if status_matches(decision.pending, status) else Verdict.UNKNOWN
        return TicketDecision(verdict=verdict, status=status.name)
    latest = max(
        values,
        key=lambda a: (
            _dto_time(a.get("createdDate")) or datetime.min.replace(tzinfo=timezone.utc),
            str(a.get("id")),
        ),
    )
    final = str(latest.get("finalDecision") or "").lower()
    verdict = _JSM_VERDICT.get(final, Verdict.UNKNOWN)
    label = f"{status.name} (approval: {final or 'none'})"
    if verdict is Verdict.PENDING:
        if not status_matches(decision.pending, status):
            return TicketDecision(verdict=Verdict.UNKNOWN, status=label)
        return TicketDecision(verdict=verdict, status=label)
    actor = None
    for entry in latest.get("approvers") or []:
        if str(entry.get("approverDecision") or "").lower() == final:
            actor = actor_from_user(entry.get("approver"))
            break
    return TicketDecision(
        verdict=verdict, actor=actor, status=label, decided_at=_dto_time(latest.get("completedDate"))
    )


def with_groups(actor: Actor, user: Mapping[str, Any]) -> Actor:
    """Add group names (and ids) from GET /user?expand=groups."""
    items = ((user.get("groups") or {}).get("items")) or []
    groups = {str(g.get("name")) for g in items if g.get("name")}
    groups |= {str(g.get("groupId")) for g in items if g.get("groupId")}
    return actor.model_copy(update={"groups": frozenset(groups)})


def planned_time(value: Any, zone_name: str | None, *, end: bool) -> datetime | None:
    """A planned start or end as Jira shows it: a date-time field with its offset
    ('2026-05-04T22:00:00.000+0200'), or a date picker's day ('2026-05-04'), which needs the
    route's time zone and means that day's start (or, for an end, the next day's start)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if len(text) == 10:
        try:
            day = datetime.strptime(text, "%Y-%m-%d").date()
        except ValueError:
            return None
        if zone_name is None:
            raise ConfigError(f"the field holds a date ({text}) without a time: set ticket.window.timezone")
        from connector.core.timing import zone
        from connector.core.windows import instant

        return instant(day + timedelta(days=1) if end else day, time(0, 0), zone(zone_name))
    moment = parse_time(text)
    return moment.astimezone(timezone.utc) if moment is not None and moment.tzinfo else None
