"""A second ticket made for one request (two creates both landed: one answered after the retry
had made another) is told, once, that it is a duplicate and where the request is decided. The
request keeps its first ticket (transitions.ticketed); without this note, someone who approves
the second one would wait in vain, since a decision counts only on the request's own ticket."""

from __future__ import annotations

import json
import logging
from typing import Any

from connector.core.models import ApprovalRequest, OutcomeReport, TicketRef

from .context import ServiceContext
from .outbox import Outbox, work_lease
from .transitions import DUPLICATE_KIND, Transitions

log = logging.getLogger("approval_connector")


class DuplicateTickets:
    def __init__(self, ctx: ServiceContext, transitions: Transitions, outbox: Outbox) -> None:
        self.ctx = ctx
        self.transitions = transitions
        budgets = [bridge.budget("report") for bridge in ctx.adapters.values()]
        outbox.register(DUPLICATE_KIND, self._deliver, work_lease(ctx.lease, max(budgets, default=60.0)))

    async def _deliver(self, item: dict[str, Any], request: ApprovalRequest, attempt: int) -> None:
        payload = item["payload"]
        payload = json.loads(payload) if isinstance(payload, str) else payload
        extra = TicketRef.model_validate(payload["ticket"])
        note = OutcomeReport.model_validate(payload["report"])

        def record(_: None) -> bool:  # in the adapter's thread, as soon as the note landed
            token = item["lease_token"]
            return self.transitions.reported(item["id"], request.id, note.kind.value, extra.key, token)

        if await self.ctx.adapter(extra.system).report_then(extra, note, attempt, record):
            log.info("request %s: duplicate ticket %s told where it is decided", request.id, extra.key)
