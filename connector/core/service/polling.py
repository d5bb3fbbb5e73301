"""The poll: one query per system for all its waiting tickets (the source of truth). Decisions it
reads are applied at once; the runs they start go to the execution pool, so a slow tool never
holds up the next cycle."""

from __future__ import annotations

import asyncio
import logging

from connector.core.adapter import AdapterBridge
from connector.core.errors import AdapterError
from connector.core.models import PendingTicket, RequestState

from .context import ServiceContext
from .decisions import Decisions

log = logging.getLogger("approval_connector")


class Polling:
    def __init__(self, ctx: ServiceContext, decisions: Decisions) -> None:
        self.ctx = ctx
        self.decisions = decisions

    async def poll_once(self, systems: list[str] | None = None) -> int:
        """One query per system for all its waiting tickets; returns decisions applied."""
        applied = 0
        for name, adapter in self.ctx.adapters.items():
            if systems and name not in systems:
                continue
            applied += await self._poll_system(name, adapter)
        return applied

    async def _poll_system(self, name: str, adapter: AdapterBridge) -> int:
        store = self.ctx.store
        waiting = [r for r in await self.ctx.db(store.list, [RequestState.TICKETED], name) if r.ticket]
        cursor, _ = await self.ctx.db(store.cursor, name)
        if not waiting:
            await self.ctx.db(store.save_cursor, name, cursor)
            return 0
        pending = [
            PendingTicket(request_id=r.id, route=r.route, ticket=r.ticket, created_at=r.created_at)
            for r in waiting
            if r.ticket is not None
        ]
        started = asyncio.get_running_loop().time()
        try:
            result = await adapter.poll(pending, cursor)
        except AdapterError as exc:
            self.ctx.recorder.poll(name, asyncio.get_running_loop().time() - started, False)
            await self.ctx.db(store.save_cursor, name, cursor, str(exc))
            log.warning("poll of %s failed: %s", name, exc)
            return 0
        self.ctx.recorder.poll(name, asyncio.get_running_loop().time() - started, True)
        applied = 0
        failed = False
        for event in result.events:
            event = event.model_copy(update={"system": name, "source": "poll"})
            try:
                after = await self.decisions.handle_event(event, trusted=True)
            except AdapterError as exc:
                failed = True
                log.warning("decision on %s not applied yet: %s", event.ticket_key, exc)
                continue
            applied += after is not None and after.state is not RequestState.TICKETED
        # Advance the cursor only when every event was handled, so a decision that failed to apply
        # is fetched again next cycle (applying is idempotent; a second look costs nothing).
        await self.ctx.db(store.save_cursor, name, cursor if failed else result.cursor)
        return applied
