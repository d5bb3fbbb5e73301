"""The poll: one query per system for all its waiting tickets (the source of truth), made by one
replica at a time (a leader lease per system, fenced, taken over within one poll interval when
the leader stops). Decisions it reads are applied at once; the runs they start go to the
execution pool, so a slow tool never holds up the next cycle. One bad event is logged and
skipped; the rest of the cycle goes on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

from connector.core.adapter import AdapterBridge
from connector.core.errors import AdapterError, ConnectorError
from connector.core.models import DecisionEvent, RequestState, utcnow

from .context import ServiceContext
from .decisions import Decisions

log = logging.getLogger("approval_connector")
APPLY_AT_ONCE = 8  # tickets whose decisions one poll applies side by side


def lease_name(system: str) -> str:
    return f"poll:{system}"


class Polling:
    def __init__(self, ctx: ServiceContext, decisions: Decisions) -> None:
        self.ctx = ctx
        self.decisions = decisions
        self.leading: set[str] = set()

    @property
    def ttl(self) -> timedelta:
        """A leader that stops renewing is replaced after this (half a poll interval)."""
        return max(timedelta(seconds=1), self.ctx.config.scheduler.poll_interval / 2)

    async def poll_once(self, systems: list[str] | None = None) -> int:
        """Poll every system now (those this replica leads); returns decisions applied."""
        applied = 0
        for name, adapter in self.ctx.adapters.items():
            if systems and name not in systems:
                continue
            applied += await self._lead_and_poll(name, adapter, only_if_due=False)
        return applied

    async def poll_due(self) -> int:
        """The scheduler's tick (several per interval): poll each system this replica leads once
        its interval has passed since the last successful poll by anyone."""
        applied = 0
        for name, adapter in self.ctx.adapters.items():
            applied += await self._lead_and_poll(name, adapter, only_if_due=True)
        return applied

    async def release(self) -> None:
        """Give up every lead at a clean shutdown, so another replica takes over at its next tick."""
        for name in list(self.leading):
            try:
                await self.ctx.db(self.ctx.store.release_lease, lease_name(name), self.ctx.worker_id)
            except Exception as exc:  # noqa: BLE001 - the lease then simply runs out
                log.warning("could not release the poll lead of %s: %s", name, exc)
            self.leading.discard(name)

    def release_now(self) -> None:
        """``release`` for synchronous shutdown paths (Connector.close): a one-shot ``poll --once``
        or demo must not keep the next process from polling for a lease's length."""
        for name in list(self.leading):
            try:
                self.ctx.store.release_lease(lease_name(name), self.ctx.worker_id)
            except Exception as exc:  # noqa: BLE001 - the lease then simply runs out
                log.warning("could not release the poll lead of %s: %s", name, exc)
            self.leading.discard(name)

    async def _lead_and_poll(self, name: str, adapter: AdapterBridge, only_if_due: bool) -> int:
        store, me = self.ctx.store, self.ctx.worker_id
        token = await self.ctx.db(store.acquire_lease, lease_name(name), me, self.ttl)
        if token is None:
            self.leading.discard(name)
            return 0  # another replica polls this system
        if name not in self.leading:
            self.leading.add(name)
            log.info("polling %s from this replica (%s)", name, me)
        if only_if_due:
            _, last = await self.ctx.db(store.cursor, name)
            interval = self.ctx.config.scheduler.poll_interval
            if last is not None and utcnow() - last < interval:
                return 0
        fence = (lease_name(name), me, token)
        heartbeat = asyncio.ensure_future(self._keep_lead(name))
        try:
            return await self._poll_system(name, adapter, fence)
        finally:
            heartbeat.cancel()

    async def _keep_lead(self, name: str) -> None:
        """A long poll (a slow system, 429 back-off) keeps its lead while it works."""
        interval = max(0.05, self.ttl.total_seconds() / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.ctx.db(
                    self.ctx.store.acquire_lease, lease_name(name), self.ctx.worker_id, self.ttl
                )
            except Exception as exc:  # noqa: BLE001 - retried at the next beat
                log.warning("could not renew the poll lead of %s: %s", name, exc)

    async def _apply_all(self, name: str, events: Sequence[DecisionEvent]) -> tuple[int, bool]:
        """Apply a search's events: each ticket's in order, different tickets side by side (a few
        at a time: each is a few store round trips, which then overlap). Returns (how many moved
        a request on, whether any failed to apply)."""
        by_ticket: dict[str, list[DecisionEvent]] = {}
        for event in events:
            by_ticket.setdefault(event.ticket_key, []).append(event)
        slots = asyncio.Semaphore(APPLY_AT_ONCE)
        outcomes: list[bool | None] = []  # True applied, False nothing to do, None failed

        async def one_ticket(batch: list[DecisionEvent]) -> None:
            async with slots:
                for event in batch:
                    outcomes.append(await self._apply(name, event))

        await asyncio.gather(*(one_ticket(batch) for batch in by_ticket.values()))
        return sum(1 for o in outcomes if o), any(o is None for o in outcomes)

    async def _apply(self, name: str, event: DecisionEvent) -> bool | None:
        event = event.model_copy(update={"system": name, "source": "poll"})
        try:
            after = await self.decisions.handle_event(event, trusted=True)
        except (AdapterError, ConnectorError) as exc:
            log.warning("decision on %s not applied yet: %s", event.ticket_key, exc)
            return None
        except Exception:  # one bad event never stops the cycle
            log.exception("decision on %s could not be applied; the next poll retries", event.ticket_key)
            return None
        return after is not None and after.state is not RequestState.TICKETED

    async def _poll_system(self, name: str, adapter: AdapterBridge, fence: tuple[str, str, int]) -> int:
        store = self.ctx.store
        # a summary per route, not every waiting row: the adapter looks up the rows its hits name
        waiting = store.waiting(name)
        routes = await self.ctx.db(waiting.routes)
        cursor, _ = await self.ctx.db(store.cursor, name)
        if not routes:
            await self.ctx.db(store.save_cursor, name, cursor, None, fence)
            return 0
        started = asyncio.get_running_loop().time()
        try:
            result = await adapter.poll(waiting, cursor)
        except AdapterError as exc:
            self.ctx.recorder.poll(name, asyncio.get_running_loop().time() - started, False)
            await self.ctx.db(store.save_cursor, name, cursor, str(exc), fence)
            log.warning("poll of %s failed: %s", name, exc)
            return 0
        self.ctx.recorder.poll(name, asyncio.get_running_loop().time() - started, True)
        applied, failed = await self._apply_all(name, result.events)
        # Advance the cursor only when every event was handled, so a decision that failed to apply
        # is fetched again next cycle (applying is idempotent; a second look costs nothing).
        if not await self.ctx.db(store.save_cursor, name, cursor if failed else result.cursor, None, fence):
            log.warning("poll of %s finished after its lead passed to another replica; cursor kept", name)
        return applied
