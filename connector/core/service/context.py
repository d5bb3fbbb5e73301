"""What every part of the service shares: config, store, adapter bridges, tools, the recorder, and
the one way to reach the database from async code (a worker thread, never the event loop)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from connector.core.adapter import AdapterBridge
from connector.core.errors import ConfigError
from connector.core.integrity import Sealer
from connector.core.models import ApprovalRequest, Mode
from connector.core.observe import Recorder
from connector.core.registry import ToolRegistry
from connector.core.settings import ConnectorConfig, RouteConfig
from connector.core.store import Store

T = TypeVar("T")
log = logging.getLogger("approval_connector")


class TaskSet:
    """Background tasks of one kind, keyed (at most one per key at a time), tracked so shutdown
    and ``poll --once`` can wait for them. Bound to the running event loop: the CLI and tests run
    several loops one after another, and a task never outlives its loop."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def _here(self) -> dict[str, asyncio.Task[Any]]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._tasks = loop, {}
        return self._tasks

    def start(self, key: str, factory: Callable[[], Awaitable[T]]) -> asyncio.Task[T]:
        tasks = self._here()
        task = tasks.get(key)
        if task is None or task.done():
            task = asyncio.ensure_future(factory())
            tasks[key] = task
            task.add_done_callback(lambda t: self._forget(tasks, key, t))
        return task

    def _forget(self, tasks: dict[str, asyncio.Task[Any]], key: str, task: asyncio.Task[Any]) -> None:
        if tasks.get(key) is task:
            del tasks[key]
        if not task.cancelled() and task.exception() is not None:
            log.error("%s %s crashed: %s", self.name, key, task.exception())

    def active(self) -> int:
        return sum(1 for t in self._tasks.values() if not t.done())

    async def wait(self, timeout: float | None) -> bool:
        """Wait for the tasks in progress; True when none is left."""
        if self._loop is not asyncio.get_running_loop():
            return True
        pending = [t for t in self._tasks.values() if not t.done()]
        if not pending:
            return True
        _, still = await asyncio.wait(pending, timeout=timeout)
        return not still


def new_request_id() -> str:
    return uuid.uuid4().hex


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class ServiceContext:
    config: ConnectorConfig
    store: Store
    adapters: Mapping[str, AdapterBridge]
    registry: ToolRegistry
    recorder: Recorder
    worker_id: str
    db_pool: Executor
    sealer: Sealer

    @property
    def lease(self) -> timedelta:
        return self.config.scheduler.lease

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store call in the database pool: the event loop never waits on a lock or a
        slow disk (webhook intake and lease heartbeats keep going meanwhile)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.db_pool, partial(fn, *args, **kwargs))

    async def db_or_undo(
        self, fn: Callable[..., T], args: tuple[Any, ...], undo: Callable[[T], Awaitable[Any]]
    ) -> T:
        """A store call that takes something (a lease, a claim) and must not be abandoned with it:
        if the task awaiting it is cancelled (a closing event loop, as a short script's
        ``asyncio.run`` does; a shutdown past its grace), the call still lands in its thread, and
        what it returned is handed to ``undo`` (which gives it back) before the cancellation goes
        on. The call runs as a plain future, shielded, so a closing loop does not cancel it."""
        started = asyncio.get_running_loop().run_in_executor(self.db_pool, partial(fn, *args))
        try:
            return await asyncio.shield(started)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await undo(await started)
            raise

    async def problem(self, request_id: str, kind: str, detail: str) -> None:
        """Mark a request as skipped for ``kind`` (shown by ``requests show`` and /metrics); the
        rest of the cycle goes on. Logged the first time only."""
        try:
            first = await self.db(self.store.mark_problem, request_id, kind, detail)
        except Exception as exc:  # noqa: BLE001 - marking is best effort; the skip still happens
            log.warning("request %s: could not record its problem (%s): %s", request_id, exc, detail)
            return
        if first:
            self.recorder.problem(kind)
            log.warning("request %s skipped (%s): %s", request_id, kind, detail)

    def adapter(self, system: str) -> AdapterBridge:
        try:
            return self.adapters[system]
        except KeyError:
            raise ConfigError(f"system {system!r} is not configured") from None

    def route(self, request: ApprovalRequest) -> RouteConfig | None:
        try:
            return self.config.route(request.route)
        except ConfigError:
            return None

    def wants_ticket(self, request: ApprovalRequest) -> bool:
        """Whether outcomes of this request are reported on a ticket."""
        if request.ticket is not None:
            return True
        if request.mode in (Mode.GATE, Mode.SHADOW, Mode.STANDARD):
            return True
        route = self.route(request)
        return bool(route and route.mode is Mode.AUTO and route.record_auto)
