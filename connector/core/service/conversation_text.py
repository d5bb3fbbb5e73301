"""What a waiting conversation is told, one wording per outcome, so the model can act on it: the
real result, the approver's reason (revise and propose again), or why nothing ran and what not
to do. Also the question an approver asks, and the note a revised proposal carries."""

from __future__ import annotations

import json

from connector.core.models import ApprovalRequest, RequestState

MAX_TEXT = 4000


def _clip(text: str | None) -> str:
    text = (text or "").strip()
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " … (truncated)"


def where(request: ApprovalRequest) -> str:
    return request.ticket.key if request.ticket else f"request {request.id[:12]}"


def _who(request: ApprovalRequest) -> str:
    return request.approver_name or request.approver or "an approver"


def outcome_message(request: ApprovalRequest) -> str:
    """The gatekeeper's message that resumes a conversation with a final outcome."""
    tool, at, who = request.tool_name, where(request), _who(request)
    state = request.state
    if state is RequestState.SUCCEEDED:
        text = f"APPROVED: {who} approved {tool} in {at} and it ran once. Result: {_clip(request.result)}"
        if request.approved_arguments is not None:
            ran = json.dumps(request.approved_arguments, sort_keys=True)
            text += f"\nThe approver edited the arguments before approving; what ran: {_clip(ran)}"
        return text
    if state is RequestState.FAILED:
        return (
            f"FAILED: {who} approved {tool} in {at}, but running it failed: {_clip(request.error)}. "
            "It did not take effect. You may propose a corrected call, or report the failure."
        )
    if state is RequestState.IN_DOUBT:
        return (
            f"IN DOUBT: {tool} was approved in {at} and started, but the connector lost track of the "
            "run; it may or may not have taken effect. Do not call it again: a human is checking."
        )
    if state is RequestState.REJECTED:
        reason = _clip(request.decision_reason).rstrip(".") or "none given"
        return (
            f"REJECTED: {who} rejected {tool} in {at}. Reason: {reason}. Nothing was run. Revise your "
            f"proposal to address the reason and propose {tool} again with the revised arguments (a "
            "new request, linked to this one), or explain why you cannot."
        )
    if state is RequestState.EXPIRED:
        return (
            f"EXPIRED: nobody decided on {tool} in {at} before the deadline; nothing was run. Do not "
            "retry on your own: tell the user it still needs a decision."
        )
    if state is RequestState.WINDOW_CLOSED:
        return (
            f"WINDOW CLOSED: {who} approved {tool} in {at}, but its change window closed before it "
            "could run; nothing was run. Tell the user it needs a new request for a later window."
        )
    if state is RequestState.DENIED:
        return (
            f"DENIED: policy does not allow {tool} ({_clip(request.decision_reason)}); nothing was run "
            "and asking again will not help."
        )
    if state is RequestState.SHADOW:
        return (
            f"SHADOW MODE: {tool} in {at} was recorded for review and is never run from this route. "
            "Carry on without its effect."
        )
    return f"PENDING: {tool} in {at} is still waiting for a decision ({state.value.lower()})."


def question_message(request: ApprovalRequest, asked_by: str, text: str) -> str:
    """The gatekeeper relays an approver's question; the request keeps waiting."""
    return (
        f"QUESTION from {asked_by}, an approver of {where(request)}, about the pending "
        f"{request.tool_name} request: {_clip(text)}\n"
        "Answer the question in one message. The request is still waiting for the decision: do "
        "not call tools or propose another action now."
    )


def revision_note(rejected: ApprovalRequest) -> str:
    """Shown on a revised proposal's ticket (in its rationale): what it revises, and why."""
    reason = _clip(rejected.decision_reason) or "no reason given"
    return f"Revision of {where(rejected)}, rejected because: {reason}"


def answer_report_text(asked_by: str, question: str, answer: str) -> str:
    return f"Answer from the agent to {asked_by}'s question ({_clip(question)[:300]}):\n{_clip(answer)}"
