"""Outbox delivery: ticket creations and outcome reports, retried with backoff until delivered.
A delivery is leased before it starts, so two workers never deliver the same item at once, and
an attempt after the first tells the adapter to look for what already landed before writing."""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

from connector.core.errors import AdapterError, ConfigError, RateLimitedError
from connector.core.models import ApprovalRequest, OutcomeReport, RequestState, TicketRef, utcnow
from connector.core.store import aware as _aware
from connector.core.templates import TemplateRenderError

from .context import ServiceContext, TaskSet
from .transitions import REPORT_KIND, TICKET_KIND, Transitions

log = logging.getLogger("approval_connector")

MAX_RETRY_DELAY = 900.0
MIN_LEASE = timedelta(seconds=120)


class _NotYet(Exception):
    """A report waits for its ticket to exist."""


class Outbox:
    def __init__(self, ctx: ServiceContext, transitions: Transitions) -> None:
        self.ctx = ctx
        self.transitions = transitions
        self.kicks = TaskSet("delivery for request")

    def kick(self, request_id: str) -> None:
        """Deliver this request's due items soon, in the background (after a decision or a run),
        instead of waiting for the next outbox cycle; failures stay queued for it."""
        self.kicks.start(request_id, lambda: self.deliver_for(request_id))

    async def deliver_for(self, request_id: str) -> int:
        now = utcnow()
        delivered = 0
        for item in await self.ctx.db(self.ctx.store.outbox_for, request_id):
            if item["delivered_at"] is None and _aware(item["next_attempt_at"]) <= now:
                delivered += await self._deliver(item)
        return delivered

    async def process(self, limit: int = 100) -> int:
        """Deliver due ticket creations and outcome reports; failures are retried with backoff.
        Deliveries already under way in this process are waited for first, so everything due has
        been tried when this returns."""
        await self.kicks.wait(None)
        delivered = 0
        for item in await self.ctx.db(self.ctx.store.due_outbox, utcnow(), limit):
            if await self._deliver(item):
                delivered += 1
        return delivered

    async def deliver_item(self, item_id: str) -> bool:
        request_id = item_id.split(":")[0]
        for item in await self.ctx.db(self.ctx.store.outbox_for, request_id):
            if item["id"] == item_id and item["delivered_at"] is None:
                return await self._deliver(item)
        return False

    def _lease_for(self, system: str) -> timedelta:
        """Longer than the adapter call can take, so nobody else starts while it may still land."""
        bridge = self.ctx.adapters.get(system)
        budget = bridge.adapter.call_budget() if bridge is not None else 60.0
        return max(MIN_LEASE, timedelta(seconds=2 * budget + 30))

    async def _deliver(self, item: dict[str, Any]) -> bool:
        request = await self.ctx.db(self.ctx.store.get, item["request_id"])
        system = request.ticket.system if request.ticket else request.system
        if not await self.ctx.db(self.ctx.store.lease_outbox, item, self._lease_for(system)):
            return False  # another worker is on it
        attempt = int(item["attempts"])  # as before this lease: > 0 when an earlier try may have landed
        try:
            if item["kind"] == TICKET_KIND:
                await self._open_ticket(request, attempt, item["id"])
            elif item["kind"] == REPORT_KIND:
                await self._report(request, OutcomeReport.model_validate_json(item["payload"]), attempt, item)
            return True
        except (AdapterError, ConfigError, TemplateRenderError, _NotYet) as exc:
            await self._failed(item, request, attempt, exc, str(exc))
            return False
        except Exception as exc:
            log.exception("%s for request %s crashed; will retry", item["kind"], request.id)
            await self._failed(item, request, attempt, exc, f"{type(exc).__name__}: {exc}")
            return False

    async def _open_ticket(self, request: ApprovalRequest, attempt: int, item_id: str) -> None:
        ref = await self._find_or_create(request, attempt)
        await self.ctx.db(self.transitions.ticketed, request.id, ref, item_id)
        if ref is not None and request.ticket is None:
            log.info("request %s ticketed as %s", request.id, ref.key)

    async def _find_or_create(self, request: ApprovalRequest, attempt: int) -> TicketRef | None:
        """Create (or, after a lost answer, find) the ticket."""
        if request.ticket is not None:
            return request.ticket
        adapter = self.ctx.adapter(request.system)
        if request.state in (RequestState.EXPIRED, RequestState.DENIED):
            # Open no ticket nobody can act on, but find one whose create answer was lost, so it
            # can be told the request expired instead of waiting open forever.
            return await adapter.find_ticket(request) if attempt > 0 else None
        ref = await adapter.find_ticket(request) if attempt > 0 else None
        if ref is None:
            ref = await adapter.create_ticket(request)
        return ref

    async def _report(
        self, request: ApprovalRequest, report: OutcomeReport, attempt: int, item: dict[str, Any]
    ) -> None:
        if request.ticket is None:
            if await self._ticket_pending(request):
                raise _NotYet("ticket not created yet")
            await self.ctx.db(self.transitions.delivered, item["id"])  # no ticket will ever exist
            return
        await self.ctx.adapter(request.ticket.system).report(request.ticket, report, attempt)
        await self.ctx.db(
            self.transitions.reported, item["id"], request.id, report.kind.value, request.ticket.key
        )

    async def _ticket_pending(self, request: ApprovalRequest) -> bool:
        items = await self.ctx.db(self.ctx.store.outbox_for, request.id)
        return any(i["kind"] == TICKET_KIND and i["delivered_at"] is None for i in items)

    async def _failed(
        self, item: dict[str, Any], request: ApprovalRequest, attempt: int, exc: BaseException, error: str
    ) -> None:
        delay = self._retry_delay(attempt, exc)
        retry_at = utcnow() + timedelta(seconds=delay)
        await self.ctx.db(self.ctx.store.outbox_failed, item["id"], attempt + 1, retry_at, error)
        log.warning(
            "%s for request %s failed (attempt %d, retry in %.0fs): %s",
            item["kind"],
            request.id,
            attempt + 1,
            delay,
            error,
        )

    def _retry_delay(self, attempt: int, exc: BaseException) -> float:
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return exc.retry_after + random.uniform(0, 1)
        base = self.ctx.config.scheduler.outbox_interval.total_seconds()
        backoff = min(MAX_RETRY_DELAY, base * (2 ** min(attempt, 10)))
        return random.uniform(backoff / 2, backoff)
