"""ApprovalService: the only place where a request's state changes.

Everything else delivers events to it: the gate submits calls, the scheduler polls and retries,
webhooks and the CLI hand in hints. Each method is idempotent, so a decision seen twice (poll and
webhook, two replicas, a redelivery) is applied once and the call runs once."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from autogen_core import CancellationToken

from connector.app.config import ConnectorConfig, RouteConfig
from connector.app.metrics import Metrics
from connector.core.adapter import TicketAdapter
from connector.core.errors import AdapterError, ConfigError, RateLimitedError, UserError
from connector.core.models import (
    Actor,
    ApprovalRequest,
    DecisionEvent,
    Mode,
    OutcomeReport,
    PendingTicket,
    ReportKind,
    RequestState,
    TicketDecision,
    TicketRef,
    Verdict,
    digest_of,
    utcnow,
)
from connector.core.policy import select_route
from connector.core.redact import redact
from connector.core.registry import ToolRegistry
from connector.core.reports import outcome_report
from connector.core.store import Store
from connector.core.templates import TemplateRenderError

log = logging.getLogger("approval_connector")

TICKET_KIND = "ticket"
REPORT_KIND = "report"
MAX_RETRY_DELAY = 900.0


def new_request_id() -> str:
    return uuid.uuid4().hex


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class ApprovalService:
    def __init__(
        self,
        config: ConnectorConfig,
        store: Store,
        adapters: Mapping[str, TicketAdapter],
        registry: ToolRegistry,
        *,
        metrics: Metrics | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.adapters = dict(adapters)
        self.registry = registry
        self.metrics = metrics or Metrics()
        self.worker_id = worker_id or default_worker_id()
        self.lease = config.scheduler.lease
        self._running: set[asyncio.Task[Any]] = set()

    # ============================================================================ submission ====
    async def submit(
        self,
        tool_name: str,
        arguments: dict[str, Any],
        context: Mapping[str, str] | None = None,
        route_name: str | None = None,
    ) -> ApprovalRequest:
        """Store the call (durable first), then open its ticket. Raises UserError for arguments
        that do not fit the tool's schema: nothing is stored then."""
        entry = self.registry.require(tool_name)
        arguments = entry.validate(arguments)
        context = dict(context or {})
        route = select_route(self.config, tool_name, arguments, route_name)
        now = utcnow()
        request = ApprovalRequest(
            id=new_request_id(),
            route=route.name if route else "(none)",
            system=route.system if route else "",
            mode=route.mode if route else Mode.DENY,
            tool_name=tool_name,
            arguments=arguments,
            arguments_digest=digest_of(arguments),
            agent=context.get("agent", ""),
            conversation_id=context.get("conversation_id", ""),
            requester=context.get("requester", ""),
            rationale=context.get("rationale", ""),
            call_id=context.get("call_id", ""),
            deadline=now + route.deadline if route else None,
            created_at=now,
            updated_at=now,
            idempotent=entry.idempotent,
        )
        submitted = {
            "tool": tool_name,
            "arguments": arguments,
            "digest": request.arguments_digest,
            "route": request.route,
            "mode": request.mode.value,
            "agent": request.agent,
            "conversation_id": request.conversation_id,
            "rationale": request.rationale,
            "deadline": request.deadline.isoformat() if request.deadline else None,
        }
        if route is None or route.mode is Mode.DENY:
            reason = "no route allows this call" if route is None else f"route {route.name} denies it"
            request.state = RequestState.DENIED
            request.decision_reason = reason
            with self.store.transaction() as conn:
                self.store.insert_request(conn, request)
                self.store.audit.append(conn, request.id, "submitted", request.agent, submitted)
                self.store.audit.append(conn, request.id, "denied", "policy", {"reason": reason})
            log.info("request %s denied by policy: %s", request.id, reason)
            return request
        if route.mode is Mode.AUTO:
            request.state = RequestState.APPROVED
            request.approver = "policy:auto"
            request.decided_at = now
            with self.store.transaction() as conn:
                self.store.insert_request(conn, request)
                self.store.audit.append(conn, request.id, "submitted", request.agent, submitted)
                self.store.audit.append(conn, request.id, "auto_approved", "policy", {"route": route.name})
                if route.record_auto:
                    self.store.enqueue(conn, f"{request.id}:{TICKET_KIND}", request.id, TICKET_KIND, {})
            log.info("request %s auto-approved by route %s", request.id, route.name)
            if route.record_auto:
                await self.deliver_outbox_item(f"{request.id}:{TICKET_KIND}")
            return await self.execute(request.id)
        with self.store.transaction() as conn:
            self.store.insert_request(conn, request)
            self.store.audit.append(conn, request.id, "submitted", request.agent, submitted)
            self.store.enqueue(conn, f"{request.id}:{TICKET_KIND}", request.id, TICKET_KIND, {})
        log.info("request %s stored for %s via route %s", request.id, tool_name, route.name)
        await self.deliver_outbox_item(f"{request.id}:{TICKET_KIND}")
        return self.store.get(request.id)

    def _route(self, request: ApprovalRequest) -> RouteConfig | None:
        try:
            return self.config.route(request.route)
        except ConfigError:
            return None

    def _adapter(self, system: str) -> TicketAdapter:
        try:
            return self.adapters[system]
        except KeyError:
            raise ConfigError(f"system {system!r} is not configured") from None

    def _wants_ticket(self, request: ApprovalRequest) -> bool:
        if request.ticket is not None:
            return True
        if request.mode in (Mode.GATE, Mode.SHADOW):
            return True
        route = self._route(request)
        return bool(route and route.mode is Mode.AUTO and route.record_auto)

    def _open_ticket(self, request: ApprovalRequest, attempt: int) -> TicketRef | None:
        """Create (or, after a lost answer, find) the ticket. Runs in a worker thread."""
        if request.ticket is not None:
            return request.ticket
        adapter = self._adapter(request.system)
        if request.state in (RequestState.EXPIRED, RequestState.DENIED):
            # Open no ticket nobody can act on, but find one whose create answer was lost, so it
            # can be told the request expired instead of waiting open forever.
            return adapter.find_ticket(request) if attempt > 0 else None
        ref = adapter.find_ticket(request) if attempt > 0 else None
        if ref is None:
            ref = adapter.create_ticket(request)
        return ref

    # ============================================================================= decisions ====
    async def handle_event(self, event: DecisionEvent, *, trusted: bool = False) -> ApprovalRequest | None:
        """Apply a possible decision. Only the poll (``trusted``: the adapter read it from the API
        moments ago) may hand in a decision; anything else is a hint and the ticket is re-read."""
        request = None
        if event.request_id:
            try:
                request = self.store.get(event.request_id)
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
            request = self.store.find_by_ticket(event.system, event.ticket_key)
        if request is None:
            log.info("event for unknown ticket %s on %s ignored", event.ticket_key, event.system)
            return None
        if request.state is RequestState.APPROVED:
            return await self.execute(request.id)
        if request.state is not RequestState.TICKETED or request.ticket is None:
            return request
        decision = event.decision if trusted else None
        if decision is None:
            adapter = self._adapter(request.system)
            decision = await asyncio.to_thread(adapter.read_decision, request.ticket, request)
        return await self.apply(request, decision, source=event.source)

    async def refresh(self, request_id: str) -> ApprovalRequest:
        """Re-read one ticket now (wait mode, ``approve`` on the CLI)."""
        request = self.store.get(request_id)
        if request.ticket is None:
            return request
        event = DecisionEvent(
            system=request.system, ticket_key=request.ticket.key, request_id=request.id, source="refresh"
        )
        return await self.handle_event(event) or self.store.get(request_id)

    def _authorized(self, route: RouteConfig | None, actor: Actor) -> bool:
        if route is None:
            return False
        names = {n.lower() for n in actor.names()}
        groups = {g.lower() for g in actor.groups}
        for allowed in route.approvers:
            allowed = allowed.strip()
            if allowed == "*":
                return True
            if allowed.lower().startswith("group:"):
                if allowed[6:].strip().lower() in groups:
                    return True
            elif allowed.lower() in names:
                return True
        return False

    def _refusal(self, request: ApprovalRequest, decision: TicketDecision) -> str | None:
        """Why this decision cannot count (fail closed), or None when it can."""
        if decision.verdict is Verdict.UNKNOWN:
            return f"status {decision.status!r} is not in the route's decision mapping"
        actor = decision.actor
        if actor is None:
            return "the ticketing system did not say who made the change"
        adapter = self._adapter(request.system)
        own = {n.lower() for n in adapter.service_identities()}
        if own & {n.lower() for n in actor.names()}:
            return "the change was made by the connector's own account"
        if decision.verdict is Verdict.REJECTED:
            return None  # anyone but the connector may stop a call: nothing runs either way
        if request.requester and request.requester.lower() in {n.lower() for n in actor.names()}:
            return f"{actor.display or actor.id} requested this call and cannot approve it"
        if not self._authorized(self._route(request), actor):
            return f"{actor.display or actor.id} is not an allowed approver for route {request.route}"
        return None

    async def apply(self, request: ApprovalRequest, decision: TicketDecision, source: str) -> ApprovalRequest:
        if decision.verdict is Verdict.PENDING:
            return request
        if request.deadline and utcnow() > request.deadline:
            return await self.expire(request.id)
        refusal = self._refusal(request, decision)
        signature = "|".join(
            [
                decision.verdict.value,
                decision.status,
                decision.actor.id if decision.actor else "",
                decision.decided_at.isoformat() if decision.decided_at else "",
            ]
        )
        if refusal:
            return self._refuse(request, signature, refusal, ReportKind.UNAUTHORIZED, decision, source)
        actor = decision.actor
        assert actor is not None
        who = actor.display or actor.id
        decided = {
            "verdict": decision.verdict.value,
            "status": decision.status,
            "approver_id": actor.id,
            "approver": who,
            "source": source,
            "reason": decision.reason,
        }
        updates: dict[str, Any] = {
            "approver": actor.id,
            "approver_name": who if who != actor.id else None,
            "decision_reason": decision.reason or None,
            "decided_at": decision.decided_at or utcnow(),
        }
        edit: dict[str, Any] | None = None
        if decision.verdict is Verdict.APPROVED and decision.edited_arguments is not None:
            entry = self.registry.get(request.tool_name)
            try:
                if entry is None:
                    raise UserError(f"tool {request.tool_name} is not available to validate the edit")
                approved_args = entry.validate(decision.edited_arguments)
            except UserError as exc:
                return self._refuse(
                    request, signature + "|edit", str(exc), ReportKind.INVALID_EDIT, decision, source
                )
            if approved_args != request.arguments:
                edit = {
                    "changed": sorted(
                        k
                        for k in {*approved_args, *request.arguments}
                        if approved_args.get(k) != request.arguments.get(k)
                    ),
                    "proposed": request.arguments,
                    "proposed_digest": request.arguments_digest,
                    "approved": approved_args,
                    "approved_digest": digest_of(approved_args),
                }
                updates["approved_arguments"] = approved_args
                updates["approved_digest"] = edit["approved_digest"]
        if request.mode is Mode.SHADOW:
            target = RequestState.SHADOW
        elif decision.verdict is Verdict.APPROVED:
            target = RequestState.APPROVED
        else:
            target = RequestState.REJECTED
        with self.store.transaction() as conn:
            if not self.store.transition(conn, request.id, [RequestState.TICKETED], target, **updates):
                return self.store.get(request.id, conn)  # someone else applied it first
            self.store.audit.append(conn, request.id, "decided", actor.id, decided)
            if edit:
                self.store.audit.append(conn, request.id, "edited", actor.id, edit)
            if target is not RequestState.APPROVED:
                kind = ReportKind.SHADOW if target is RequestState.SHADOW else ReportKind.REJECTED
                stored = self.store.get(request.id, conn)
                self._enqueue_report(conn, outcome_report(stored, kind, decision.verdict.value))
        self.metrics.decisions.labels(result=decision.verdict.value).inc()
        log.info("request %s %s by %s (%s)", request.id, target.value.lower(), who, source)
        if target is RequestState.APPROVED:
            return await self.execute(request.id)
        return self.store.get(request.id)

    def _refuse(
        self,
        request: ApprovalRequest,
        signature: str,
        reason: str,
        kind: ReportKind,
        decision: TicketDecision,
        source: str,
    ) -> ApprovalRequest:
        """Record once that a decision did not count, and say so on the ticket."""
        with self.store.transaction() as conn:
            if not self.store.mark_refused(conn, request.id, signature):
                return request  # this exact decision was refused before (here or on a replica)
            self.store.audit.append(
                conn,
                request.id,
                "decision_refused",
                decision.actor.id if decision.actor else "",
                {
                    "reason": reason,
                    "verdict": decision.verdict.value,
                    "status": decision.status,
                    "source": source,
                },
            )
            self._enqueue_report(conn, outcome_report(request, kind, reason))
        self.metrics.decisions.labels(result="refused").inc()
        log.warning("request %s: decision refused: %s", request.id, reason)
        return self.store.get(request.id)

    # ============================================================================= execution ====
    async def execute(self, request_id: str) -> ApprovalRequest:
        """Run an approved call exactly once: claim, verify the digest, run, record, report."""
        request = self.store.get(request_id)
        if request.state is not RequestState.APPROVED:
            return request
        entry = self.registry.get(request.tool_name)
        if entry is None:
            log.warning(
                "request %s approved but tool %s is not available in this process; left for "
                "a process that has it",
                request.id,
                request.tool_name,
            )
            return request
        if not self.store.claim(request.id, self.worker_id, self.lease):
            return self.store.get(request.id)
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            return await self._run_claimed(self.store.get(request.id), entry)
        finally:
            if task is not None:
                self._running.discard(task)

    async def _run_claimed(self, request: ApprovalRequest, entry: Any) -> ApprovalRequest:
        arguments = request.arguments_to_run
        expected = request.approved_digest or request.arguments_digest
        if digest_of(arguments) != expected:
            return self._finish(
                request,
                RequestState.FAILED,
                error="stored arguments do not match the approved digest (altered after approval); not run",
            )
        try:
            arguments = entry.validate(arguments)
        except UserError as exc:
            return self._finish(request, RequestState.FAILED, error=f"{exc}; not run")
        heartbeat = asyncio.create_task(self._heartbeat(request.id))
        try:
            value = await entry.tool.run_json(arguments, CancellationToken(), call_id=request.id)
            result = entry.tool.return_value_as_string(value)
        except asyncio.CancelledError:
            log.warning("request %s: run cancelled mid-way; left EXECUTING for recovery", request.id)
            raise
        except Exception as exc:  # noqa: BLE001 - any tool failure is an outcome, not a crash
            return self._finish(request, RequestState.FAILED, error=redact(f"{type(exc).__name__}: {exc}"))
        finally:
            heartbeat.cancel()
        return self._finish(request, RequestState.SUCCEEDED, result=result)

    async def _heartbeat(self, request_id: str) -> None:
        """Keep the claim alive while the tool runs; one failed extension (database busy or
        failing over) must not end the heartbeat, or a long run would look abandoned."""
        interval = max(0.05, self.lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                kept = await asyncio.to_thread(
                    self.store.extend_lease, request_id, self.worker_id, self.lease
                )
            except Exception as exc:  # noqa: BLE001 - retried at the next beat, well within the lease
                log.warning("request %s: could not extend the lease (%s); retrying", request_id, exc)
                continue
            if not kept:
                log.error("request %s: claim lost while running (declared in doubt elsewhere?)", request_id)
                return

    def _finish(
        self,
        request: ApprovalRequest,
        state: RequestState,
        result: str | None = None,
        error: str | None = None,
    ) -> ApprovalRequest:
        from connector.core.store import requests_table

        kind = ReportKind.SUCCEEDED if state is RequestState.SUCCEEDED else ReportKind.FAILED
        details = {"result": (result or "")[:2000], **({"error": error} if error else {})}
        with self.store.transaction() as conn:
            moved = self.store.transition(
                conn,
                request.id,
                [RequestState.EXECUTING],
                state,
                only_if=[requests_table.c.claimed_by == self.worker_id],
                result=result,
                error=error,
                lease_until=None,
            )
            stored = self.store.get(request.id, conn)
            if not moved:
                # The claim was taken away (declared in doubt) while the tool ran. What happened is
                # still known here: record it and say so on the ticket, without moving the ticket.
                log.error("request %s: finished after losing its claim; recording the result", request.id)
                self.store.audit.append(
                    conn,
                    request.id,
                    "finished_after_claim_lost",
                    self.worker_id,
                    {"outcome": state.value.lower(), **details},
                )
                late = stored.model_copy(update={"result": result, "error": error})
                report = outcome_report(late, kind).model_copy(
                    update={"report_id": f"{request.id}:late-{kind.value}", "final": False}
                )
                if self._wants_ticket(stored):
                    self._enqueue_report(conn, report)
                return stored
            self.store.audit.append(conn, request.id, state.value.lower(), self.worker_id, details)
            if self._wants_ticket(stored):
                self._enqueue_report(conn, outcome_report(stored, kind))
        self.metrics.runs.labels(outcome=state.value.lower()).inc()
        log.info("request %s %s", request.id, state.value.lower())
        return self.store.get(request.id)

    async def run_approved(self) -> int:
        """Run approved requests nobody claimed (e.g. the deciding process stopped before)."""
        count = 0
        for request in self.store.list([RequestState.APPROVED]):
            after = await self.execute(request.id)
            count += after.state is not RequestState.APPROVED
        return count

    async def recover_stale_claims(self) -> int:
        """EXECUTING past its lease: the executor died. Idempotent tools go back to APPROVED and
        run again; anything else is IN_DOUBT for a human. Each UPDATE re-checks that the claim is
        still the stale one seen, so a replica that re-claimed the request meanwhile keeps it."""
        from sqlalchemy import or_

        from connector.core.store import requests_table

        c = requests_table.c
        count = 0
        now = utcnow()
        for request in self.store.stale_claims(now):
            still_stale = [
                c.claimed_by == request.claimed_by if request.claimed_by else c.claimed_by.is_(None),
                or_(c.lease_until.is_(None), c.lease_until < now),
            ]
            with self.store.transaction() as conn:
                if request.idempotent:
                    if self.store.transition(
                        conn,
                        request.id,
                        [RequestState.EXECUTING],
                        RequestState.APPROVED,
                        only_if=still_stale,
                        claimed_by=None,
                        lease_until=None,
                    ):
                        self.store.audit.append(
                            conn,
                            request.id,
                            "reclaimed",
                            self.worker_id,
                            {"previous_worker": request.claimed_by},
                        )
                        count += 1
                    continue
                if self.store.transition(
                    conn,
                    request.id,
                    [RequestState.EXECUTING],
                    RequestState.IN_DOUBT,
                    only_if=still_stale,
                    lease_until=None,
                ):
                    self.store.audit.append(
                        conn, request.id, "in_doubt", self.worker_id, {"previous_worker": request.claimed_by}
                    )
                    stored = self.store.get(request.id, conn)
                    if self._wants_ticket(stored):
                        self._enqueue_report(conn, outcome_report(stored, ReportKind.IN_DOUBT))
                    count += 1
                    self.metrics.runs.labels(outcome="in_doubt").inc()
                    log.warning(
                        "request %s in doubt: executor %s vanished mid-run", request.id, request.claimed_by
                    )
        if count:
            await self.run_approved()
        return count

    async def drain(self, timeout: float) -> bool:
        """Wait for runs in progress (shutdown); True when none is left."""
        pending = [t for t in self._running if t is not asyncio.current_task()]
        if not pending:
            return True
        done, still = await asyncio.wait(pending, timeout=timeout)
        return not still

    # ================================================================================ expiry ====
    async def expire(self, request_id: str) -> ApprovalRequest:
        with self.store.transaction() as conn:
            moved = self.store.transition(
                conn, request_id, [RequestState.SUBMITTED, RequestState.TICKETED], RequestState.EXPIRED
            )
            if not moved:
                return self.store.get(request_id, conn)
            stored = self.store.get(request_id, conn)
            self.store.audit.append(
                conn,
                request_id,
                "expired",
                "scheduler",
                {"deadline": stored.deadline.isoformat() if stored.deadline else None},
            )
            if stored.ticket is not None:
                self._enqueue_report(conn, outcome_report(stored, ReportKind.EXPIRED))
        log.info("request %s expired", request_id)
        return self.store.get(request_id)

    async def expire_due(self) -> int:
        count = 0
        for request in self.store.due_for_expiry(utcnow()):
            after = await self.expire(request.id)
            count += after.state is RequestState.EXPIRED
        return count

    # ================================================================================== poll ====
    async def poll_once(self, systems: list[str] | None = None) -> int:
        """One query per system for all its waiting tickets; returns decisions applied."""
        applied = 0
        for name, adapter in self.adapters.items():
            if systems and name not in systems:
                continue
            applied += await self._poll_system(name, adapter)
        await self.run_approved()
        return applied

    async def _poll_system(self, name: str, adapter: TicketAdapter) -> int:
        waiting = [r for r in self.store.list([RequestState.TICKETED], system=name) if r.ticket]
        if not waiting:
            self.store.save_cursor(name, self.store.cursor(name)[0])
            return 0
        pending = [
            PendingTicket(request_id=r.id, route=r.route, ticket=r.ticket, created_at=r.created_at)
            for r in waiting
            if r.ticket is not None
        ]
        cursor, _ = self.store.cursor(name)
        started = asyncio.get_running_loop().time()
        try:
            result = await asyncio.to_thread(adapter.poll, pending, cursor)
        except AdapterError as exc:
            self.metrics.poll_errors.labels(system=name).inc()
            self.store.save_cursor(name, cursor, error=str(exc))
            log.warning("poll of %s failed: %s", name, exc)
            return 0
        finally:
            self.metrics.poll_duration.labels(system=name).observe(
                asyncio.get_running_loop().time() - started
            )
        applied = 0
        failed = False
        for event in result.events:
            event = event.model_copy(update={"system": name, "source": "poll"})
            try:
                after = await self.handle_event(event, trusted=True)
            except AdapterError as exc:
                failed = True
                log.warning("decision on %s not applied yet: %s", event.ticket_key, exc)
                continue
            applied += after is not None and after.state is not RequestState.TICKETED
        # Advance the cursor only when every event was handled, so a decision that failed to apply
        # is fetched again next cycle (applying is idempotent; a second look costs nothing).
        self.store.save_cursor(name, cursor if failed else result.cursor)
        return applied

    # ================================================================================ outbox ====
    def _enqueue_report(self, conn: Any, report: OutcomeReport) -> None:
        self.store.enqueue(
            conn, report.report_id, report.request_id, REPORT_KIND, report.model_dump(mode="json")
        )

    async def process_outbox(self, limit: int = 100) -> int:
        """Deliver due ticket creations and outcome reports; failures are retried with backoff."""
        delivered = 0
        for item in self.store.due_outbox(utcnow(), limit):
            if await self._deliver(item):
                delivered += 1
        return delivered

    async def deliver_outbox_item(self, item_id: str) -> bool:
        for item in self.store.outbox_for(item_id.split(":")[0]):
            if item["id"] == item_id and item["delivered_at"] is None:
                return await self._deliver(item)
        return False

    async def _deliver(self, item: dict[str, Any]) -> bool:
        if not self.store.lease_outbox(item, timedelta(seconds=120)):
            return False  # another worker is on it
        attempt = int(item["attempts"])  # as before this lease: > 0 when an earlier try may have landed
        request = self.store.get(item["request_id"])
        try:
            if item["kind"] == TICKET_KIND:
                ref = await asyncio.to_thread(self._open_ticket, request, attempt)
                with self.store.transaction() as conn:
                    if ref is not None and request.ticket is None:
                        self.store.set_ticket(conn, request.id, ref)
                        self.store.audit.append(
                            conn,
                            request.id,
                            "ticketed",
                            self.worker_id,
                            {"system": ref.system, "key": ref.key, "url": ref.url},
                        )
                        stored = self.store.get(request.id, conn)
                        if stored.state is RequestState.EXPIRED:  # expired while the ticket was made
                            self._enqueue_report(conn, outcome_report(stored, ReportKind.EXPIRED))
                    self.store.outbox_delivered(conn, item["id"])
                if ref is not None:
                    log.info("request %s ticketed as %s", request.id, ref.key)
            else:
                report = OutcomeReport.model_validate_json(item["payload"])
                if request.ticket is None:
                    if self._ticket_pending(request):
                        raise _NotYet("ticket not created yet")
                    with self.store.transaction() as conn:
                        self.store.outbox_delivered(conn, item["id"])
                    return True
                adapter = self._adapter(request.ticket.system)
                await asyncio.to_thread(adapter.report, request.ticket, report, attempt)
                with self.store.transaction() as conn:
                    self.store.outbox_delivered(conn, item["id"])
                    self.store.audit.append(
                        conn,
                        request.id,
                        "reported",
                        self.worker_id,
                        {"report": report.kind.value, "ticket": request.ticket.key},
                    )
            return True
        except (AdapterError, ConfigError, TemplateRenderError, _NotYet) as exc:
            delay = self._retry_delay(attempt, exc)
            self.store.outbox_failed(item["id"], attempt + 1, utcnow() + timedelta(seconds=delay), str(exc))
            log.warning(
                "%s for request %s failed (attempt %d, retry in %.0fs): %s",
                item["kind"],
                request.id,
                attempt + 1,
                delay,
                exc,
            )
            return False
        except Exception as exc:
            delay = self._retry_delay(attempt, exc)
            self.store.outbox_failed(
                item["id"], attempt + 1, utcnow() + timedelta(seconds=delay), f"{type(exc).__name__}: {exc}"
            )
            log.exception("%s for request %s crashed; will retry", item["kind"], request.id)
            return False

    def _ticket_pending(self, request: ApprovalRequest) -> bool:
        return any(
            i["kind"] == TICKET_KIND and i["delivered_at"] is None for i in self.store.outbox_for(request.id)
        )

    def _retry_delay(self, attempt: int, exc: BaseException) -> float:
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return exc.retry_after + random.uniform(0, 1)
        base = self.config.scheduler.outbox_interval.total_seconds()
        backoff = min(MAX_RETRY_DELAY, base * (2 ** min(attempt, 10)))
        return random.uniform(backoff / 2, backoff)

    # ================================================================================== wait ====
    async def wait_for(self, request_id: str, timeout: float, interval: float) -> ApprovalRequest:
        """Wait (async, cancellable) until the request is final or ``timeout`` passes, re-reading
        its ticket each ``interval``. The run itself may happen here or in any other process."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            request = self.store.get(request_id)
            if request.state.terminal:
                return request
            if request.state is RequestState.TICKETED:
                try:
                    request = await self.refresh(request_id)
                except AdapterError as exc:
                    log.warning("waiting on %s: %s", request_id, exc)
            elif request.state is RequestState.SUBMITTED:
                await self.process_outbox()
            elif request.state is RequestState.APPROVED:
                request = await self.execute(request_id)
            if request.state.terminal:
                return request
            remaining = end - loop.time()
            if remaining <= 0:
                return self.store.get(request_id)
            await asyncio.sleep(min(interval, remaining))


class _NotYet(Exception):
    """A report waits for its ticket to exist."""
