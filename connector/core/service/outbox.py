"""Outbox delivery: ticket creations and outcome reports, retried with backoff until delivered.
A delivery is leased before it starts, so two workers never deliver the same item at once, and
an attempt after the first tells the adapter to look for what already landed before writing."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from connector.core.errors import (
    AdapterError,
    AmbiguousCreate,
    ConfigError,
    RateLimitedError,
    UnavailableError,
)
from connector.core.models import (
    ApprovalRequest,
    OutcomeReport,
    ReportKind,
    RequestState,
    TicketRef,
    utcnow,
)
from connector.core.redact import redact
from connector.core.store import aware as _aware
from connector.core.templates import TemplateRenderError

from .context import ServiceContext, TaskSet
from .transitions import REPORT_KIND, TICKET_KIND, Transitions, ticket_item_id

log = logging.getLogger("approval_connector")

MAX_RETRY_DELAY = 900.0
# true only while the request waits for a decision: never said on a ticket whose request moved on
WHILE_WAITING = frozenset({ReportKind.UNAUTHORIZED, ReportKind.INVALID_EDIT, ReportKind.REMINDER})
# beyond the adapter's own worst case: clock skew between replicas, a busy event loop
LEASE_MARGIN = timedelta(seconds=10)


def work_lease(scheduler_lease: timedelta, budget: float) -> timedelta:
    """How long adapter work is leased: at least the scheduler's lease, and longer than the
    adapter call's worst case (timeouts, retries, back-off) plus a margin, so a slow delivery is
    never handed to another replica while it may still land (the heartbeat renews it too)."""
    return max(scheduler_lease, timedelta(seconds=budget) + LEASE_MARGIN)


class NotYet(Exception):
    """The work cannot be done yet (a report waits for its ticket); retried with backoff."""


# (outbox item, its request, attempt: > 0 when an earlier try may have landed) -> None; raise
# AdapterError or NotYet to be retried later
Handler = Callable[[dict[str, Any], ApprovalRequest, int], Awaitable[None]]


class Outbox:
    def __init__(self, ctx: ServiceContext, transitions: Transitions) -> None:
        self.ctx = ctx
        self.transitions = transitions
        self.kicks = TaskSet("delivery for request")
        self.handlers: dict[str, tuple[Handler, timedelta]] = {}

    def register(self, kind: str, handler: Handler, lease: timedelta) -> None:
        """Deliver outbox items of ``kind`` with ``handler``: leased (``lease`` must exceed the
        handler's worst case), heartbeated, retried with backoff until it returns."""
        self.handlers[kind] = (handler, lease)

    def kick(self, request_id: str, request: ApprovalRequest | None = None) -> None:
        """Deliver this request's due items soon, in the background (after a decision or a run),
        instead of waiting for the next outbox cycle; failures stay queued for it. ``request``:
        the request as the caller just stored it (saves reading it back)."""
        self.kicks.start(request_id, lambda: self.deliver_for(request_id, request))

    async def deliver_for(self, request_id: str, request: ApprovalRequest | None = None) -> int:
        due, request = await self.ctx.db(self._take_due, request_id, request)
        delivered = 0
        for item in due:
            # the caller's copy serves one delivery only: a ticket created first would change it
            delivered += await self._deliver(item, request if len(due) == 1 else None) is not None
        return delivered

    def _take_due(
        self, request_id: str, request: ApprovalRequest | None
    ) -> tuple[list[dict[str, Any]], ApprovalRequest | None]:
        """In a database thread, in one hand-off: this request's due items and, when exactly one
        is due, the request too (unless the caller has it)."""
        now = utcnow()
        due = [
            item
            for item in self.ctx.store.outbox_for(request_id)
            if item["delivered_at"] is None and _aware(item["next_attempt_at"]) <= now
        ]
        if len(due) == 1 and request is None:
            request = self.ctx.store.get(request_id)
        return due, request

    async def process(self, limit: int = 100) -> int:
        """Deliver due ticket creations and outcome reports; failures are retried with backoff.
        Deliveries already under way in this process are waited for first, so everything due has
        been tried when this returns."""
        await self.kicks.wait(None)
        delivered = 0
        for item in await self.ctx.db(self.ctx.store.due_outbox, utcnow(), limit):
            if await self._deliver(item) is not None:
                delivered += 1
        return delivered

    async def deliver_item(self, item_id: str) -> bool:
        request_id = item_id.split(":")[0]
        for item in await self.ctx.db(self.ctx.store.outbox_for, request_id):
            if item["id"] == item_id and item["delivered_at"] is None:
                return await self._deliver(item) is not None
        return False

    def ticket_lease(self, request: ApprovalRequest) -> timedelta:
        """The lease a ticket item is stored with when its request is stored (``open_ticket_now``)."""
        return self._lease_of(TICKET_KIND, request)

    async def open_ticket_now(self, request: ApprovalRequest) -> ApprovalRequest | None:
        """Open the ticket of a request the caller just stored with its ticket item leased to this
        worker (``Transitions.submitted(..., ticket_lease=ticket_lease(request))``): no database
        round trip before the adapter's call. Returns the request as ticketed, or None when it was
        not delivered now (it failed and stays queued for retry)."""
        item = {
            "id": ticket_item_id(request.id),
            "request_id": request.id,
            "kind": TICKET_KIND,
            "payload": "{}",
            "attempt": 0,  # as stored: the first lease, nothing tried yet
            "lease_token": 1,
            "ambiguous_since": None,
        }
        return await self._deliver(item, request, leased=True)

    def _lease_for(self, system: str, kind: str) -> timedelta:
        """Longer than the adapter method can take, so nobody else starts while it may still land
        (a live holder also renews it; a dead one stops, and the item is retried after this)."""
        bridge = self.ctx.adapters.get(system)
        method = "create_ticket" if kind == TICKET_KIND else "report"
        budget = bridge.budget(method) + bridge.budget("find_ticket") if bridge is not None else 60.0
        return work_lease(self.ctx.lease, budget)

    def _lease_of(self, kind: str, request: ApprovalRequest) -> timedelta:
        custom = self.handlers.get(kind)
        if custom is not None:
            return custom[1]
        return self._lease_for(request.ticket.system if request.ticket else request.system, kind)

    async def _deliver(
        self, item: dict[str, Any], request: ApprovalRequest | None = None, leased: bool = False
    ) -> ApprovalRequest | None:
        """Deliver one item: the request as it is after the delivery, or None when it was not
        delivered (leased elsewhere, or failed and rescheduled). ``item`` needs only its id,
        request id and kind: the rest is taken from the row as leased (fresher than any copy).
        ``leased``: ``item`` is that row, leased by this worker moments ago."""
        if request is None:
            request = await self.ctx.db(self.ctx.store.get, item["request_id"])
        custom = self.handlers.get(item["kind"])
        lease = self._lease_of(item["kind"], request)
        if not leased:
            taken = await self._take_lease(item["id"], lease)
            if taken is None:
                return None  # another worker is on it
            item = taken  # what this holder records is fenced by its lease_token
        token, attempt = item["lease_token"], item["attempt"]  # attempt > 0: an earlier try may have landed
        heartbeat = asyncio.ensure_future(self._heartbeat(item["id"], token, lease))
        try:
            if item["kind"] == TICKET_KIND:
                request = await self._open_ticket(request, attempt, item)
            elif item["kind"] == REPORT_KIND:
                await self._report(request, OutcomeReport.model_validate_json(item["payload"]), attempt, item)
            elif custom is not None:
                await custom[0](item, request, attempt)
                await self.ctx.db(self.transitions.delivered, item["id"], token)
            else:
                raise ConfigError(f"no handler for outbox items of kind {item['kind']!r} in this process")
            return request
        except (AdapterError, ConfigError, TemplateRenderError, NotYet) as exc:
            if not isinstance(exc, NotYet) and not getattr(exc, "transient", False):
                # will not heal by waiting (a template failing on these arguments, a refused field):
                # mark it for a human; it is still retried, in case the config is fixed
                await self.ctx.problem(request.id, item["kind"], str(exc))
            await self._failed(item, token, request, attempt, exc, str(exc))
            return None
        except Exception as exc:
            log.exception("%s for request %s crashed; will retry", item["kind"], request.id)
            await self._failed(item, token, request, attempt, exc, f"{type(exc).__name__}: {exc}")
            return None
        finally:
            heartbeat.cancel()

    async def _take_lease(self, item_id: str, lease: timedelta) -> dict[str, Any] | None:
        """Lease the item for this delivery. Cancelled meanwhile (the event loop closing, as a
        short agent script's ``asyncio.run`` does, or a shutdown past its grace), the lease still
        lands in its thread: it is given back untried, so the next outbox cycle of any replica
        delivers the item at once rather than when the lease has run out."""
        store, worker = self.ctx.store, self.ctx.worker_id

        async def give_back(taken: dict[str, Any] | None) -> None:
            if taken is not None:
                await self.ctx.db(store.release_outbox_lease, item_id, taken["lease_token"], taken["attempt"])

        return await self.ctx.db_or_undo(store.lease_outbox_row, (item_id, lease, worker), give_back)

    async def _heartbeat(self, item_id: str, token: int, lease: timedelta) -> None:
        """Keep the lease while the adapter works (a slow system, retries after a 429): nobody
        else starts the same delivery meanwhile. A failed beat is retried at the next one."""
        interval = max(0.05, lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self.ctx.db(self.ctx.store.extend_outbox_lease, item_id, token, lease):
                    log.error("outbox item %s: lease taken over while delivering", item_id)
                    return
            except Exception as exc:  # noqa: BLE001 - the lease is longer than three beats
                log.warning("outbox item %s: could not extend the lease (%s)", item_id, exc)

    async def _open_ticket(
        self, request: ApprovalRequest, attempt: int, item: dict[str, Any]
    ) -> ApprovalRequest:
        landed: list[TicketRef] = []  # what the system answered, kept if recording it fails

        def record(ref: TicketRef | None) -> ApprovalRequest:
            if ref is not None:
                landed.append(ref)
            return self.transitions.ticketed(request.id, ref, item["id"])

        try:
            ref, stored = await self._find_or_create(request, attempt, item, record)
        except Exception:
            if not landed:
                raise
            ref, stored = landed[0], await self._record_again(request, landed[0], item)
        if stored is None:
            stored = await self.ctx.db(record, ref)
        if ref is not None and request.ticket is None:
            log.info("request %s ticketed as %s", request.id, ref.key)
        return stored

    async def _record_again(
        self, request: ApprovalRequest, ref: TicketRef, item: dict[str, Any]
    ) -> ApprovalRequest:
        """The ticket was made but recording it failed (the database busy or failing over): once
        more, from the answer in hand, since a retry's look-up may not see the ticket yet. If
        that fails too, the create counts as one whose answer was lost: retries only look for
        it until the adapter's grace has passed."""
        try:
            return await self.ctx.db(self.transitions.ticketed, request.id, ref, item["id"])
        except Exception:
            log.warning(
                "request %s: %s was made but could not be recorded; looking for it next", request.id, ref.key
            )
            await self.ctx.db(self.ctx.store.mark_ambiguous, item["id"])
            raise

    async def _find_or_create(
        self,
        request: ApprovalRequest,
        attempt: int,
        item: dict[str, Any],
        record: Callable[[TicketRef | None], ApprovalRequest],
    ) -> tuple[TicketRef | None, ApprovalRequest | None]:
        """Create the ticket; on a retry, first find one an earlier attempt may have made (and
        within the adapter's grace after a lost answer, find only: its index may lag). A ticket
        created here is recorded by ``record`` in the adapter's thread (the request as stored is
        returned with it); one found or already known is the caller's to record (None)."""
        if request.ticket is not None:
            return request.ticket, None
        adapter = self.ctx.adapter(request.system)
        if attempt > 0:
            ref = await adapter.find_ticket(request)
            if ref is not None:
                return ref, None
        if request.state in (RequestState.EXPIRED, RequestState.DENIED):
            return None, None  # open no ticket nobody can act on (one found above is told it expired)
        since = _aware(item.get("ambiguous_since"))
        grace = adapter.adapter.create_grace()
        if since is not None and (utcnow() - since).total_seconds() < grace:
            raise NotYet("an earlier create may have landed and is not searchable yet; not creating another")
        sealed = request.model_copy(update={"ticket_seal": self.ctx.sealer.ticket_seal(request)})
        try:
            return await adapter.create_ticket_then(sealed, record)
        except UnavailableError as exc:
            if isinstance(exc, AmbiguousCreate) or exc.settle > 0:
                # its answer was lost, or is late (sent, not answered in time: it may still land
                # and be recorded by the thread that sent it): every replica only looks for it
                # until the adapter's grace has passed, never creates another meanwhile
                await self.ctx.db(self.ctx.store.mark_ambiguous, item["id"])
            raise

    async def _report(
        self, request: ApprovalRequest, report: OutcomeReport, attempt: int, item: dict[str, Any]
    ) -> None:
        if request.ticket is None:
            if await self._ticket_pending(request):
                raise NotYet("ticket not created yet")
            await self.ctx.db(self.transitions.delivered, item["id"], item["lease_token"])  # no ticket ever
            return
        if report.kind in WHILE_WAITING and request.state is not RequestState.TICKETED:
            # "not accepted, still waiting" must not land on a ticket whose request moved on
            await self.ctx.db(
                self.transitions.report_skipped, item["id"], request, report.kind.value, item["lease_token"]
            )
            return
        ticket = request.ticket

        def record(_: None) -> bool:  # in the adapter's thread, as soon as the report landed
            token = item["lease_token"]
            return self.transitions.reported(item["id"], request.id, report.kind.value, ticket.key, token)

        recorded = await self.ctx.adapter(ticket.system).report_then(ticket, report, attempt, record)
        if not recorded:  # this holder overran its lease: the replica that took over records it
            log.warning("report for request %s: lease taken over; its new holder records it", request.id)

    async def _ticket_pending(self, request: ApprovalRequest) -> bool:
        items = await self.ctx.db(self.ctx.store.outbox_for, request.id)
        return any(i["kind"] == TICKET_KIND and i["delivered_at"] is None for i in items)

    async def _failed(
        self,
        item: dict[str, Any],
        token: int,
        request: ApprovalRequest,
        attempt: int,
        exc: BaseException,
        error: str,
    ) -> None:
        delay = self._retry_delay(attempt, exc)
        retry_at = utcnow() + timedelta(seconds=delay)
        error = redact(error) or error
        await self.ctx.db(self.ctx.store.outbox_failed, item["id"], attempt + 1, retry_at, error, token)
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
        # an answer that timed out: what was sent may still land; the retry looks for it first,
        # so it must not look before it could have (it would find nothing and post it again)
        settle = exc.settle if isinstance(exc, UnavailableError) else 0.0
        return max(random.uniform(backoff / 2, backoff), settle)
