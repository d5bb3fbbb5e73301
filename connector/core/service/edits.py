"""Approve with edits, beyond the schema check: who made the edit and when, as the ticketing system
recorded it (an edit by someone who may not approve, or after the approval, never runs), and the
diff (proposed -> approved) said on the ticket. The arguments themselves are re-validated against
the tool's schema in ``decisions`` (one strict channel for every system)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from connector.core.models import Actor, ApprovalRequest, TicketDecision
from connector.core.settings import RouteConfig

from .identity import Identities

MAX_VALUE_CHARS = 300


async def editor_problem(
    identities: Identities,
    own: frozenset[str],
    route: RouteConfig | None,
    request: ApprovalRequest,
    decision: TicketDecision,
    approved_at: datetime | None,
) -> str | None:
    """Why the edit on the ticket cannot be the call that runs; None when it can. ``approved_at``:
    when the (first counted) approval was given; an edit after it was not what was approved."""
    editor: Actor | None = decision.edited_by
    if editor is None:
        if decision.edit_needs_author:
            return "the ticketing system does not say who edited the arguments (not readable?)"
        return None  # the edit is the decider's own act (the desk's edit-and-approve)
    who = editor.display or editor.id
    if {n.strip().casefold() for n in editor.names()} & {n.strip().casefold() for n in own}:
        return "the arguments were last edited by the connector's own account, not by an approver"
    problem = await identities.requester_problem(request, editor)
    if problem:
        return f"the arguments were edited by the requester: {problem}"
    if not await identities.allowed(route, request, editor):
        return f"the arguments were edited by {who}, who is not an allowed approver for route {request.route}"
    if approved_at is not None and decision.edited_at is not None and decision.edited_at > approved_at:
        return (
            f"the arguments were edited by {who} at {decision.edited_at:%Y-%m-%d %H:%M:%S UTC}, after the "
            f"approval at {approved_at:%Y-%m-%d %H:%M:%S UTC}; approve again after editing"
        )
    return None


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + " …"


def diff_text(
    request: ApprovalRequest, approved: dict[str, Any], approved_digest: str, who: str, runs: bool = True
) -> str:
    """The note on the ticket: each changed argument, proposed -> approved (values as JSON, so a
    model-written value reads as data, clipped), and both digests. ``runs``: False on a shadow
    route, where nothing runs."""
    then = "runs with the approved arguments" if runs else "would run with them (shadow route: nothing runs)"
    lines = [f"Approved with edits by {who}: {request.tool_name} {then}."]
    for key in sorted({*approved, *request.arguments}):
        before, after = request.arguments.get(key), approved.get(key)
        if before == after:
            continue
        old = "(absent)" if key not in request.arguments else _shown(before)
        new = "(removed)" if key not in approved else _shown(after)
        lines.append(f"- {key}: {old} -> {new}")
    lines.append(f"Digest: proposed {request.arguments_digest[:16]}… -> approved {approved_digest[:16]}…")
    return "\n".join(lines)
