"""``approval-connector serve``: the webhook app on uvicorn and the scheduler's jobs in one event
loop. SIGINT/SIGTERM stop intake first, then wait (bounded) for runs in progress; a run that
cannot finish stays EXECUTING with a lease, so recovery marks it IN_DOUBT (or re-runs an
idempotent tool) — never a silent half-run."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from connector.app.runtime import Connector
from connector.app.scheduler import build_scheduler
from connector.app.webhooks import create_app

log = logging.getLogger("approval_connector.server")


def freeze_heap() -> None:
    """Move every object alive now (modules, config, the app) out of the cyclic collector's
    reach. A full collection otherwise walks all of them, a 10–100 ms pause in the middle of
    webhook intake (its p99); garbage made after this is still collected as before."""
    gc.collect()
    gc.freeze()


def build_server(connector: Connector, host: str, port: int, freeze: bool = False) -> uvicorn.Server:
    """``freeze``: the process is this server's alone (``serve``), so its start-up heap may be
    frozen (freeze_heap); a test serving in a thread of its own process leaves it unset."""
    shutdown_grace = connector.config.server.shutdown_grace.total_seconds()

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        scheduler = build_scheduler(connector)
        scheduler.start()
        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(_first_cycle(connector, freeze)))
        if freeze:
            freeze_heap()
        log.info("serving on http://%s:%d (systems: %s)", host, port, ", ".join(connector.adapters))
        try:
            yield
        finally:
            scheduler.shutdown(wait=False)
            await app.state.intake.drain(shutdown_grace)
            finished = await connector.service.stop(shutdown_grace)
            if not finished:
                log.warning(
                    "runs still in progress at shutdown; they stay claimed until their lease "
                    "expires, then recovery marks them in doubt"
                )
            log.info("stopped")

    app = create_app(connector, lifespan=lifespan)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        # the grace as configured: int() made a grace under a second 0, so every such shutdown
        # timed out at once and uvicorn logged an ERROR for it
        timeout_graceful_shutdown=shutdown_grace,  # type: ignore[arg-type]  # a float works
    )
    return uvicorn.Server(config)


async def _first_cycle(connector: Connector, freeze: bool = False) -> None:
    """Catch up at start: decisions made while the service was down, stale claims, reports.
    What the cycle imported and built on first use (clients, sessions) is frozen too."""
    try:
        await connector.run_all_jobs_once()
    except Exception:
        log.exception("start-up cycle failed; the scheduler will retry")
    if freeze:
        freeze_heap()


def serve(connector: Connector, host: str, port: int) -> None:
    server = build_server(connector, host, port, freeze=True)
    asyncio.run(server.serve())
