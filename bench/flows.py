"""The real path, driven from the benchmark process: calls filed through the gate (stored, desk
ticket opened), decisions made on the local desk as ``approval-connector approve`` makes them
(LocalDeskAdapter.decide), and progress read back from the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from connector.core.models import RequestState, Verdict
from connector.core.store import requests_table

TERMINAL = ("SUCCEEDED", "FAILED", "IN_DOUBT", "REJECTED", "EXPIRED", "TAMPERED", "DENIED")


async def file_calls(
    conn: Any,
    tool: Any,
    arguments: Callable[[int], dict[str, Any]],
    count: int,
    concurrency: int = 16,
    expect: str = "LOCAL-",
) -> float:
    """``count`` calls of the gated ``tool`` (as an agent's tool call), ``concurrency`` at a time;
    returns the seconds taken. Each answer must say the call waits for a ticket."""
    from autogen_core import CancellationToken

    gated = conn.gate(tool)
    token = CancellationToken()
    slots = asyncio.Semaphore(concurrency)
    started = time.perf_counter()

    async def one(index: int) -> None:
        async with slots:
            answer = str(await gated.run_json(arguments(index), token))
            if expect not in answer:
                raise RuntimeError(f"gated call not waiting on a ticket ({expect}): {answer[:120]}")

    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - started


def decide_all(conn: Any, actor: str, system: str = "desk") -> int:
    """Approve every open desk ticket as ``actor``; returns how many."""
    desk = conn.adapters[system]
    waiting = [r for r in conn.store.list([RequestState.TICKETED], system=system) if r.ticket]
    for request in waiting:
        desk.decide(request.ticket.key, Verdict.APPROVED, actor)
    return len(waiting)


def counts(engine: Any) -> dict[str, int]:
    c = requests_table.c
    with engine.connect() as db:
        return {state: n for state, n in db.execute(select(c.state, func.count()).group_by(c.state)).all()}


def watch(engine: Any, total: int, timeout: float, interval: float = 0.025) -> list[tuple[float, int]]:
    """(seconds, finished) samples until ``total`` requests are in a terminal state (or timeout)."""
    started = time.perf_counter()
    samples: list[tuple[float, int]] = []
    while True:
        done = sum(n for s, n in counts(engine).items() if s in TERMINAL)
        now = time.perf_counter() - started
        samples.append((now, done))
        if done >= total or now > timeout:
            return samples
        time.sleep(interval)


def steady_rate(samples: list[tuple[float, int]], total: int, low: float = 0.1, high: float = 0.9) -> float:
    """Completions per second between the ``low`` and ``high`` fractions finished: the pool's steady
    rate, without the first poll's wait or the last stragglers."""

    def when(target: float) -> float | None:
        previous = (0.0, 0)
        for t, done in samples:
            if done >= target:
                (t0, d0) = previous
                return t0 + (t - t0) * ((target - d0) / (done - d0)) if done > d0 else t
            previous = (t, done)
        return None

    t_low, t_high = when(low * total), when(high * total)
    if t_low is None or t_high is None or t_high <= t_low:
        return 0.0
    return (high - low) * total / (t_high - t_low)
