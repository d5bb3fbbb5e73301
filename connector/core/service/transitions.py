"""The only place that changes a request's state. Each method is one transaction: the conditional
UPDATE (exactly one caller wins a race, across threads and replicas), its audit rows, and the
outbox work it creates (ticket creation, outcome report) — so nothing is visible that is not also
durable and audited. Methods are synchronous: the service calls them through ``ctx.db``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from connector.core.models import (
    ApprovalRequest,
    Mode,
    OutcomeReport,
    ReportKind,
    RequestState,
    TicketRef,
)
from connector.core.reports import duplicate_report, outcome_report, resolved_text
from connector.core.store import Store, requests_table

from .context import ServiceContext
from .transitions_timing import TimingTransitions
from .transitions_votes import VoteTransitions

log = logging.getLogger("approval_connector")

TICKET_KIND = "ticket"
REPORT_KIND = "report"
ESCALATE_KIND = "escalate"
DUPLICATE_KIND = "duplicate_ticket"  # a second ticket is told where its request is decided
# what a stale approval leaves behind: the decision, its edit, the window it was to run in
AuditEvent = tuple[str, str, dict[str, Any]]  # (event, actor, details)


class DuplicateCall(Exception):
    """The same call (same dedupe key) was stored by another caller first."""


def ticket_item_id(request_id: str) -> str:
    return f"{request_id}:{TICKET_KIND}"


FinalHook = Callable[[Connection, ApprovalRequest], None]
SubmittedHook = Callable[[Connection, ApprovalRequest, Mapping[str, str]], None]


class Transitions(TimingTransitions, VoteTransitions):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.store: Store = ctx.store
        # Called inside the transaction that makes a request final (succeeded, failed, rejected,
        # expired, in doubt, shadow): work that must follow a final outcome (e.g. resuming the
        # conversation that waits on it) is queued atomically with it, never lost in between.
        self.on_final: list[FinalHook] = []
        # Called inside the transaction that stores a new request, with the caller's context:
        # e.g. the conversation the call was made in learns of it atomically (or refuses it).
        self.on_submitted: list[SubmittedHook] = []

    def _final(self, conn: Connection, stored: ApprovalRequest) -> None:
        for hook in self.on_final:
            hook(conn, stored)

    # --- helpers ---------------------------------------------------------------------------------
    def _audit(self, conn: Connection, request_id: str, events: Sequence[AuditEvent]) -> None:
        for event, actor, details in events:
            self.store.audit.append(conn, request_id, event, actor, details)

    def enqueue_report(self, conn: Connection, report: OutcomeReport, kind: str = REPORT_KIND) -> None:
        payload = report.model_dump(mode="json")
        self.store.enqueue(conn, report.report_id, report.request_id, kind, payload)

    def _report_if_ticketed(self, conn: Connection, stored: ApprovalRequest, kind: ReportKind) -> None:
        if self.ctx.wants_ticket(stored):
            self.enqueue_report(conn, outcome_report(stored, kind))

    def seal_legacy(self) -> int:
        """Seal, once, the requests an upgrade found stored before call seals existed."""
        return self.store.seal_legacy(self.ctx.sealer.call_seal)

    # --- submission ------------------------------------------------------------------------------
    def submitted(
        self,
        request: ApprovalRequest,
        events: Sequence[AuditEvent],
        open_ticket: bool,
        context: Mapping[str, str] | None = None,
        dedupe_before: datetime | None = None,
        ticket_lease: timedelta | None = None,
    ) -> None:
        """Store a new request (durable first) with its audit rows; queue its ticket if wanted
        (with ``ticket_lease``, already leased by this worker, which opens it next).
        A request with a ``dedupe_key`` first frees the key from a request that ended before
        ``dedupe_before``; if the key is still held (a replica stored the same call first) the
        unique index refuses the insert: DuplicateCall, and nothing of this request is stored."""
        try:
            self._insert(request, events, open_ticket, context, dedupe_before, ticket_lease)
        except IntegrityError:
            if request.dedupe_key and self.store.by_dedupe_key(request.dedupe_key) is not None:
                raise DuplicateCall(request.dedupe_key) from None
            raise

    def _insert(
        self,
        request: ApprovalRequest,
        events: Sequence[AuditEvent],
        open_ticket: bool,
        context: Mapping[str, str] | None,
        dedupe_before: datetime | None,
        ticket_lease: timedelta | None,
    ) -> None:
        with self.store.transaction() as conn:
            if request.dedupe_key and dedupe_before is not None:
                self.store.release_dedupe_key(conn, request.dedupe_key, dedupe_before)
            self.store.insert_request(conn, request, events)
            for hook in self.on_submitted:
                hook(conn, request, context or {})
            if open_ticket:
                held = (self.ctx.worker_id, ticket_lease) if ticket_lease is not None else None
                self.store.enqueue(conn, ticket_item_id(request.id), request.id, TICKET_KIND, {}, held)

    def ticketed(self, request_id: str, ref: TicketRef | None, item_id: str) -> ApprovalRequest:
        """The ticket exists (SUBMITTED → TICKETED; a pre-approved standard change's record:
        SUBMITTED → APPROVED). A request that expired or was decided while the ticket was being
        made keeps its state but learns its ticket, so it can be told."""
        with self.store.transaction() as conn:
            stored = self.store.get(request_id, conn)
            if ref is not None and stored.ticket is None:
                standard = stored.mode is Mode.STANDARD
                target = RequestState.APPROVED if standard else RequestState.TICKETED
                where = {"system": ref.system, "key": ref.key, "url": ref.url}
                event: AuditEvent = ("ticketed", self.ctx.worker_id, where)
                moved = self.store.set_ticket(conn, request_id, ref, target, [event])
                stored = moved or self.store.get(request_id, conn)
                if stored.state is RequestState.EXPIRED:
                    self.enqueue_report(conn, outcome_report(stored, ReportKind.EXPIRED))
            if ref is not None and stored.ticket is not None and stored.ticket.key != ref.key:
                # two creates both landed (one answered after the other was made): the request
                # keeps its first ticket; the second is on record, and is told where to decide
                extra = {"kept": stored.ticket.key, "extra": ref.key, "system": ref.system, "url": ref.url}
                self.store.audit.append(conn, request_id, "duplicate_ticket", self.ctx.worker_id, extra)
                note = duplicate_report(stored, ref)
                payload = {"ticket": ref.model_dump(mode="json"), "report": note.model_dump(mode="json")}
                self.store.enqueue(conn, note.report_id, request_id, DUPLICATE_KIND, payload)
                log.warning(
                    "request %s: a second ticket %s was made; it keeps %s",
                    request_id,
                    ref.key,
                    stored.ticket.key,
                )
            self.store.outbox_delivered(conn, item_id)
            return stored

    # --- outbox bookkeeping ----------------------------------------------------------------------
    def delivered(self, item_id: str, token: int | None = None) -> bool:
        with self.store.transaction() as conn:
            return self.store.outbox_delivered(conn, item_id, token)

    def reported(
        self, item_id: str, request_id: str, kind: str, ticket_key: str, token: int | None = None
    ) -> bool:
        """An outcome report landed on the ticket: mark it delivered and audit it, together —
        once: a holder whose lease was taken over records nothing (its successor does)."""
        with self.store.transaction() as conn:
            if not self.store.outbox_delivered(conn, item_id, token):
                return False
            self.store.audit.append(
                conn, request_id, "reported", self.ctx.worker_id, {"report": kind, "ticket": ticket_key}
            )
            return True

    def report_skipped(
        self, item_id: str, request: ApprovalRequest, kind: str, token: int | None = None
    ) -> bool:
        with self.store.transaction() as conn:
            if not self.store.outbox_delivered(conn, item_id, token):
                return False
            self.store.audit.append(
                conn,
                request.id,
                "report_skipped",
                self.ctx.worker_id,
                {"report": kind, "state": request.state.value, "why": "the request no longer waits"},
            )
            return True

    # --- decisions -------------------------------------------------------------------------------
    def decided(
        self,
        request_id: str,
        target: RequestState,
        updates: dict[str, Any],
        events: Sequence[AuditEvent],
        verdict: str,
        notes: Sequence[OutcomeReport] = (),
    ) -> ApprovalRequest | None:
        """TICKETED → APPROVED / REJECTED / SHADOW; None when another caller decided first.
        ``notes`` (the diff of an approved edit) go to the ticket with the decision."""
        with self.store.transaction() as conn:
            waiting = [RequestState.TICKETED]
            stored = self.store.moved(conn, request_id, waiting, target, audit=events, **updates)
            if stored is None:
                return None
            for note in notes:
                self.enqueue_report(conn, note)
            if target is not RequestState.APPROVED:
                kind = ReportKind.SHADOW if target is RequestState.SHADOW else ReportKind.REJECTED
                self.enqueue_report(conn, outcome_report(stored, kind, verdict))
                self._final(conn, stored)
            return stored

    def refused(
        self, request: ApprovalRequest, signature: str, report: OutcomeReport, event: AuditEvent
    ) -> bool:
        """Record once that a decision did not count, and say so on the ticket. False when this
        exact decision was refused before (here or on a replica)."""
        with self.store.transaction() as conn:
            if not self.store.mark_refused(conn, request.id, signature):
                return False
            self._audit(conn, request.id, [event])
            self.enqueue_report(conn, report)
            return True

    # --- execution -------------------------------------------------------------------------------
    def claimed(self, request_id: str, lease: timedelta) -> ApprovalRequest | None:
        """APPROVED → EXECUTING for exactly one worker: the request as claimed, or None."""
        return self.store.claim(request_id, self.ctx.worker_id, lease)

    def unclaimed(self, claimed: ApprovalRequest, why: str) -> bool:
        """EXECUTING → APPROVED again under this worker's own claim, for a claim whose run never
        began (the run was cancelled while the claim was being written): the request runs at
        once, here or on another replica, instead of waiting out its lease to be declared in
        doubt. False if the claim is no longer this worker's (nothing is written then)."""
        me, nobody = self.ctx.worker_id, {"claimed_by": None, "lease_until": None}
        audit: list[AuditEvent] = [("unclaimed", me, {"why": why})]
        executing, approved = [RequestState.EXECUTING], RequestState.APPROVED
        with self.store.transaction() as conn:
            move, head = self.store.transition, claimed._audit_head
            # this claim, not just this worker's: a later claim of the same worker (another
            # event loop of this process, after recovery) has its own lease and is left alone
            same = [requests_table.c.lease_until == claimed.lease_until]
            guards = {"only_if": same, "held_by": me, "head": head}
            return move(conn, claimed.id, executing, approved, audit=audit, **guards, **nobody)

    def finished(
        self,
        request: ApprovalRequest,
        state: RequestState,
        result: str | None,
        error: str | None,
    ) -> ApprovalRequest:
        """EXECUTING → SUCCEEDED / FAILED / IN_DOUBT (the tool could not tell whether it took
        effect), only under this worker's own claim (``request`` is the claimed request as this
        worker holds it). A run that lost its claim meanwhile (declared in doubt elsewhere) still
        records what happened and says so on the ticket, without moving it."""
        kinds = {RequestState.SUCCEEDED: ReportKind.SUCCEEDED, RequestState.IN_DOUBT: ReportKind.IN_DOUBT}
        kind = kinds.get(state, ReportKind.FAILED)
        details = {"result": (result or "")[:2000], **({"error": error} if error else {})}
        details["executed_digest"] = request.approved_digest or request.arguments_digest  # what ran
        me = self.ctx.worker_id
        with self.store.transaction() as conn:
            moved = self.store.transition(
                conn,
                request.id,
                [RequestState.EXECUTING],
                state,
                held_by=me,
                result=result,
                error=error,
                lease_until=None,
                audit=[(state.value.lower(), me, details)],
                head=request._audit_head,
            )
            if not moved:
                stored = self.store.get(request.id, conn)
                landed = (stored.state, stored.claimed_by, stored.result, stored.error)
                if landed == (state, me, result, error):
                    return stored  # this very finish landed before (its answer was lost): once only
                log.error("request %s: finished after losing its claim; recording the result", request.id)
                self.store.audit.append(
                    conn,
                    request.id,
                    "finished_after_claim_lost",
                    me,
                    {"outcome": state.value.lower(), **details},
                )
                late = stored.model_copy(update={"result": result, "error": error})
                report = outcome_report(late, kind).model_copy(
                    update={"report_id": f"{request.id}:late-{kind.value}", "final": False}
                )
                if self.ctx.wants_ticket(stored):
                    self.enqueue_report(conn, report)
                return stored
            # what the row now holds, without reading it back (this worker held the claim)
            stored = request.model_copy(
                update={"state": state, "result": result, "error": error, "lease_until": None}
            )
            self._report_if_ticketed(conn, stored, kind)
            self._final(conn, stored)
            return stored

    def recovered(self, stale: ApprovalRequest, now: datetime) -> RequestState | None:
        """A claim past its lease: idempotent tools go back to APPROVED (run again), anything else
        is IN_DOUBT for a human. The UPDATE re-checks that the claim is still the stale one seen,
        so a replica that re-claimed the request meanwhile keeps it."""
        c = requests_table.c
        still_stale = [
            c.claimed_by == stale.claimed_by if stale.claimed_by else c.claimed_by.is_(None),
            or_(c.lease_until.is_(None), c.lease_until < now),
        ]
        target = RequestState.APPROVED if stale.idempotent else RequestState.IN_DOUBT
        values = {"claimed_by": None} if stale.idempotent else {}
        event = "reclaimed" if stale.idempotent else "in_doubt"
        with self.store.transaction() as conn:
            if not self.store.transition(
                conn,
                stale.id,
                [RequestState.EXECUTING],
                target,
                only_if=still_stale,
                lease_until=None,
                audit=[(event, self.ctx.worker_id, {"previous_worker": stale.claimed_by})],
                **values,
            ):
                return None
            if target is RequestState.IN_DOUBT:
                stored = self.store.get(stale.id, conn)
                self._report_if_ticketed(conn, stored, ReportKind.IN_DOUBT)
                self._final(conn, stored)
            return target

    # --- a human settles what happened -----------------------------------------------------------
    def resolved(
        self,
        request_id: str,
        target: RequestState,
        actor: str,
        details: dict[str, Any],
        result: str | None = None,
        error: str | None = None,
    ) -> ApprovalRequest | None:
        """IN_DOUBT → SUCCEEDED (it did run), FAILED (it did not, or failed), or APPROVED (it did
        not run: run it again). Audited with who said so, and reported on the ticket."""
        with self.store.transaction() as conn:
            values: dict[str, Any] = {"claimed_by": None, "lease_until": None}
            if target is not RequestState.APPROVED:
                values.update(result=result, error=error)
            if not self.store.transition(conn, request_id, [RequestState.IN_DOUBT], target, **values):
                return None
            self.store.audit.append(conn, request_id, "resolved", actor, details)
            stored = self.store.get(request_id, conn)
            if target is not RequestState.APPROVED:
                kind = ReportKind.SUCCEEDED if target is RequestState.SUCCEEDED else ReportKind.FAILED
                report = outcome_report(stored, kind).model_copy(
                    update={
                        "report_id": f"{request_id}:resolved-{kind.value}",
                        "text": resolved_text(stored, actor),
                    }
                )
                if self.ctx.wants_ticket(stored):
                    self.enqueue_report(conn, report)
                self._final(conn, stored)
            return stored

    # --- integrity -------------------------------------------------------------------------------
    def tampered(
        self, request_id: str, from_states: Sequence[RequestState], reason: str, actor: str
    ) -> ApprovalRequest | None:
        """The stored call, or the ticket that approved it, no longer matches what the approver
        saw: the request ends TAMPERED (never runs), audited, and the ticket is told."""
        with self.store.transaction() as conn:
            if not self.store.transition(
                conn, request_id, from_states, RequestState.TAMPERED, error=reason, lease_until=None
            ):
                return None
            self.store.audit.append(conn, request_id, "tamper_detected", actor, {"reason": reason})
            stored = self.store.get(request_id, conn)
            self._report_if_ticketed(conn, stored, ReportKind.TAMPERED)
            self._final(conn, stored)
            return stored

    # --- expiry ----------------------------------------------------------------------------------
    def expired(self, request_id: str) -> ApprovalRequest | None:
        """SUBMITTED / TICKETED → EXPIRED; None when the request was no longer waiting."""
        with self.store.transaction() as conn:
            moved = self.store.transition(
                conn, request_id, [RequestState.SUBMITTED, RequestState.TICKETED], RequestState.EXPIRED
            )
            if not moved:
                return None
            stored = self.store.get(request_id, conn)
            self.store.audit.append(
                conn,
                request_id,
                "expired",
                "scheduler",
                {"deadline": stored.deadline.isoformat() if stored.deadline else None},
            )
            if stored.ticket is not None:
                self.enqueue_report(conn, outcome_report(stored, ReportKind.EXPIRED))
            self._final(conn, stored)
            return stored
