"""ApprovalService: the core's one entry point, composed of one part per job — submission,
decisions, execution (claims, pool, recovery), outbox delivery, expiry, polling, waiting. Only
``transitions`` writes a request's state. Everything else delivers events to it: the gate submits
calls, the scheduler polls and retries, webhooks and the CLI hand in hints. Each method is
idempotent, so a decision seen twice (poll and webhook, two replicas, a redelivery) is applied
once and the call runs once."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import Executor
from datetime import timedelta
from typing import Any

from connector.core.adapter import AdapterBridge
from connector.core.errors import UserError
from connector.core.integrity import Sealer
from connector.core.models import ApprovalRequest, DecisionEvent, RequestState, TicketDecision
from connector.core.observe import Recorder
from connector.core.registry import ToolRegistry
from connector.core.settings import ConnectorConfig
from connector.core.store import Store

from .context import ServiceContext, default_worker_id, new_request_id
from .conversations import Conversations
from .decisions import Decisions
from .duplicate_tickets import DuplicateTickets
from .execution import Execution
from .expiry import Expiry
from .nudges import Nudges
from .outbox import Outbox
from .polling import Polling
from .questions import Questions
from .submission import DEDUPE_WINDOW, Submission
from .transitions import Transitions
from .waiting import Waiting

__all__ = ["ApprovalService", "ServiceContext", "default_worker_id", "new_request_id"]


class ApprovalService:
    def __init__(
        self,
        config: ConnectorConfig,
        store: Store,
        adapters: Mapping[str, AdapterBridge],
        registry: ToolRegistry,
        *,
        recorder: Recorder,
        db_pool: Executor,
        sealer: Sealer,
        worker_id: str | None = None,
        pool_size: int = 8,
    ) -> None:
        self.ctx = ServiceContext(
            config=config,
            store=store,
            adapters=dict(adapters),
            registry=registry,
            recorder=recorder,
            worker_id=worker_id or default_worker_id(),
            db_pool=db_pool,
            sealer=sealer,
        )
        self.transitions = Transitions(self.ctx)
        self.outbox = Outbox(self.ctx, self.transitions)
        self.execution = Execution(self.ctx, self.transitions, self.outbox, pool_size)
        self.expiry = Expiry(self.ctx, self.transitions, self.outbox, self.execution)
        self.nudges = Nudges(self.ctx, self.transitions, self.outbox)
        self.duplicate_tickets = DuplicateTickets(self.ctx, self.transitions, self.outbox)
        self.decisions = Decisions(self.ctx, self.transitions, self.execution, self.expiry, self.outbox)
        self.submission = Submission(self.ctx, self.transitions, self.outbox, self.execution)
        self.polling = Polling(self.ctx, self.decisions)
        self.waiting = Waiting(self.ctx, self.decisions, self.outbox, self.execution)
        self.conversations = Conversations(self.ctx, self.transitions, self.outbox)
        self.questions = Questions(self.ctx, self.conversations, self.decisions)

    @property
    def worker_id(self) -> str:
        return self.ctx.worker_id

    @property
    def store(self) -> Store:
        return self.ctx.store

    # --- the public surface (each a thin delegation to the part that owns the job) ---------------
    async def submit(
        self,
        tool_name: str,
        arguments: dict[str, Any],
        context: Mapping[str, str] | None = None,
        route_name: str | None = None,
        *,
        dedupe_key: str | None = None,
        dedupe_window: timedelta = DEDUPE_WINDOW,
    ) -> ApprovalRequest:
        return await self.submission.submit(
            tool_name, arguments, context, route_name, dedupe_key=dedupe_key, dedupe_window=dedupe_window
        )

    async def handle_event(
        self, event: DecisionEvent, *, trusted: bool = False, wait: bool = True
    ) -> ApprovalRequest | None:
        return await self.decisions.handle_event(event, trusted=trusted, wait=wait)

    async def refresh(self, request_id: str, *, wait: bool = True) -> ApprovalRequest:
        return await self.decisions.refresh(request_id, wait=wait)

    async def apply(
        self, request: ApprovalRequest, decision: TicketDecision, source: str, *, wait: bool = True
    ) -> ApprovalRequest:
        return await self.decisions.apply(request, decision, source, wait)

    async def execute(self, request_id: str) -> ApprovalRequest:
        return await self.execution.run(request_id)

    async def run_approved(self, *, wait: bool = True) -> int:
        return await self.execution.run_approved(wait)

    async def recover_stale_claims(self) -> int:
        return await self.execution.recover_stale_claims()

    async def drain(self, timeout: float | None) -> bool:
        """Wait for runs in progress, then for the reports they queued; True when all finished."""
        loop = asyncio.get_running_loop()
        end = None if timeout is None else loop.time() + timeout
        runs_done = await self.execution.drain(timeout)
        left = None if end is None else max(0.0, end - loop.time())
        return await self.outbox.kicks.wait(left) and runs_done

    async def resolve(
        self,
        request_id: str,
        outcome: str,
        actor: str,
        *,
        text: str = "",
        rerun: bool = False,
    ) -> ApprovalRequest:
        """A human settles an IN_DOUBT request after checking the target system: ``ran`` (with the
        result if known), ``did-not-run`` (optionally ``rerun``: back to APPROVED, run here), or
        ``failed`` (with the reason)."""
        if not actor.strip():
            raise UserError("say who checked (--as NAME)")
        request = await self.ctx.db(self.ctx.store.get, request_id)
        if request.state is not RequestState.IN_DOUBT:
            raise UserError(
                f"request {request_id[:12]} is {request.state.value}, not IN_DOUBT; nothing to resolve"
            )
        details = {"outcome": outcome, "rerun": rerun, "text": text}
        if outcome == "ran":
            target, result, error = RequestState.SUCCEEDED, text or None, None
        elif outcome == "did-not-run":
            target = RequestState.APPROVED if rerun else RequestState.FAILED
            result, error = (
                None,
                (None if rerun else f"did not run (confirmed by {actor}){': ' + text if text else ''}"),
            )
        elif outcome == "failed":
            if not text.strip():
                raise UserError("say why it failed (--failed REASON)")
            target, result, error = RequestState.FAILED, None, f"failed (confirmed by {actor}): {text}"
        else:
            raise UserError(f"unknown outcome {outcome!r}: ran, did-not-run or failed")
        stored = await self.ctx.db(
            self.transitions.resolved, request_id, target, actor.strip(), details, result, error
        )
        if stored is None:
            return await self.ctx.db(self.ctx.store.get, request_id)
        self.outbox.kick(request_id)
        if target is RequestState.APPROVED:
            return await self.execution.run(request_id)
        return stored

    async def expire(self, request_id: str) -> ApprovalRequest:
        return await self.expiry.expire(request_id)

    async def expire_due(self) -> int:
        return await self.expiry.expire_due()

    async def nudge_due(self) -> int:
        """Reminders and escalations now due, queued once across replicas (the scheduler's job)."""
        return await self.nudges.due()

    async def poll_once(self, systems: list[str] | None = None, *, wait: bool = True) -> int:
        """Poll every system; with ``wait`` the runs the decisions started are awaited too (the
        scheduler's job does not wait, so a slow tool never delays the next cycle)."""
        applied = await self.polling.poll_once(systems)
        await self.questions.poll(systems)  # approvers' questions to waiting conversations
        await self.execution.run_approved(wait=False)
        if wait:
            await self.drain(None)
        return applied

    async def poll_due(self) -> int:
        """The scheduler's poll tick: polls the systems this replica leads once they are due;
        the runs it starts go on in the pool."""
        applied = await self.polling.poll_due()
        await self.execution.run_approved(wait=False)
        return applied

    async def stop(self, grace: float) -> bool:
        """A clean shutdown: hand the poll leads over, then give runs in progress ``grace``."""
        await self.polling.release()
        return await self.drain(grace)

    async def seal_audit(self) -> int:
        """Seal the audit heads that moved (one replica at a time); returns how many."""
        ttl = timedelta(minutes=5)
        if await self.ctx.db(self.ctx.store.acquire_lease, "audit-seal", self.ctx.worker_id, ttl) is None:
            return 0
        store = self.ctx.store
        return await self.ctx.db(store.audit.seal, store.engine, self.ctx.sealer.audit_key())

    async def verify_audit(self) -> list[str]:
        store = self.ctx.store
        return await self.ctx.db(store.audit.verify, store.engine, self.ctx.sealer.audit_key())

    async def process_outbox(self, limit: int = 100) -> int:
        return await self.outbox.process(limit)

    async def deliver_outbox_item(self, item_id: str) -> bool:
        return await self.outbox.deliver_item(item_id)

    async def wait_for(self, request_id: str, timeout: float, interval: float) -> ApprovalRequest:
        return await self.waiting.wait_for(request_id, timeout, interval)
