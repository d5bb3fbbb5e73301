"""Wait mode: the gated tool awaits the decision (async and cancellable, never a blocking sleep),
re-reading its ticket now and then; the run itself may happen here or in any other process."""

from __future__ import annotations

import asyncio
import logging

from connector.core.errors import AdapterError
from connector.core.models import ApprovalRequest, RequestState

from .context import ServiceContext
from .decisions import Decisions
from .execution import Execution
from .outbox import Outbox

log = logging.getLogger("approval_connector")


class Waiting:
    def __init__(
        self, ctx: ServiceContext, decisions: Decisions, outbox: Outbox, execution: Execution
    ) -> None:
        self.ctx = ctx
        self.decisions = decisions
        self.outbox = outbox
        self.execution = execution

    async def wait_for(self, request_id: str, timeout: float, interval: float) -> ApprovalRequest:
        """Until the request is final or ``timeout`` passes, re-reading its ticket each ``interval``."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        get = self.ctx.store.get
        while True:
            request = await self.ctx.db(get, request_id)
            if request.state.terminal:
                return request
            if request.state is RequestState.TICKETED:
                try:
                    request = await self.decisions.refresh(request_id)
                except AdapterError as exc:
                    log.warning("waiting on %s: %s", request_id, exc)
            elif request.state is RequestState.SUBMITTED:
                await self.outbox.process()
            elif request.state is RequestState.APPROVED:
                request = await self.execution.run(request_id)
            if request.state.terminal:
                return request
            remaining = end - loop.time()
            if remaining <= 0:
                return await self.ctx.db(get, request_id)
            await asyncio.sleep(min(interval, remaining))
