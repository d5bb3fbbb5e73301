"""People's comments on an approval issue, for the conversation waiting on it (approvers'
questions); the connector's own comments never count."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector.core.models import ApprovalRequest, Question, TicketRef

from . import parse as p

if TYPE_CHECKING:
    from .adapter import JiraAdapter


def comment_questions(
    adapter: JiraAdapter, ticket: TicketRef, request: ApprovalRequest, since: datetime | None
) -> list[Question]:
    """People's comments on the issue since ``since`` (never the connector's own), authors as
    Jira names them (accountId / key), with their groups when the route's approvers use groups."""
    own = adapter.service_identities()
    groups_wanted = adapter.context.needs_groups(request.route)
    users: dict[str, Any] = {}
    found = []
    for comment in adapter.client.comments(ticket.id or ticket.key):
        actor = p.actor_from_user(comment.get("author"))
        if actor is None or actor.names() & own:
            continue
        created = p.parse_time(comment.get("created"))
        if since is not None and created is not None and created < since:
            continue
        if groups_wanted:
            if actor.id not in users:
                users[actor.id] = adapter.client.user(actor.id)
            actor = p.with_groups(actor, users[actor.id])
        found.append(
            Question(
                id=str(comment.get("id")),
                actor=actor,
                text=str(comment.get("body") or ""),
                asked_at=created,
            )
        )
    return found
