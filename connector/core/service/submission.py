"""A gated call arrives: validate it against the tool's schema, pick its route, store it (durable
first) and open its ticket — or deny it, or run it at once on an auto route."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from connector.core.models import ApprovalRequest, Mode, RequestState, dedupe_digest, digest_of, utcnow
from connector.core.policy import select_route, tier_for

from .context import ServiceContext, new_request_id
from .execution import Execution
from .outbox import Outbox
from .timing import deadline_values
from .transitions import AuditEvent, DuplicateCall, Transitions

log = logging.getLogger("approval_connector")

DEDUPE_WINDOW = timedelta(hours=1)
DEDUPED_MODES = (
    Mode.GATE,
    Mode.SHADOW,
    Mode.STANDARD,
)  # a ticket's call; auto runs anew, denials cost nothing


class Submission:
    def __init__(
        self, ctx: ServiceContext, transitions: Transitions, outbox: Outbox, execution: Execution
    ) -> None:
        self.ctx = ctx
        self.transitions = transitions
        self.outbox = outbox
        self.execution = execution

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
        """Store the call (durable first), then open its ticket. Raises UserError for arguments
        that do not fit the tool's schema: nothing is stored then.

        ``dedupe_key`` names who asks (e.g. the proxy's requester): the same call from them —
        same tool, same canonical arguments — while its request is live or ended less than
        ``dedupe_window`` ago returns that request, never a second ticket or run, even when two
        replicas receive it at once."""
        entry = self.ctx.registry.require(tool_name)
        arguments = entry.validate(arguments)
        context = dict(context or {})
        route = select_route(self.ctx.config, tool_name, arguments, route_name)
        now = utcnow()
        key = None
        if dedupe_key and route is not None and route.mode in DEDUPED_MODES:
            key = dedupe_digest(dedupe_key, tool_name, digest_of(arguments))
            existing = await self.ctx.db(self.ctx.store.by_dedupe_key, key)
            if existing is not None and not _ended_before(existing, now - dedupe_window):
                return existing
        timing = deadline_values(route, arguments, now) if route else {}
        if route is None or route.mode not in (Mode.GATE, Mode.SHADOW):
            timing.update(nudge_at=None, on_deadline=None)
        tier = tier_for(route, arguments) if route else None
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
            **timing,
            created_at=now,
            updated_at=now,
            idempotent=entry.idempotent,
            dedupe_key=key,
        )
        request.seal = self.ctx.sealer.call_seal(request)
        submitted: AuditEvent = (
            "submitted",
            request.agent,
            {
                "tool": tool_name,
                "arguments": arguments,
                "digest": request.arguments_digest,
                "route": request.route,
                "mode": request.mode.value,
                "agent": request.agent,
                "conversation_id": request.conversation_id,
                "rationale": request.rationale,
                "deadline": request.deadline.isoformat() if request.deadline else None,
                **({"tier": tier.name, "risk": tier.risk} if tier else {}),
                **(
                    {"on_deadline": request.on_deadline}
                    if request.on_deadline not in (None, "expire")
                    else {}
                ),
            },
        )
        if route is None or route.mode is Mode.DENY:
            reason = "no route allows this call" if route is None else f"route {route.name} denies it"
            request.state = RequestState.DENIED
            request.decision_reason = reason
            denied: AuditEvent = ("denied", "policy", {"reason": reason})
            await self.ctx.db(self.transitions.submitted, request, [submitted, denied], False, context)
            log.info("request %s denied by policy: %s", request.id, reason)
            return request
        if route.mode is Mode.AUTO:
            request.approver = "policy:auto"
            request.decided_at = now
            worker, lease = self.ctx.worker_id, self.ctx.lease
            auto: AuditEvent = ("auto_approved", "policy", {"route": route.name})
            claimed: AuditEvent = ("claimed", worker, {"lease_seconds": lease.total_seconds()})

            async def store_claimed() -> ApprovalRequest:
                running = request.model_copy(
                    update={
                        "state": RequestState.EXECUTING,
                        "claimed_by": worker,
                        "lease_until": utcnow() + lease,
                    }
                )

                async def withdrawn(_: None) -> None:
                    """The caller was cancelled (an agent stopped) while the call was being
                    stored, claimed: it lands, but nothing runs it now. It ends FAILED, not run,
                    rather than EXECUTING until recovery declares a run that never happened in
                    doubt (nor runs later, detached from the caller that gave it up)."""
                    why = "its caller was cancelled before it ran; not run"
                    await self.ctx.db(self.transitions.finished, running, RequestState.FAILED, None, why)
                    log.warning("request %s: %s", request.id, why)

                events = [submitted, auto, claimed]
                record = route.record_auto
                held = self.outbox.ticket_lease(running) if record else None
                submit = partial(self.transitions.submitted, ticket_lease=held)
                await self.ctx.db_or_undo(submit, (running, events, record, context), withdrawn)
                if route.record_auto:  # the ticket as a record, before the run reports on it
                    await self.outbox.open_ticket_now(running)
                return running

            log.info("request %s auto-approved by route %s", request.id, route.name)
            return await self.execution.run_claimed_now(store_claimed, entry)
        if route.mode is Mode.STANDARD:
            return await self._standard(request, submitted, context)
        try:
            await self.ctx.db(
                self.transitions.submitted,
                request,
                [submitted],
                True,
                context,
                now - dedupe_window,
                ticket_lease=self.outbox.ticket_lease(request),
            )
        except DuplicateCall:  # the same call was stored a moment ago (another replica)
            winner = await self.ctx.db(self.ctx.store.by_dedupe_key, key)
            if winner is not None:
                return winner
            raise
        log.info("request %s stored for %s via route %s", request.id, tool_name, route.name)
        opened = await self.outbox.open_ticket_now(request)
        return opened or await self.ctx.db(self.ctx.store.get, request.id)

    async def _standard(
        self, request: ApprovalRequest, submitted: AuditEvent, context: Mapping[str, str]
    ) -> ApprovalRequest:
        """A pre-approved standard change: its ticket is opened first, as the record (the state
        moves to APPROVED only once it exists), then the call runs and its outcome is reported."""
        request.approver = "policy:standard"
        request.approver_name = f"pre-approved standard change (route {request.route})"
        request.decided_at = request.created_at
        pre: AuditEvent = ("pre_approved", "policy", {"route": request.route, "why": "its conditions hold"})
        held = self.outbox.ticket_lease(request)
        events = [submitted, pre]
        await self.ctx.db(self.transitions.submitted, request, events, True, context, ticket_lease=held)
        log.info("request %s is a pre-approved standard change (route %s)", request.id, request.route)
        opened = await self.outbox.open_ticket_now(request)
        stored = opened or await self.ctx.db(self.ctx.store.get, request.id)
        if stored.state is RequestState.APPROVED:
            return await self.execution.run(request.id)
        return stored  # its record is not open yet: the run starts once it is (the pool)


def _ended_before(request: ApprovalRequest, cutoff: datetime) -> bool:
    return request.state.terminal and request.updated_at < cutoff
