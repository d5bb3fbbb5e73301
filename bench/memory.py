"""Peak memory (VmHWM) of an ``approval-connector serve`` process over a large store (most requests
finished, some waiting on the local desk) against the same command over an empty store, each after
start-up, a few poll cycles (with decisions to apply) and a burst of webhook deliveries."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from adapters.jira.simulator import JiraSimulator
from connector.app.config import parse_config
from connector.app.runtime import Connector

from .intake import load, webhook_body
from .servers import ServerProcess, start_serve
from .setup import desk_and_jira_config, seed_store_for_memory


def _poll_stamp(db: Path, system: str) -> str | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT last_success_at FROM poll_cursors WHERE system = ?", (system,)).fetchone()
    return row[0] if row else None


def wait_cycles(db: Path, cycles: int, timeout: float) -> int:
    """Wait (bounded) until the desk's poll cursor moved ``cycles`` times; returns how many it did."""
    seen = 0
    last = _poll_stamp(db, "desk")
    deadline = time.monotonic() + timeout
    while seen < cycles and time.monotonic() < deadline:
        time.sleep(0.1)
        stamp = _poll_stamp(db, "desk")
        if stamp != last:
            seen += 1
            last = stamp
    return seen


def decide_on_desk(db: Path, seqs: list[int]) -> None:
    """What ``approval-connector approve`` does to a desk ticket (status, who, when)."""
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "UPDATE local_tickets SET status = 'approved', decided_by = 'alice', decided_at = "
            "datetime('now'), updated_at = datetime('now') WHERE seq = ?",
            [(s,) for s in seqs],
        )


def count_states(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT state, count(*) FROM approval_requests GROUP BY state").fetchall())


def _profile(
    work: Path, sim: JiraSimulator, total: int, ticketed: int, decide: int, deliveries: int, cycles: int
) -> dict[str, Any]:
    db = work / "memory.db"
    config = work / "memory.yaml"
    config.write_text(desk_and_jira_config(sim.base_url, db, port=0, poll_interval="1s"))
    started = time.perf_counter()
    conn = Connector.from_config(parse_config(config.read_text(), str(config)), env=sim.demo_env())
    seqs = seed_store_for_memory(conn.store, total, ticketed, sealer=conn.service.ctx.sealer) if total else []
    conn.close()
    seed_seconds = time.perf_counter() - started
    env = {**sim.demo_env(), "APPROVAL_CONNECTOR_DEMO_MAILBOX": str(work / "mailbox.jsonl")}
    server: ServerProcess = start_serve(config, env, work / "serve.log")
    try:
        at_start = server.proc_status()
        decide_on_desk(db, seqs[:decide])
        polled = wait_cycles(db, cycles, timeout=30)
        sent = load(server, webhook_body(sim), deliveries, 16, 60, signed=True)
        server.settle()
        scraped = requests.get(server.url + "/metrics", timeout=10).status_code  # as Prometheus would
        polled += wait_cycles(db, cycles, timeout=30)
        at_end = server.proc_status()
        states = count_states(db)
    finally:
        server.stop()
    return {
        "stored_requests": total,
        "ticketed": ticketed,
        "decided_between_cycles": min(decide, len(seqs)),
        "states_at_end": states,
        "poll_cycles_seen": polled,
        "webhook_deliveries": sent["completed"],
        "webhook_statuses": sent["statuses"],
        "metrics_scrape_status": scraped,
        "rss_after_start_kb": at_start["VmRSS"],
        "rss_at_end_kb": at_end["VmRSS"],
        "peak_kb": at_end["VmHWM"],
        "seed_seconds": round(seed_seconds, 1),
        "db_bytes": db.stat().st_size,
    }


def run_sizes(total: int, ticketed: int, decide: int, deliveries: int, cycles: int) -> dict[str, Any]:
    sim = JiraSimulator.seeded_demo()
    with sim.serve():
        with tempfile.TemporaryDirectory(prefix="bench-mem-empty-") as tmp:
            empty = _profile(Path(tmp), sim, 0, 0, 0, deliveries, cycles)
        with tempfile.TemporaryDirectory(prefix="bench-mem-full-") as tmp:
            full = _profile(Path(tmp), sim, total, ticketed, decide, deliveries, cycles)
    return {
        "empty": empty,
        "full": full,
        "peak_ratio": round(full["peak_kb"] / empty["peak_kb"], 2),
        "peak_delta_mb": round((full["peak_kb"] - empty["peak_kb"]) / 1024, 1),
    }


def run(quick: bool) -> dict[str, Any]:
    """The section's sizes: 100,000 stored (1,000 waiting) by default, 10,000 with ``--quick``."""
    if quick:
        return run_sizes(10_000, 200, 5, 300, 1)
    return run_sizes(100_000, 1000, 10, 2000, 2)


def render(r: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    lines = [
        "| serve over | waiting (desk) | decided | poll cycles | webhooks | RSS after start MB | "
        "RSS at end MB | peak (VmHWM) MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in (("empty store", r["empty"]), (f"{r['full']['stored_requests']:,} stored", r["full"])):
        lines.append(
            f"| {name} | {s['ticketed']} | {s['decided_between_cycles']} | {s['poll_cycles_seen']} | "
            f"{s['webhook_deliveries']} | {s['rss_after_start_kb'] / 1024:.1f} "
            f"| {s['rss_at_end_kb'] / 1024:.1f} "
            f"| {s['peak_kb'] / 1024:.1f} |"
        )
    full = r["full"]
    lines += [
        "",
        f"- peak with {full['stored_requests']:,} stored requests: {r['peak_ratio']}× the empty store "
        f"(+{r['peak_delta_mb']} MB); store file {full['db_bytes'] / 1e6:.1f} MB; states at the end: "
        f"{full['states_at_end']}. No target in the issues; tracked so a regression shows.",
    ]
    return "\n".join(lines), []
