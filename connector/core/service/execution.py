"""Running approved calls, exactly once: a bounded pool per process, fed by claims (APPROVED →
EXECUTING, one winner across replicas), a heartbeat that keeps the claim while the tool runs, and
recovery of claims whose executor vanished. Decision intake only *starts* runs: a slow tool never
delays the next poll or webhook."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import DBAPIError

from connector.core.errors import ConfigError, OutcomeUnknown, UserError
from connector.core.integrity import call_problem
from connector.core.models import ApprovalRequest, RequestState, utcnow
from connector.core.redact import redact
from connector.core.tools import Tool

from .context import ServiceContext, TaskSet
from .outbox import Outbox
from .timing import RunTiming
from .transitions import Transitions

log = logging.getLogger("approval_connector")


class Execution:
    def __init__(
        self, ctx: ServiceContext, transitions: Transitions, outbox: Outbox, pool_size: int = 8
    ) -> None:
        self.ctx = ctx
        self.transitions = transitions
        self.outbox = outbox
        self.pool_size = pool_size
        self.runs = TaskSet("run of request")
        self.timing = RunTiming(ctx, transitions, outbox)  # change windows, stale approvals
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def _pool(self) -> asyncio.Semaphore:
        """The bounded pool: at most ``pool_size`` runs at once in this process."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.pool_size))
        return self._slots[1]

    # --- starting runs ---------------------------------------------------------------------------
    def start(
        self, request_id: str, approved: ApprovalRequest | None = None
    ) -> asyncio.Task[ApprovalRequest]:
        """Start running an approved request in the pool (at most once per process at a time);
        the task's result is the request after the run (or as it was, if it was not runnable).
        ``approved``: the request as the caller just stored it APPROVED (saves reading it back;
        the claim itself is conditional on the stored state, and the run checks the claimed row)."""
        return self.runs.start(request_id, lambda: self._run(request_id, approved))

    async def run(self, request_id: str) -> ApprovalRequest:
        """Run now and wait for the outcome (the CLI, wait mode, auto routes)."""
        return await asyncio.shield(self.start(request_id))

    async def run_approved(self, wait: bool = True) -> int:
        """Start every approved request nobody claimed (e.g. the deciding process stopped first)."""
        approved = await self.ctx.db(self.ctx.store.approved_ids)
        tasks = [self.start(request_id) for request_id in approved]
        if not wait or not tasks:
            return len(tasks)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return sum(
            1 for r in results if isinstance(r, ApprovalRequest) and r.state is not RequestState.APPROVED
        )

    def running(self) -> int:
        return self.runs.active()

    async def drain(self, timeout: float | None) -> bool:
        """Wait for runs in progress (shutdown, ``poll --once``); True when none is left."""
        return await self.runs.wait(timeout)

    # --- one run ---------------------------------------------------------------------------------
    async def _run(self, request_id: str, approved: ApprovalRequest | None = None) -> ApprovalRequest:
        slots = self._pool()
        if slots.locked():  # it waits for a slot: by then the copy may be old (stale, re-decided)
            approved = None
        async with slots:
            if approved is not None and approved.state is RequestState.APPROVED:
                request = approved
            else:
                request = await self.ctx.db(self.ctx.store.get, request_id)
            if request.state is not RequestState.APPROVED:
                return request
            try:
                tool = self.ctx.registry.get(request.tool_name)
            except ConfigError as exc:  # configured, but does not import here: skip, say why
                await self.ctx.problem(request.id, "tool", str(exc))
                return request
            if not await self.timing.ready(request):
                return await self.ctx.db(self.ctx.store.get, request_id)
            if tool is None:
                log.warning(
                    "request %s approved but tool %s is not available in this process; left for "
                    "a process that has it",
                    request.id,
                    request.tool_name,
                )
                return request
            claimed = await self._claim(request.id)
            if claimed is None:
                return await self.ctx.db(self.ctx.store.get, request.id)
            return await self._run_claimed(claimed, tool)

    async def _claim(self, request_id: str) -> ApprovalRequest | None:
        """Claim the request for this run. Cancelled meanwhile (a shutdown past its grace), the
        claim still lands in its thread but its tool never starts: the claim is given back, so
        the request is not left EXECUTING to be declared in doubt when its lease runs out."""

        async def give_back(claimed: ApprovalRequest | None) -> None:
            if claimed is not None:
                why = "the run was cancelled before its tool started"
                if await self.ctx.db(self.transitions.unclaimed, claimed, why):
                    log.warning("request %s: %s; its claim is given back", request_id, why)

        return await self.ctx.db_or_undo(self.transitions.claimed, (request_id, self.ctx.lease), give_back)

    async def run_claimed_now(
        self, claim: Callable[[], Awaitable[ApprovalRequest]], tool: Tool
    ) -> ApprovalRequest:
        """The auto route's path: take a pool slot, store the request already claimed by this
        worker (``claim``: one transaction with its audit rows), run it, finish it — two
        transactions and no re-reads, for calls no human needs to see first."""
        async with self._pool():
            request = await claim()
            return await self._run_claimed(request, tool, fresh=True)

    async def _run_claimed(
        self, request: ApprovalRequest, tool: Tool, fresh: bool = False
    ) -> ApprovalRequest:
        """``fresh``: the request was validated and sealed in this process a moment ago and has
        not been read back from the database, so there is nothing to re-check."""
        if fresh:
            return await self._run_tool(request, tool, request.arguments_to_run)
        problem = call_problem(self.ctx.sealer, request)
        if problem:  # altered between approval and run: never run it
            stored = await self.ctx.db(
                self.transitions.tampered, request.id, [RequestState.EXECUTING], problem, self.ctx.worker_id
            )
            self.outbox.kick(request.id)
            log.error("request %s refused at run time: %s", request.id, problem)
            return stored or await self.ctx.db(self.ctx.store.get, request.id)
        try:
            arguments = tool.validate(request.arguments_to_run)
        except UserError as exc:
            return await self._finish(request, RequestState.FAILED, error=f"{exc}; not run")
        return await self._run_tool(request, tool, arguments)

    async def _run_tool(
        self, request: ApprovalRequest, tool: Tool, arguments: dict[str, Any]
    ) -> ApprovalRequest:
        beats: list[asyncio.Task[None]] = []  # the heartbeat, once the run outlasts one beat

        def start_beating() -> None:
            beats.append(asyncio.ensure_future(self._heartbeat(request.id)))

        # a timer, not a task per run: most runs end within a beat, and a task made, stepped and
        # cancelled per run cost a measurable share of a quick call's overhead
        first_beat = asyncio.get_running_loop().call_later(self._beat_interval(), start_beating)
        try:
            result = await tool.run(arguments, request.id)
        except asyncio.CancelledError:
            log.warning("request %s: run cancelled mid-way; left EXECUTING for recovery", request.id)
            raise
        except OutcomeUnknown as exc:  # it may have taken effect: never report it as failed
            return await self._finish(request, RequestState.IN_DOUBT, error=redact(str(exc)))
        except Exception as exc:  # noqa: BLE001 - any tool failure is an outcome, not a crash
            return await self._finish(
                request, RequestState.FAILED, error=redact(f"{type(exc).__name__}: {exc}")
            )
        finally:
            first_beat.cancel()
            for beat in beats:
                beat.cancel()
        return await self._finish(request, RequestState.SUCCEEDED, result=result)

    async def _finish(
        self,
        request: ApprovalRequest,
        state: RequestState,
        result: str | None = None,
        error: str | None = None,
    ) -> ApprovalRequest:
        try:
            stored = await self.ctx.db(self.transitions.finished, request, state, result, error)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # the connection was gone (a database restart or failover): the pool renewed itself, and
            # the finish is conditional on this worker's claim, so once more is safe; an earlier
            # attempt that landed after all is recognised there, not recorded twice
            log.warning("request %s: finishing met a lost database connection; trying once more", request.id)
            stored = await self.ctx.db(self.transitions.finished, request, state, result, error)
        if self.ctx.wants_ticket(stored):
            # say it on the ticket now, not at the next cycle (a copy without its ticket is read anew)
            self.outbox.kick(request.id, stored if stored.ticket is not None else None)
        if stored.state is state:
            self.ctx.recorder.run(state.value.lower())
            log.info("request %s %s", request.id, state.value.lower())
        return stored

    def _beat_interval(self) -> float:
        return max(0.05, self.ctx.lease.total_seconds() / 3)

    async def _heartbeat(self, request_id: str) -> None:
        """Keep the claim alive while the tool runs, from its first beat on (one interval after
        the run started), then every interval; one failed extension (database busy or failing
        over) must not end the heartbeat, or a long run would look abandoned."""
        interval = self._beat_interval()
        while True:
            try:
                kept = await self.ctx.db(
                    self.ctx.store.extend_lease, request_id, self.ctx.worker_id, self.ctx.lease
                )
            except Exception as exc:  # noqa: BLE001 - retried at the next beat, well within the lease
                log.warning("request %s: could not extend the lease (%s); retrying", request_id, exc)
                kept = True
            if not kept:
                log.error("request %s: claim lost while running (declared in doubt elsewhere?)", request_id)
                return
            await asyncio.sleep(interval)

    # --- recovery --------------------------------------------------------------------------------
    async def recover_stale_claims(self) -> int:
        """EXECUTING past its lease: the executor died. Idempotent tools run again; anything else
        is IN_DOUBT for a human."""
        count = 0
        now = utcnow()
        for stale in await self.ctx.db(self.ctx.store.stale_claims, now):
            outcome = await self.ctx.db(self.transitions.recovered, stale, now)
            if outcome is None:
                continue
            count += 1
            if outcome is RequestState.IN_DOUBT:
                self.ctx.recorder.run("in_doubt")
                log.warning("request %s in doubt: executor %s vanished mid-run", stale.id, stale.claimed_by)
        if count:
            await self.run_approved()
        return count
