"""Replicas that really interleave: each runs in its own thread with its own event loop (and its
own engine and adapter sessions, as separate processes would), released together by a barrier."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any


def run_together(jobs: list[Callable[[], Awaitable[Any]]], timeout: float = 60.0) -> list[Any]:
    """Run each job in its own thread and event loop, all starting at the same moment; re-raise
    the first failure. Returns the jobs' results in order."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def worker(index: int, job: Callable[[], Awaitable[Any]]) -> None:
        async def main() -> Any:
            barrier.wait(timeout)
            return await job()

        try:
            results[index] = asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i, j), daemon=True) for i, j in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        if thread.is_alive():
            raise AssertionError("a replica did not finish in time")
    if errors:
        raise errors[0]
    return results
