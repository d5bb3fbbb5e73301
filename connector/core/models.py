"""The records every part of the connector exchanges; none of them knows a ticketing system."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from connector.core.clock import utcnow  # the one "now" (tests fast-forward it); re-exported here


def canonical_json(value: Any) -> str:
    """One spelling per value, so the digest of what was approved can be recomputed anywhere."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest_of(arguments: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(arguments).encode("utf-8")).hexdigest()


def dedupe_digest(scope: str, tool_name: str, arguments_digest: str) -> str:
    """The key a repeated call is recognised by: who asks (the caller's scope), which tool, and
    the digest of the validated arguments (so reordered keys are the same call)."""
    return hashlib.sha256(canonical_json(["dedupe", scope, tool_name, arguments_digest]).encode()).hexdigest()


class RequestState(str, Enum):
    # stored; ticket not created yet (creation retried by the outbox), or being re-opened for a
    # fresh decision after its approval went stale (valid_for)
    SUBMITTED = "SUBMITTED"
    TICKETED = "TICKETED"  # ticket exists, waiting for a decision
    APPROVED = "APPROVED"  # verified approval recorded; claimable (inside its change window, if any)
    EXECUTING = "EXECUTING"  # claimed by one executor
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    IN_DOUBT = "IN_DOUBT"  # executor vanished mid-run; a human must check
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    DENIED = "DENIED"  # refused by policy; never ticketed
    SHADOW = "SHADOW"  # shadow mode: ticket only, decided or not, never runs
    TAMPERED = "TAMPERED"  # the stored call or its ticket no longer matches what was approved
    WINDOW_CLOSED = "WINDOW_CLOSED"  # approved, but its change window closed before it could run

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {
        RequestState.SUCCEEDED,
        RequestState.FAILED,
        RequestState.IN_DOUBT,
        RequestState.REJECTED,
        RequestState.EXPIRED,
        RequestState.DENIED,
        RequestState.SHADOW,
        RequestState.TAMPERED,
        RequestState.WINDOW_CLOSED,
    }
)
WAITING_STATES = frozenset({RequestState.SUBMITTED, RequestState.TICKETED})


class Mode(str, Enum):
    GATE = "gate"  # a human decides in the ticketing system
    AUTO = "auto"  # runs at once; a ticket is opened as a record when the route says so
    SHADOW = "shadow"  # ticket opened, decision recorded, call never runs
    DENY = "deny"  # refused outright
    STANDARD = "standard"  # pre-approved standard change: its ticket is opened as the record, then it runs


