"""The text written back on tickets, one wording per outcome, so every adapter says the same."""

from __future__ import annotations

import hashlib

from connector.core.models import ApprovalRequest, OutcomeReport, ReportKind, RequestState, TicketRef

MAX_RESULT_CHARS = 1500
# Notes that leave the ticket where it is (the request goes on); REOPENED moves it back to waiting.
NOT_FINAL = frozenset(
    {
        ReportKind.UNAUTHORIZED,
        ReportKind.INVALID_EDIT,
        ReportKind.REMINDER,
        ReportKind.ESCALATED,
        ReportKind.WINDOW_WAIT,
        ReportKind.AUTO_APPROVED,
        ReportKind.EDITED,
        ReportKind.VOTE,
        ReportKind.DUPLICATE,
    }
)


def _clip(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= MAX_RESULT_CHARS else text[:MAX_RESULT_CHARS] + " … (truncated)"


def _who(request: ApprovalRequest) -> str:
    if request.approver_name and request.approver:
        return f"{request.approver_name} ({request.approver})"
    return request.approver or "an approver"


def outcome_report(request: ApprovalRequest, kind: ReportKind, detail: str = "") -> OutcomeReport:
    """Report for a request that reached a final state (or, for refusals, a note that nothing ran)."""
    tool = request.tool_name
    digest = (request.approved_digest or request.arguments_digest)[:16]
    texts = {
        ReportKind.SUCCEEDED: f"Executed {tool} (approved by {_who(request)}; arguments digest "
        f"{digest}…).\nResult: {_clip(request.result)}",
        ReportKind.FAILED: f"Approved by {_who(request)}, but {tool} failed: {_clip(request.error)}",
        ReportKind.IN_DOUBT: f"{tool} was started but "
        + (
            f"its outcome is unknown ({_clip(request.error)})."
            if request.error
            else "the connector lost track of the run (process stopped mid-run)."
        )
        + " It may or may not have taken effect: please check by hand. It will not be run again "
        "automatically.",
        ReportKind.REJECTED: f"Rejection recorded (by {_who(request)}). {tool} was not run."
        + (f"\nReason: {request.decision_reason}" if request.decision_reason else ""),
        ReportKind.EXPIRED: f"No decision before the deadline ({request.deadline:%Y-%m-%d %H:%M UTC}). "
        f"The request expired; {tool} was not run."
        if request.deadline
        else "Expired; nothing was run.",
        ReportKind.SHADOW: f"Shadow mode: decision recorded ({detail or 'seen'}); {tool} is never run "
        "from this route.",
        ReportKind.UNAUTHORIZED: f"Decision not accepted: {detail}. Nothing was run; the request is "
        "still waiting for an allowed approver.",
        ReportKind.INVALID_EDIT: f"Edited arguments refused: {detail}. Nothing was run; the request is "
        "still waiting.",
        ReportKind.WINDOW_CLOSED: f"Approved by {_who(request)}, but its change window closed before {tool} "
        f"could run ({request.error or detail}). Nothing was run; have the agent propose it again for a "
        "later window if it is still wanted.",
        ReportKind.AUTO_APPROVED: f"No decision before the deadline: {detail} {tool} runs now; the outcome "
        "follows here.",
        ReportKind.WINDOW_WAIT: detail,
        ReportKind.REOPENED: detail,
        ReportKind.REMINDER: detail,
        ReportKind.EDITED: detail,
        ReportKind.VOTE: detail,
        ReportKind.ESCALATED: detail,
        ReportKind.TAMPERED: f"Not run: {request.error or detail}. The stored call does not match what this "
        "ticket showed, so nothing was run and it never will be; check the connector's database and "
        "audit trail, and have the agent propose the action again if it is still wanted.",
    }
    final = kind not in NOT_FINAL
    suffix = "" if final else ":" + hashlib.sha256(detail.encode()).hexdigest()[:12]
    return OutcomeReport(
        report_id=f"{request.id}:{kind.value}{suffix}",
        request_id=request.id,
        route=request.route,
        kind=kind,
        text=texts[kind],
        final=final,
    )


def note(
    request: ApprovalRequest, kind: ReportKind, report_id: str, text: str, mentions: list[str] | None = None
) -> OutcomeReport:
    """A note that leaves the ticket where it is (``kind`` is one of NOT_FINAL)."""
    return OutcomeReport(
        report_id=report_id,
        request_id=request.id,
        route=request.route,
        kind=kind,
        text=text,
        final=False,
        mentions=mentions or [],
    )


def duplicate_report(request: ApprovalRequest, extra: TicketRef) -> OutcomeReport:
    """What a second ticket made for ``request`` says (two creates both landed, one answered
    late): the request is decided on its own ticket only, so nobody approves here in vain."""
    kept = request.ticket.key if request.ticket else "the request's first ticket"
    text = (
        f"This ticket duplicates {kept}, opened for the same request ({request.tool_name}): the "
        f"connector made two after an answer from this system was lost. The request is decided on "
        f"{kept} only; a decision on this ticket is not acted on. Please close this one."
    )
    kind = ReportKind.DUPLICATE
    return note(request, kind, f"{request.id}:{kind.value}:{extra.key}", text)


def resolved_text(request: ApprovalRequest, actor: str) -> str:
    """What the ticket is told when a human settles an IN_DOUBT request."""
    if request.state is RequestState.SUCCEEDED:
        return (
            f"{actor} checked and confirmed that {request.tool_name} did run (it was in doubt after the "
            f"connector lost track of the run). Result: {request.result or '(not recorded)'}"
        )
    return f"{actor} checked: {request.tool_name} {request.error}. It will not be run again."
