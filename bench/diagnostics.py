"""Diagnostic variants of a measured round, never how the connector runs: they say where the time
of a missed target goes. ``calls_on_the_loop`` makes a connector's store (and adapter) calls on
the event loop itself instead of in its worker threads; ``on_one_cpu`` holds the round's threads
on one CPU, so every hand-off between the loop and a worker stays on one core."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

VARIANTS = ("threads", "one_cpu", "on_the_loop")  # "threads": as shipped


def calls_on_the_loop(conn: Any, adapters: bool = True) -> None:
    """Store calls (and, with ``adapters``, adapter calls) run inline on the loop: what the
    thread hand-offs cost is the difference to the shipped round."""

    async def store_inline(fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    async def store_inline_undoable(fn: Any, args: tuple[Any, ...], undo: Any) -> Any:
        return fn(*args)  # nothing to undo: the call cannot be abandoned half-way on the loop

    conn.service.ctx.db = store_inline
    conn.service.ctx.db_or_undo = store_inline_undoable
    if not adapters:
        return
    for bridge in conn.service.ctx.adapters.values():

        async def adapter_inline(method: str, *args: Any, then: Any = None, _b: Any = bridge) -> Any:
            answer = getattr(_b.adapter, method)(*args)
            return answer if then is None else (answer, then(answer))

        bridge._call = adapter_inline


@contextmanager
def on_one_cpu(enabled: bool = True) -> Iterator[int | None]:
    """Pin the calling thread to one of its CPUs for the block; threads it starts meanwhile (the
    connector's worker pools start lazily, from the loop's thread) inherit it. Yields the CPU,
    or None where the platform cannot pin (then nothing changes)."""
    if not enabled or not hasattr(os, "sched_setaffinity"):
        yield None
        return
    allowed = os.sched_getaffinity(0)
    cpu = min(allowed)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, allowed)


def variant_note(rates: dict[str, Any], unit: str) -> str:
    """One sentence for a verdict: the variants' medians beside the shipped one."""
    parts = []
    if "one_cpu" in rates:
        parts.append(f"with the process's threads held on one CPU {rates['one_cpu']['median']}{unit}")
    if "on_the_loop" in rates:
        parts.append(
            f"with the store and adapter calls made on the event loop {rates['on_the_loop']['median']}{unit}"
        )
    if not parts:
        return ""
    return "diagnostics (not how the connector runs): " + "; ".join(parts)
