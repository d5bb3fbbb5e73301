"""Deadlines: a request nobody decided in time expires; nothing runs, and its ticket is told."""

from __future__ import annotations

import logging

from connector.core.models import ApprovalRequest, RequestState, utcnow

from .context import ServiceContext
from .outbox import Outbox
from .transitions import Transitions

log = logging.getLogger("approval_connector")


class Expiry:
    def __init__(self, ctx: ServiceContext, transitions: Transitions, outbox: Outbox) -> None:
        self.ctx = ctx
        self.transitions = transitions
        self.outbox = outbox

    async def expire(self, request_id: str) -> ApprovalRequest:
        stored = await self.ctx.db(self.transitions.expired, request_id)
        if stored is None:
            return await self.ctx.db(self.ctx.store.get, request_id)
        log.info("request %s expired", request_id)
        self.outbox.kick(request_id)
        return stored

    async def expire_due(self) -> int:
        count = 0
        for request in await self.ctx.db(self.ctx.store.due_for_expiry, utcnow()):
            after = await self.expire(request.id)
            count += after.state is RequestState.EXPIRED
        return count
