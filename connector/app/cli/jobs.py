"""The long-running jobs: ``poll`` (one cycle, or the scheduler until stopped) and ``serve``
(webhooks plus the scheduler)."""

from __future__ import annotations

import asyncio
import logging

import typer

from connector.app.cli.output import out
from connector.app.cli.session import connector


def poll(
    once: bool = typer.Option(False, "--once", help="Run one cycle of every job and exit."),
) -> None:
    """Poll every system for decisions, run approved calls, expire, deliver reports."""
    conn = connector()
    if once:
        counts = asyncio.run(conn.run_all_jobs_once())
        out.print(", ".join(f"{k}: {v}" for k, v in counts.items()))
        return
    from connector.app.scheduler import build_scheduler

    async def forever() -> None:
        scheduler = build_scheduler(conn)
        scheduler.start()
        out.print("Polling; Ctrl-C stops.")
        try:
            await asyncio.Event().wait()
        finally:
            scheduler.shutdown(wait=False)

    try:
        asyncio.run(forever())
    except KeyboardInterrupt:
        out.print("stopped")


def serve(
    host: str | None = typer.Option(None, "--host", help="Listen address (default: server.host)."),
    port: int | None = typer.Option(None, "--port", help="Listen port (default: server.port)."),
    allow_missing: bool = typer.Option(
        False, "--allow-missing", help="Start even if a tool does not import or a secret variable is unset."
    ),
) -> None:
    """Receive ticket webhooks and run the scheduler (poll, expiry, outbox, recovery) until stopped."""
    from connector.app.server import serve as run_server
    from connector.app.startup import check_ready

    logging.getLogger("approval_connector").setLevel(logging.INFO)
    conn = connector()
    check_ready(conn, allow_missing=allow_missing)
    run_server(conn, host or conn.config.server.host, port if port is not None else conn.config.server.port)
