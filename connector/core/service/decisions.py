"""Decisions: what a ticket says, checked before it counts. Only a decision read from the ticketing
system's API (the poll, or a re-read after a hint) is applied; the approver must be allowed by the
route and be neither the requester nor the connector's own account; an edit must fit the tool's
schema. A decision that does not count is refused once, audited, and said on the ticket."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from connector.core.errors import AdapterError, UserError
from connector.core.integrity import call_problem
from connector.core.models import (
    ApprovalRequest,
    DecisionEvent,
    Mode,
    OutcomeReport,
    ReportKind,
    RequestState,
    TicketDecision,
    Verdict,
    digest_of,
    utcnow,
)
from connector.core.reports import outcome_report

from .context import ServiceContext
from .edits import diff_text, editor_problem
from .execution import Execution
from .expiry import Expiry
from .identity import Identities
from .outbox import Outbox
from .transitions import Transitions
from .votes import VoteCounter

log = logging.getLogger("approval_connector")


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def from_own_ticket(request: ApprovalRequest, decision: TicketDecision, event_key: str | None) -> bool:
    """Whether a decision was read from the request's own stored ticket: by the ticket's stable
    id (a key can be reused or moved), and, for a poll hit, the hit's key as well."""
    ticket = request.ticket
    if ticket is None or not decision.ticket_id:
        return False
    if event_key is not None and event_key != ticket.key:
        return False
    return decision.ticket_id == (ticket.id or ticket.key)


