"""Deadlines: a request nobody decided in time expires; nothing runs, and its ticket is told.
A route (or the risk tier a call falls in) may say otherwise: ``escalate`` hands the ticket on
once and waits one more deadline; ``approve`` (low-risk tiers only) runs it, the reason recorded,
unless the ticket shows a rejection by then."""

from __future__ import annotations

import logging
from datetime import timedelta

from connector.core.errors import AdapterError
from connector.core.models import ApprovalRequest, RequestState, Verdict, utcnow
from connector.core.policy import tier_for
from connector.core.timing import OnDeadline, describe

from .context import ServiceContext
from .execution import Execution
from .nudges import escalation_report
from .outbox import Outbox
from .transitions import ESCALATE_KIND, Transitions

log = logging.getLogger("approval_connector")


class Expiry:
    def __init__(
        self,
        ctx: ServiceContext,
        transitions: Transitions,
        outbox: Outbox,
        execution: Execution | None = None,
    ) -> None:
        self.ctx = ctx
        self.transitions = transitions
        self.outbox = outbox
        self.execution = execution

    async def expire(self, request_id: str) -> ApprovalRequest:
        stored = await self.ctx.db(self.transitions.expired, request_id)
        if stored is None:
            return await self.ctx.db(self.ctx.store.get, request_id)
        log.info("request %s expired", request_id)
        self.outbox.kick(request_id)
        return stored

    async def expire_due(self) -> int:
        """Every request past its deadline: expired, escalated or approved as its tier says.
        Returns how many reached their deadline's outcome."""
        count = 0
        for request in await self.ctx.db(self.ctx.store.due_for_expiry, utcnow()):
            waiting = request.state is RequestState.TICKETED and request.ticket is not None
            if waiting and request.on_deadline == OnDeadline.ESCALATE.value:
                count += await self._escalate(request)
            elif waiting and request.on_deadline == OnDeadline.APPROVE.value:
                count += await self._approve(request)
            else:
                after = await self.expire(request.id)
                count += after.state is RequestState.EXPIRED
        return count

    def _tier(self, request: ApprovalRequest) -> tuple[str, timedelta | None]:
        """The name of the request's risk tier and its deadline period (the route's, if none)."""
        route = self.ctx.route(request)
        if route is None:
            return "(route)", None
        tier = tier_for(route, request.arguments)
        if tier is None:
            return "(route)", route.deadline
        return tier.name, tier.deadline or route.deadline

    async def _escalate(self, request: ApprovalRequest) -> int:
        tier, period = self._tier(request)
        if period is None:
            return (await self.expire(request.id)).state is RequestState.EXPIRED
        deadline = utcnow() + period
        text = (
            f"Escalated: no decision on {request.tool_name} before its deadline. It waits "
            f"{describe(period)} more, until {deadline:%Y-%m-%d %H:%M UTC}, and then expires."
        )
        report = escalation_report(request, "deadline-escalation", text)
        item = (report.report_id, ESCALATE_KIND, report.model_dump(mode="json"))
        details = {"tier": tier, "new_deadline": deadline.isoformat()}
        if not await self.ctx.db(self.transitions.deadline_escalated, request.id, deadline, item, details):
            return 0
        log.info("request %s escalated at its deadline", request.id)
        self.outbox.kick(request.id)
        return 1

    async def _approve(self, request: ApprovalRequest) -> int:
        """Auto-approve, after one last look at the ticket: a rejection made before the deadline
        (not yet seen by a poll) wins, and an unreadable ticket waits for the next cycle."""
        assert request.ticket is not None
        try:
            shown = await self.ctx.adapter(request.system).read_decision(request.ticket, request)
        except AdapterError as exc:
            if not exc.transient:  # gone, hidden or refused for good: fail closed
                log.warning("request %s: deadline reached, ticket unreadable (%s); expired", request.id, exc)
                return (await self.expire(request.id)).state is RequestState.EXPIRED
            log.warning("request %s: deadline reached, ticket unreadable (%s); retried", request.id, exc)
            return 0
        # a rejection made in time wins; so does a person's approval of an edit nobody applied
        # yet: running the proposal instead would run what nobody approved
        edited = shown.verdict is Verdict.APPROVED and shown.edited_arguments not in (None, request.arguments)
        if shown.verdict in (Verdict.REJECTED, Verdict.UNKNOWN) or edited:
            return (await self.expire(request.id)).state is RequestState.EXPIRED
        tier, period = self._tier(request)
        reason = (
            f"route {request.route} (tier {tier}, marked low-risk) approves a call nobody decided "
            f"within {describe(period) if period else 'its deadline'}."
        )
        stored = await self.ctx.db(self.transitions.deadline_approved, request.id, reason, {"tier": tier})
        if stored is None:
            return 0
        log.info("request %s auto-approved at its deadline (%s)", request.id, reason)
        self.ctx.recorder.decision("auto_approved")
        self.outbox.kick(request.id)
        if self.execution is not None:
            self.execution.start(request.id)
        return 1
