"""Approve with edits and votes, as Jira shows them.

Edits: the route's ``decision.arguments_field`` (a multi-line text custom field the connector
owns) holds the proposed arguments as JSON from creation; who last changed it, and when, is the
changelog entry of that field (an edit the changelog does not explain is not trusted).

Votes (quorum routes): on plain Jira a status cannot be entered twice by different people, so an
approver votes with a comment whose first line is ``decision.vote_approve`` (default
``/approve``) or ``vote_reject`` (``/reject``); the move into an approved or rejected status also
counts as its author's vote. A vote comment that someone other than its author edited is no vote.
With ``mode: jsm``, the votes are the JSM approval's ``approvers`` and their ``approverDecision``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connector.core.arguments_text import parse_edit
from connector.core.models import Actor, Verdict, Vote

from . import parse as p
from .settings import DecisionSettings


def field_change(
    histories: Iterable[Mapping[str, Any]], field_id: str, name: str
) -> Mapping[str, Any] | None:
    """The newest changelog entry that changed the field (by id, or by name on older servers)."""
    for history in sorted(histories, key=p._history_sort_key, reverse=True):
        for item in history.get("items") or []:
            if item.get("fieldId") == field_id or (not item.get("fieldId") and item.get("field") == name):
                return history
    return None


def edit_update(
    issue: Mapping[str, Any], field_id: str, name: str, histories: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """TicketDecision fields for the arguments the field holds and who last changed them."""
    text = (issue.get("fields") or {}).get(field_id)
    arguments, problem = parse_edit(text, f"field {name or field_id}")
    if arguments is None and problem is None:
        return {}
    history = field_change(histories, field_id, name)
    return {
        "edited_arguments": arguments,
        "edit_problem": problem,
        "edit_needs_author": True,
        "edited_by": p.actor_from_user(history.get("author")) if history else None,
        "edited_at": p.parse_time(history.get("created")) if history else None,
    }


def _comment_vote(comment: Mapping[str, Any], decision: DecisionSettings) -> Vote | None:
    body = comment.get("body")
    if not isinstance(body, str) or not body.strip():
        return None
    first = p.vote_word(body)
    verdicts = {p.vote_word(decision.vote_approve): Verdict.APPROVED}
    verdicts[p.vote_word(decision.vote_reject)] = Verdict.REJECTED
    verdict = verdicts.get(first)
    author = p.actor_from_user(comment.get("author"))
    if verdict is None or author is None:
        return None
    editor = p.actor_from_user(comment.get("updateAuthor"))
    if editor is not None and editor.id != author.id:
        return None  # someone else rewrote it: it is not the author's vote
    return Vote(
        id=f"comment:{comment.get('id')}:{verdict.value}",
        actor=author,
        verdict=verdict,
        at=p.parse_time(comment.get("created")),
    )


def plain_votes(
    issue: Mapping[str, Any], decision: DecisionSettings, histories: Iterable[Mapping[str, Any]]
) -> list[Vote]:
    """Vote comments, and the move into the current decided status, oldest first."""
    comments = (((issue.get("fields") or {}).get("comment") or {}).get("comments")) or []
    votes = [v for v in (_comment_vote(c, decision) for c in comments) if v is not None]
    status = p.status_of(issue)
    verdict = p.verdict_for(status, decision)
    if verdict in (Verdict.APPROVED, Verdict.REJECTED):
        history = p.change_into(histories, status)
        actor = p.actor_from_user(history.get("author")) if history else None
        if history and actor:
            at = p.parse_time(history.get("created"))
            votes.append(Vote(id=f"status:{history.get('id')}", actor=actor, verdict=verdict, at=at))
    return sorted(votes, key=lambda v: (v.at is None, v.at))


_JSM = {"approved": Verdict.APPROVED, "declined": Verdict.REJECTED}


def jsm_votes(approvals: Mapping[str, Any]) -> list[Vote]:
    """Every approver's answer on the issue's JSM approvals (oldest approval first)."""
    votes = []
    values = sorted(approvals.get("values") or [], key=lambda a: str(a.get("id")))
    for approval in values:
        entries = approval.get("approvers") or []
        at = p._dto_time(approval.get("completedDate"))  # the whole approval's, not each approver's
        for entry in entries:
            verdict = _JSM.get(str(entry.get("approverDecision") or "").lower())
            actor = p.actor_from_user(entry.get("approver"))
            if verdict is None or actor is None:
                continue
            vote_id = f"jsm:{approval.get('id')}:{actor.id}:{verdict.value}"
            votes.append(Vote(id=vote_id, actor=actor, verdict=verdict, at=at, at_is_own=len(entries) == 1))
    return votes


def with_groups(votes: list[Vote], lookup: Any) -> list[Vote]:
    """Each voter's groups (for from_groups), through the directory's cache."""
    out = []
    for vote in votes:
        actor: Actor = lookup(vote.actor)
        out.append(vote.model_copy(update={"actor": actor}))
    return out
