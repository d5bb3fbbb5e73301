"""The long-running jobs: ``poll`` (one cycle, or the scheduler until stopped) and ``serve``
(webhooks plus the scheduler)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import click

from connector.app.cli import codes
from connector.app.cli.options import command
from connector.app.cli.output import out
from connector.app.cli.session import connector

if TYPE_CHECKING:
    from connector.app.runtime import Connector

RUN_OUTCOMES = ("succeeded", "failed", "in_doubt")


def so_far(conn: Connector) -> dict[str, float]:
    """What this process has done, from its own metrics: tool runs ended by outcome, and reports
    the ticketing systems accepted (whether delivered by the outbox job or right after a run)."""
    registry = conn.metrics.registry
    done = {o: registry.get_sample_value("approval_runs_total", {"outcome": o}) or 0.0 for o in RUN_OUTCOMES}
    done["reports"] = sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "approval_adapter_calls"
        for sample in metric.samples
        if sample.name.endswith("_total")
        and sample.labels.get("method") == "report"
        and sample.labels.get("outcome") == "ok"
    )
    return done


def cycle_summary(counts: dict[str, int], done: dict[str, float]) -> str:
    """One line a person reads after ``poll --once``: what the cycle saw and did."""
    runs = {o: done[o] for o in RUN_OUTCOMES}
    by = ", ".join(f"{int(n)} {o.replace('_', ' ')}" for o, n in runs.items() if n)
    line = (
        f"decisions seen: {counts.get('decisions', 0)}, runs: {int(sum(runs.values()))}"
        f"{f' ({by})' if by else ''}, reports delivered: {int(done['reports'])}, "
        f"expired: {counts.get('expired', 0)}"
    )
    extra = {k: v for k, v in counts.items() if k not in ("decisions", "outbox", "reported", "expired") and v}
    return line + "".join(f", {k.replace('_', ' ')}: {v}" for k, v in extra.items())


@command("poll")
@click.option("--once", is_flag=True, help="Run one cycle of every job, print what it did, and exit.")
def poll(once: bool) -> None:
    """Poll every system for decisions, run approved calls, expire, deliver reports."""
    conn = connector()
    if once:
        before = so_far(conn)
        counts = asyncio.run(conn.run_all_jobs_once())
        after = so_far(conn)
        out.print(cycle_summary(counts, {k: after[k] - before[k] for k in after}))
        codes.leave(codes.SYSTEM if counts.get("failed_jobs") else codes.OK)
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


@command("serve")
@click.option("--host", help="Listen address (default: server.host).")
@click.option("--port", type=int, help="Listen port (default: server.port).")
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Start even if a tool does not import or a secret variable is unset.",
)
def serve(host: str | None, port: int | None, allow_missing: bool) -> None:
    """Receive ticket webhooks and run the scheduler (poll, expiry, outbox, recovery) until stopped."""
    from connector.app.server import serve as run_server
    from connector.app.startup import check_ready

    logging.getLogger("approval_connector").setLevel(logging.INFO)
    conn = connector()
    check_ready(conn, allow_missing=allow_missing)
    run_server(conn, host or conn.config.server.host, port if port is not None else conn.config.server.port)