class Verdict(str, Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    UNKNOWN = "unknown"  # a status the decision mapping does not know: fail closed


class TicketRef(BaseModel):
    """Where a request's ticket lives. ``key`` is what humans see (OPS-42, CHG0030001, LOCAL-7)."""

    model_config = ConfigDict(frozen=True)

    system: str
    key: str
    id: str = ""
    url: str = ""


class Actor(BaseModel):
    """Who the ticketing system says acted. ``aliases`` holds every identifier that names them
    (accountId, e-mail, user name, sys_id ...) so route approver lists can use any of them."""

    model_config = ConfigDict(frozen=True)

    id: str
    display: str = ""
    aliases: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    def names(self) -> frozenset[str]:
        return frozenset({self.id, *self.aliases}) - {""}


class Vote(BaseModel):
    """One person's approve / reject as the ticketing system records it (a Jira vote comment or
    status change, a JSM approver, a ServiceNow approver row). ``id`` is stable on its ticket and
    changes when the vote does (the row id and its state), so each vote is recorded once."""

    model_config = ConfigDict(frozen=True)

    id: str
    actor: Actor
    verdict: Verdict  # APPROVED or REJECTED
    at: datetime | None = None
    group: str = ""  # the group the system asked (a ServiceNow group approval row), if any
    # False when ``at`` is not this voter's own moment (a JSM approval's one completion time for all
    # its approvers): good enough to tell a vote from before a re-open, not to order it against an edit
    at_is_own: bool = True


class TicketDecision(BaseModel):
    """A decision as read from the ticketing system's API (never from a webhook body)."""

    verdict: Verdict
    actor: Actor | None = None
    status: str = ""  # the raw status / state the verdict was derived from
    reason: str = ""
    decided_at: datetime | None = None
    edited_arguments: dict[str, Any] | None = None  # explicit approve-with-edits channel only
    # who changed the arguments place and when, as the system records it (Jira changelog, ServiceNow
    # sys_audit); None when the edit is the decider's own act (the desk). The core refuses an edit
    # by anyone but an allowed approver, or one made after the approval.
    edited_by: Actor | None = None
    edited_at: datetime | None = None
    edit_problem: str | None = None  # the edited text is not a JSON object: refused, nothing runs
    # the edit lives on the ticket, where anyone with edit rights can change it: with no
    # ``edited_by`` the system could not say who edited, and a changed call is refused
    edit_needs_author: bool = False
    # every vote on the ticket, for routes with a quorum (None: the system gave no votes)
    votes: list[Vote] | None = None
    ticket_id: str = ""  # the ticket it was read from, as the API answered (its stable id)
    # the seal the ticket shows (read back from a place the connector wrote at creation, not the
    # editable description): the core checks it against the stored call before anything runs;
    # None when the adapter could not read one
    shown_seal: str | None = None


class DecisionEvent(BaseModel):
    """Something may have been decided on a ticket. With ``decision`` set it was read from the API
    (poll); without, it is a hint (webhook) and the service re-reads the ticket before acting."""

    system: str
    ticket_key: str
    request_id: str | None = None
    decision: TicketDecision | None = None
    source: str = "hint"  # poll | webhook | refresh | hint: only the poll path trusts `decision`
    delivery_id: str | None = None


class PendingTicket(BaseModel):
    """What a poll needs to know about one waiting request."""

    request_id: str
    route: str
    ticket: TicketRef
    created_at: datetime
    ticketed_at: datetime | None = None  # when the connector recorded the ticket (its own clock)


class PollResult(BaseModel):
    events: list[DecisionEvent] = Field(default_factory=list)
    cursor: str | None = None  # opaque to the core; handed back on the next poll


class Question(BaseModel):
    """A comment or work note on a ticket, as read from the ticketing system's API: who wrote it
    (as the system names them, like a decision's actor) and what. The core decides whether it is
    a question for the waiting conversation (prefix, allowed approver); adapters return every
    comment except the connector's own."""

    id: str  # unique on its ticket: the comment / journal entry id
    actor: Actor
    text: str
    asked_at: datetime | None = None


class ReportKind(str, Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNAUTHORIZED = "unauthorized"  # a non-approver moved the ticket; nothing ran
    SHADOW = "shadow"
    INVALID_EDIT = "invalid_edit"
    TAMPERED = "tampered"  # the stored call or the ticket's seal does not match: nothing ran
    ANSWER = "answer"  # a waiting conversation's answer to an approver's question (never final)
    CONVERSATION = "conversation"  # a note about the conversation behind the request (never final)
    REMINDER = "reminder"  # the approvers are reminded that the request waits (never final)
    ESCALATED = "escalated"  # the ticket was escalated: why, and to whom (never final)
    WINDOW_WAIT = "window_wait"  # approved; waits for its change window to open (never final)
    WINDOW_CLOSED = "window_closed"  # the window closed before the call could run: nothing ran
    REOPENED = "reopened"  # the approval went stale before the run: a fresh decision is needed
    AUTO_APPROVED = "auto_approved"  # a low-risk tier's deadline passed: approved by policy (never final)
    EDITED = "edited"  # approved with edits: the diff proposed -> approved (never final)
    VOTE = "vote"  # a vote of a quorum route, listed as it comes in (never final)
    DUPLICATE = "duplicate"  # on a second ticket made for one request: where it is decided (never final)


class OutcomeReport(BaseModel):
    """What the adapter writes on the ticket. ``report_id`` is unique per report: adapters put it
    in the comment so a retried delivery can tell it already landed. ``final`` asks the adapter
    to move the ticket onward (done / failed / cancelled transition) as configured."""

    report_id: str
    request_id: str
    route: str = ""  # which route's outcome settings (transitions) apply
    kind: ReportKind
    text: str
    final: bool = True
    # people to notify (the route's approver spellings, 'group:NAME' included): the adapter
    # mentions them the way its system does (a reminder)
    mentions: list[str] = Field(default_factory=list)


class Outcome(BaseModel):
    """What the agent hears. Each terminal state maps to a distinct status."""

    request_id: str
    state: RequestState
    ticket: TicketRef | None = None
    result: str | None = None
    error: str | None = None
    reason: str | None = None
    approver: str | None = None
    not_before: datetime | None = None  # an approved call waiting for its change window
    not_after: datetime | None = None

    def message(self) -> str:
        where = f" (ticket {self.ticket.key})" if self.ticket else ""
        s = self.state
        if s is RequestState.SUCCEEDED:
            return f"Approved by {self.approver or 'an approver'}{where} and executed. Result: {self.result}"
        if s is RequestState.FAILED:
            return f"Approved{where} but the call failed: {self.error}"
        if s is RequestState.REJECTED:
            reason = self.reason or "none given"
            return f"Rejected by {self.approver or 'an approver'}{where}. Reason: {reason}"
        if s is RequestState.EXPIRED:
            return f"Expired{where}: no decision before the deadline. Nothing was run."
        if s is RequestState.IN_DOUBT:
            return f"In doubt{where}: the run was interrupted; a human must check whether it happened."
        if s is RequestState.DENIED:
            return f"Denied by policy: {self.reason}. Nothing was run."
        if s is RequestState.SHADOW:
            return f"Shadow mode{where}: recorded for review, not run."
        if s is RequestState.WINDOW_CLOSED:
            return (
                f"Approved{where}, but its change window closed before it could run ({self.error}). "
                "Nothing was run."
            )
        if s is RequestState.APPROVED and self.not_before is not None and self.not_before > utcnow():
            return (
                f"Approved{where}; waiting for its change window: it runs from "
                f"{self.not_before:%Y-%m-%d %H:%M UTC}"
                + (f" until {self.not_after:%Y-%m-%d %H:%M UTC}" if self.not_after else "")
                + "."
            )
        if s is RequestState.TAMPERED:
            return (
                f"Refused{where}: the stored call no longer matches what the approver saw "
                f"({self.error}). Nothing was run."
            )
        return f"Approval pending{where}: request {self.request_id} is {s.value.lower()}."


class ApprovalRequest(BaseModel):
    """One gated tool call and everything decided about it. Only ApprovalService changes it."""

    id: str
    route: str
    system: str
    mode: Mode = Mode.GATE
    tool_name: str
    arguments: dict[str, Any]
    arguments_digest: str
    approved_arguments: dict[str, Any] | None = None  # set only by an approved edit
    approved_digest: str | None = None
    agent: str = ""
    conversation_id: str = ""
    requester: str = ""
    rationale: str = ""
    call_id: str = ""
    state: RequestState = RequestState.SUBMITTED
    deadline: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    ticket: TicketRef | None = None
    approver: str | None = None  # the identity the ticketing system gave (accountId, sys_id, name)
    approver_name: str | None = None  # how people know them, for messages
    decision_reason: str | None = None
    decided_at: datetime | None = None
    result: str | None = None
    error: str | None = None
    idempotent: bool = False
    claimed_by: str | None = None
    lease_until: datetime | None = None
    problem_kind: str | None = None  # why it is being skipped: tool / ticket / report / decision
    problem: str | None = None
    ticket_sealed: bool = True  # False only for requests stored before tickets carried seals
    # set by gates that answer a repeated call with its first request (the MCP proxy): a digest
    # of (who asks, tool, canonical arguments), unique among requests live or recently ended
    dedupe_key: str | None = None
    # timing (connector.core.timing): the change window an approved call runs in (set when its turn
    # first comes), what happens at the deadline, since when it waits for the current decision
    # and when its next reminder or escalation is due
    not_before: datetime | None = None
    not_after: datetime | None = None
    on_deadline: str | None = None
    waiting_since: datetime | None = None
    nudge_at: datetime | None = None
    seal: str = ""  # keyed MAC over the stored call (connector.core.integrity): edits in the database show
    # handed to adapters when the ticket is created (never stored): a MAC over the request id and
    # the arguments' digest, to be written where the connector alone writes and read back as
    # TicketDecision.shown_seal
    ticket_seal: str = Field(default="", exclude=True)
    # The head of the request's audit chain (rseq, hash) as this process last wrote it; never
    # stored. The next transition of a request this worker holds writes its new head in the same
    # UPDATE, on the condition that the head is still this one (else it reads it, as usual).
    _audit_head: tuple[int, str] | None = PrivateAttr(default=None)

    @property
    def arguments_to_run(self) -> dict[str, Any]:
        return self.approved_arguments if self.approved_arguments is not None else self.arguments

    def outcome(self) -> Outcome:
        return Outcome(
            request_id=self.id,
            state=self.state,
            ticket=self.ticket,
            result=self.result,
            error=self.error,
            reason=self.decision_reason,
            approver=self.approver_name or self.approver,
            not_before=self.not_before,
            not_after=self.not_after,
        )


class CheckResult(BaseModel):
    """One line of ``check-config``: what was checked, whether it is fine, and what to do if not."""

    system: str
    item: str
    ok: bool
    detail: str = ""
    warning: bool = False
