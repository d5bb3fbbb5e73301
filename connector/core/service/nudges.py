"""Reminders and escalation while a ticket waits: the scheduler's ``nudge_due`` finds requests
whose next reminder or escalation is due, and queues it once for all replicas (the replica that
moves the request's next-nudge time on queues it, under a stable outbox id); the outbox delivers
it under a lease, and the adapter's marker check keeps a retried delivery from posting twice."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from connector.core.models import ApprovalRequest, OutcomeReport, ReportKind, RequestState, utcnow
from connector.core.reports import note
from connector.core.settings import RouteConfig
from connector.core.timing import describe, nudge_schedule

from .context import ServiceContext
from .outbox import Outbox, work_lease
from .transitions import ESCALATE_KIND, REPORT_KIND, AuditEvent, Transitions
from .transitions_timing import OutboxItem

log = logging.getLogger("approval_connector")

SLACK = timedelta(milliseconds=1)  # a stored time read back may lose sub-millisecond precision


def escalation_report(request: ApprovalRequest, action: str, text: str) -> OutcomeReport:
    stamp = int((request.waiting_since or request.created_at).timestamp())
    return note(request, ReportKind.ESCALATED, f"{request.id}:{action}@{stamp}", text)


class Nudges:
    def __init__(self, ctx: ServiceContext, transitions: Transitions, outbox: Outbox) -> None:
        self.ctx = ctx
        self.transitions = transitions
        self.outbox = outbox
        budgets = [bridge.budget("escalate") for bridge in ctx.adapters.values()]
        lease = work_lease(ctx.lease, max(budgets, default=60.0))
        outbox.register(ESCALATE_KIND, self._deliver_escalation, lease)

    async def due(self) -> int:
        """Queue every reminder and escalation now due; returns how many were queued."""
        queued = 0
        now = utcnow()
        for request in await self.ctx.db(self.ctx.store.due_for_nudge, now):
            route = self.ctx.route(request)
            items, events, following = self._what_is_due(request, route, now)
            assert request.nudge_at is not None
            if await self.ctx.db(self._advance, request.id, request.nudge_at, following, items, events):
                queued += len(items)
                if items:
                    log.info("request %s: %s", request.id, ", ".join(e[0] for e in events))
                    self.outbox.kick(request.id)
        return queued

    def _what_is_due(
        self, request: ApprovalRequest, route: RouteConfig | None, now: Any
    ) -> tuple[list[OutboxItem], list[AuditEvent], Any]:
        if route is None:
            return [], [], None
        since = request.waiting_since or request.created_at
        schedule = nudge_schedule(since, route)
        seen = request.nudge_at
        due = [(at, action) for at, action in schedule if seen - SLACK <= at <= now]
        following = next((at for at, _ in schedule if at > now), None)
        items: list[OutboxItem] = []
        events: list[AuditEvent] = []
        reminders = [action for _, action in due if action.startswith("reminder-")]
        if reminders:  # after an outage, only the latest reminder due: never a burst
            number = int(reminders[-1].split("-")[1])
            report = self._reminder(request, route, number, since)
            items.append((report.report_id, REPORT_KIND, report.model_dump(mode="json")))
            details = {"reminder": number, "of": route.max_reminders, "skipped": len(reminders) - 1}
            events.append(("reminder_due", "scheduler", details))
        if any(action == "escalation" for _, action in due):
            assert route.escalate_after is not None
            text = (
                f"Escalated: no decision within {describe(route.escalate_after)} (waiting since "
                f"{since:%Y-%m-%d %H:%M UTC}). Please decide on {request.tool_name} or hand it on."
            )
            report = escalation_report(request, "escalation", text)
            items.append((report.report_id, ESCALATE_KIND, report.model_dump(mode="json")))
            events.append(
                ("escalation_due", "scheduler", {"after_seconds": route.escalate_after.total_seconds()})
            )
        return items, events, following

    def _reminder(
        self, request: ApprovalRequest, route: RouteConfig, number: int, since: Any
    ) -> OutcomeReport:
        deadline = f" Decide before {request.deadline:%Y-%m-%d %H:%M UTC}." if request.deadline else ""
        text = (
            f"Reminder {number} of {route.max_reminders}: {request.tool_name} has been waiting for a "
            f"decision since {since:%Y-%m-%d %H:%M UTC}.{deadline}"
        )
        report_id = f"{request.id}:reminder-{number}@{int(since.timestamp())}"
        mentions = [a for a in route.approvers if a.strip() != "*"]
        return note(request, ReportKind.REMINDER, report_id, text, mentions)

    def _advance(
        self, request_id: str, seen: Any, following: Any, items: list[OutboxItem], events: list[AuditEvent]
    ) -> bool:
        """One transaction: move the next-nudge time on from ``seen`` (one replica wins), queue
        what is due under its stable ids, audit it."""
        store = self.ctx.store
        with store.transaction() as conn:
            if not store.advance_nudge(conn, request_id, seen, following):
                return False
            for item_id, kind, payload in items:
                store.enqueue(conn, item_id, request_id, kind, payload)
            for event, actor, details in events:
                store.audit.append(conn, request_id, event, actor, details)
            return True

    def _acted(self, item_id: str, request_id: str, event: str, details: dict[str, Any]) -> None:
        """An escalation landed (or no longer applies): delivered and audited together."""
        store = self.ctx.store
        with store.transaction() as conn:
            store.outbox_delivered(conn, item_id)
            store.audit.append(conn, request_id, event, self.ctx.worker_id, details)

    async def _deliver_escalation(self, item: dict[str, Any], request: ApprovalRequest, attempt: int) -> None:
        report = OutcomeReport.model_validate_json(item["payload"])
        if request.state is not RequestState.TICKETED or request.ticket is None:
            why = {"state": request.state.value, "why": "the request no longer waits for a decision"}
            await self.ctx.db(self._acted, item["id"], request.id, "escalation_skipped", why)
            return
        done = await self.ctx.adapter(request.ticket.system).escalate(request.ticket, report, attempt)
        details = {"ticket": request.ticket.key, "to": done, "report": report.report_id}
        await self.ctx.db(self._acted, item["id"], request.id, "escalated", details)
