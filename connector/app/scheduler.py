"""APScheduler 3.x jobs, in-process: poll (asks every adapter for decisions), expiry, outbox
retries and recovery of runs whose executor vanished. Each job is the service's "check once"
method; the scheduler owns intervals and overlap (max one instance, coalesced)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from connector.app.runtime import Connector

log = logging.getLogger("approval_connector.scheduler")


def _guarded(name: str, job: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await job()
        except asyncio.CancelledError:
            # the loop is closing (SIGTERM): a normal stop, not an error; what the job started is
            # durable (runs were handed to the pool, which shutdown_grace drains)
            log.info("job %s stopped by shutdown", name)
        except Exception:  # a failing job must not kill the scheduler; it runs again next interval
            log.exception("job %s failed", name)

    return run


def build_scheduler(connector: Connector) -> AsyncIOScheduler:
    """Scheduler bound to the running event loop; call ``.start()`` inside it."""
    s = connector.config.scheduler
    scheduler = AsyncIOScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
    )

    # Several ticks per interval: each system is polled by the replica that leads it once its
    # interval has passed, and a follower takes over within one interval when the leader stops.
    jobs = [
        ("poll", connector.service.poll_due, s.poll_interval / 4),
        ("expiry", connector.expire_due, s.expiry_interval),
        ("reminders", connector.service.nudge_due, s.expiry_interval),
        ("outbox", connector.process_outbox, s.outbox_interval),
        ("recovery", connector.recover, s.recovery_interval),
        ("housekeeping", connector.housekeeping, timedelta(hours=1)),
        ("audit-seal", connector.service.seal_audit, timedelta(minutes=1)),
    ]
    for name, job, interval in jobs:
        scheduler.add_job(
            _guarded(name, job), "interval", seconds=interval.total_seconds(), id=name, name=name
        )
    return scheduler
