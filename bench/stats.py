"""Rates and latency percentiles over several load runs of one endpoint."""

from __future__ import annotations

from collections import Counter
from typing import Any


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    completed = sum(r["completed"] for r in runs)
    elapsed = sum(r["elapsed"] for r in runs)
    latencies = [x for r in runs for x in r["latencies"]]
    statuses: Counter = Counter()
    errors: Counter = Counter()
    for r in runs:
        statuses.update(r["statuses"])
        errors.update(r["errors"])
    server_cpu = sum(r["server_cpu_seconds"] + r.get("server_cpu_after_reply_seconds", 0.0) for r in runs)
    return {
        "completed": completed,
        "rate": round(completed / elapsed, 1) if elapsed else 0.0,
        "rate_per_run": [round(r["completed"] / r["elapsed"], 1) for r in runs],
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies, default=0.0) * 1000, 2),
        "statuses": dict(statuses),
        "errors": dict(errors),
        "timed_out_runs": sum(1 for r in runs if r["timed_out"]),
        "server_cpu_ms_per_request": round(server_cpu * 1000 / completed, 3) if completed else 0.0,
        "client_cpu_share": round(sum(r["client_cpu_seconds"] for r in runs) / elapsed, 2)
        if elapsed
        else 0.0,
    }