class Decisions:
    def __init__(
        self,
        ctx: ServiceContext,
        transitions: Transitions,
        execution: Execution,
        expiry: Expiry,
        outbox: Outbox,
    ) -> None:
        self.ctx = ctx
        self.transitions = transitions
        self.execution = execution
        self.expiry = expiry
        self.outbox = outbox
        self.identities = Identities(ctx)
        self.votes = VoteCounter(ctx, transitions, self.identities)

    async def handle_event(
        self, event: DecisionEvent, *, trusted: bool = False, wait: bool = False
    ) -> ApprovalRequest | None:
        """Apply a possible decision. Only the poll (``trusted``: the adapter read it from the API
        moments ago) may hand in a decision; anything else is a hint and the ticket is re-read.
        With ``wait``, an approval's run is awaited; otherwise it is only started."""
        store = self.ctx.store
        request = None
        if event.request_id:
            try:
                request = await self.ctx.db(store.get, event.request_id)
            except UserError:
                request = None
            if request is not None and request.system != event.system:
                log.warning(
                    "event from %s names request %s of %s; ignored",
                    event.system,
                    event.request_id,
                    request.system,
                )
                return None
        if request is None:
            request = await self.ctx.db(store.find_by_ticket, event.system, event.ticket_key)
        if request is None:
            log.info("event for unknown ticket %s on %s ignored", event.ticket_key, event.system)
            return None
        if request.state in (RequestState.APPROVED, RequestState.EXECUTING):
            return await self._started(request, wait)  # joins a run already under way here
        if request.state is not RequestState.TICKETED or request.ticket is None:
            return request
        decision = event.decision if trusted else None
        if decision is not None and not from_own_ticket(request, decision, event.ticket_key):
            # A hit on some other ticket (a decoy carrying this request's label or correlation id)
            # is at most a hint: only the request's own stored ticket can decide it.
            log.warning(
                "request %s: a decision on %s is not from its ticket %s; re-reading its own ticket",
                request.id,
                event.ticket_key,
                request.ticket.key,
            )
            decision = None
        if decision is None:
            try:
                decision = await self.ctx.adapter(request.system).read_decision(request.ticket, request)
            except AdapterError as exc:
                if not exc.transient:  # deleted, hidden from the account, refused: a human must look
                    await self.ctx.problem(request.id, "ticket", str(exc))
                raise
            if not from_own_ticket(request, decision, None):
                reason = f"the ticketing system answered for another ticket than {request.ticket.key}"
                stray = decision.model_copy(update={"verdict": Verdict.UNKNOWN, "status": "another ticket"})
                return await self._refuse(
                    request,
                    f"stray|{decision.ticket_id}",
                    reason,
                    ReportKind.UNAUTHORIZED,
                    stray,
                    event.source,
                )
        return await self.apply(request, decision, source=event.source, wait=wait)

    async def refresh(self, request_id: str, *, wait: bool = True) -> ApprovalRequest:
        """Re-read one ticket now (wait mode, ``approve`` on the CLI)."""
        request = await self.ctx.db(self.ctx.store.get, request_id)
        if request.ticket is None:
            return request
        event = DecisionEvent(
            system=request.system, ticket_key=request.ticket.key, request_id=request.id, source="refresh"
        )
        after = await self.handle_event(event, wait=wait)
        return after or await self.ctx.db(self.ctx.store.get, request_id)

    async def _started(
        self, request: ApprovalRequest, wait: bool, approved: ApprovalRequest | None = None
    ) -> ApprovalRequest:
        task = self.execution.start(request.id, approved)
        return await asyncio.shield(task) if wait else request

    async def refusal(self, request: ApprovalRequest, decision: TicketDecision) -> str | None:
        """Why this decision cannot count (fail closed), or None when it can."""
        if decision.verdict is Verdict.UNKNOWN:
            return f"status {decision.status!r} is not in the route's decision mapping"
        actor = decision.actor
        if actor is None:
            return "the ticketing system did not say who made the change"
        own = {n.strip().casefold() for n in await self.ctx.adapter(request.system).service_identities()}
        if own & {n.strip().casefold() for n in actor.names()}:
            return "the change was made by the connector's own account"
        if decision.verdict is Verdict.REJECTED:
            return None  # anyone but the connector may stop a call: nothing runs either way
        problem = await self.identities.requester_problem(request, actor)
        if problem:
            return problem
        if not await self.identities.allowed(self.ctx.route(request), request, actor):
            return f"{actor.display or actor.id} is not an allowed approver for route {request.route}"
        return None

    async def apply(
        self, request: ApprovalRequest, decision: TicketDecision, source: str, wait: bool = False
    ) -> ApprovalRequest:
        route = self.ctx.route(request)
        approved_at = decision.decided_at
        late = request.deadline is not None and utcnow() > request.deadline
        if route is not None and route.counts_votes and not late:
            decision, approved_at = await self.votes.count(request, route, decision)
        if decision.verdict is Verdict.PENDING:
            return request
        if late:
            return await self.expiry.expire(request.id)
        signature = "|".join(
            [
                decision.verdict.value,
                decision.status,
                decision.actor.id if decision.actor else "",
                decision.decided_at.isoformat() if decision.decided_at else "",
            ]
        )
        refusal = await self.refusal(request, decision)
        if refusal:
            return await self._refuse(request, signature, refusal, ReportKind.UNAUTHORIZED, decision, source)
        actor = decision.actor
        assert actor is not None
        who = actor.display or actor.id
        updates: dict[str, Any] = {
            "approver": actor.id,
            "approver_name": who if who != actor.id else None,
            "decision_reason": decision.reason or None,
            "decided_at": decision.decided_at or utcnow(),
        }
        events: list[tuple[str, str, dict[str, Any]]] = [
            (
                "decided",
                actor.id,
                {
                    "verdict": decision.verdict.value,
                    "status": decision.status,
                    "approver_id": actor.id,
                    "approver": who,
                    "source": source,
                    "reason": decision.reason,
                },
            )
        ]
        notes: list[OutcomeReport] = []
        if decision.verdict is Verdict.APPROVED:  # first: a tampered call is never "edited"
            problem = await self.integrity_problem(request, decision)
            if problem:
                return await self._tampered(request, problem, actor.id)
        if decision.verdict is Verdict.APPROVED and decision.edit_problem:
            why = f"{signature}|edit|{short_hash(decision.edit_problem)}"  # each new mistake is said
            return await self._refuse(
                request, why, decision.edit_problem, ReportKind.INVALID_EDIT, decision, source
            )
        edited = decision.edited_arguments
        if decision.verdict is Verdict.APPROVED and edited is not None and edited != request.arguments:
            own = await self.ctx.adapter(request.system).service_identities()
            problem = await editor_problem(self.identities, own, route, request, decision, approved_at)
            if problem:
                editor = decision.edited_by.id if decision.edited_by else ""
                why = f"{signature}|editor|{editor}|{short_hash(problem)}"
                return await self._refuse(request, why, problem, ReportKind.UNAUTHORIZED, decision, source)
            tool = self.ctx.registry.get(request.tool_name)
            try:
                if tool is None:
                    raise UserError(f"tool {request.tool_name} is not available to validate the edit")
                approved = tool.validate(edited, strict=True)
            except UserError as exc:
                why = f"{signature}|edit|{short_hash(str(exc))}"
                return await self._refuse(request, why, str(exc), ReportKind.INVALID_EDIT, decision, source)
            if approved != request.arguments:
                edit = {
                    "changed": sorted(
                        k
                        for k in {*approved, *request.arguments}
                        if approved.get(k) != request.arguments.get(k)
                    ),
                    "proposed": request.arguments,
                    "proposed_digest": request.arguments_digest,
                    "approved": approved,
                    "approved_digest": digest_of(approved),
                }
                updates["approved_arguments"] = approved
                updates["approved_digest"] = edit["approved_digest"]
                if decision.edited_by is not None:
                    edit["edited_by"] = decision.edited_by.id
                    edit["edited_at"] = decision.edited_at.isoformat() if decision.edited_at else None
                events.append(("edited", actor.id, edit))
                runs = request.mode is not Mode.SHADOW
                text = diff_text(request, approved, edit["approved_digest"], who, runs)
                notes.append(outcome_report(request, ReportKind.EDITED, text))
        if decision.verdict is Verdict.APPROVED and "approved_arguments" in updates:
            # the edit becomes the call: seal it as such
            sealed = request.model_copy(
                update={k: updates[k] for k in ("approved_arguments", "approved_digest")}
            )
            updates["seal"] = self.ctx.sealer.call_seal(sealed)
        if request.mode is Mode.SHADOW:
            target = RequestState.SHADOW
        elif decision.verdict is Verdict.APPROVED:
            target = RequestState.APPROVED
        else:
            target = RequestState.REJECTED
        stored = await self.ctx.db(
            self.transitions.decided, request.id, target, updates, events, decision.verdict.value, notes
        )
        if stored is None:  # someone else applied it first: join its run if it is ours to wait for
            current = await self.ctx.db(self.ctx.store.get, request.id)
            if wait and current.state in (RequestState.APPROVED, RequestState.EXECUTING):
                return await self._started(current, wait)
            return current
        self.ctx.recorder.decision(decision.verdict.value)
        log.info("request %s %s by %s (%s)", request.id, target.value.lower(), who, source)
        if target is RequestState.APPROVED:
            return await self._started(stored, wait, approved=stored)  # as just stored: not read again
        self.outbox.kick(request.id)
        return stored

    async def integrity_problem(self, request: ApprovalRequest, decision: TicketDecision) -> str | None:
        """Why this approval cannot vouch for the stored call (fail closed), or None."""
        problem = call_problem(self.ctx.sealer, request)
        if problem:
            return problem
        bridge = self.ctx.adapter(request.system)
        if bridge.adapter.seals_tickets and request.ticket_sealed:  # tickets from before seals: none
            return self.ctx.sealer.ticket_problem(request, decision.shown_seal)
        return None

    async def _tampered(self, request: ApprovalRequest, reason: str, actor: str) -> ApprovalRequest:
        stored = await self.ctx.db(
            self.transitions.tampered, request.id, [RequestState.TICKETED], reason, actor
        )
        if stored is None:
            return await self.ctx.db(self.ctx.store.get, request.id)
        self.ctx.recorder.decision("tampered")
        log.error("request %s refused: %s", request.id, reason)
        self.outbox.kick(request.id)
        return stored

    async def _refuse(
        self,
        request: ApprovalRequest,
        signature: str,
        reason: str,
        kind: ReportKind,
        decision: TicketDecision,
        source: str,
    ) -> ApprovalRequest:
        """Record once that a decision did not count, and say so on the ticket."""
        event = (
            "decision_refused",
            decision.actor.id if decision.actor else "",
            {
                "reason": reason,
                "verdict": decision.verdict.value,
                "status": decision.status,
                "source": source,
            },
        )
        report = outcome_report(request, kind, reason)
        if await self.ctx.db(self.transitions.refused, request, signature, report, event):
            self.ctx.recorder.decision("refused")
            log.warning("request %s: decision refused: %s", request.id, reason)
            self.outbox.kick(request.id)
        return await self.ctx.db(self.ctx.store.get, request.id)
