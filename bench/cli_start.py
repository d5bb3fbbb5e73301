"""How long ``approval-connector --help`` and ``--version`` take to start, side by side with a bare
``python -c pass`` (the interpreter's own floor), as repeated subprocess runs interleaved so that
machine load falls on all three alike. Target: ``--help`` under 0.2 s.

``python -m bench.cli_start [--runs N] [--json]``; ``measure()`` is what ``python -m bench`` calls."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

TARGET_SECONDS = 0.2


def commands() -> dict[str, list[str]]:
    """The installed entry point when there is one (what users run), else ``python -m``."""
    script = shutil.which("approval-connector", path=os.path.dirname(sys.executable)) or shutil.which(
        "approval-connector"
    )
    cli = [script] if script else [sys.executable, "-m", "connector.app.cli"]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "approval-connector --help": [*cli, "--help"],
        "approval-connector --version": [*cli, "--version"],
    }


def _once(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-300:]}")
    return took


def measure(runs: int = 20) -> dict[str, Any]:
    """min/median/max seconds of each command over ``runs`` interleaved runs (one warm-up each)."""
    table = commands()
    times: dict[str, list[float]] = {name: [] for name in table}
    for argv in table.values():
        _once(argv)  # warm the OS file cache and the bytecode cache
    for _ in range(runs):
        for name, argv in table.items():
            times[name].append(_once(argv))
    bare = statistics.median(times["python -c pass"])
    rows = {}
    for name, values in times.items():
        median = statistics.median(values)
        rows[name] = {
            "min_s": round(min(values), 4),
            "median_s": round(median, 4),
            "max_s": round(max(values), 4),
            "x_bare": round(median / bare, 1) if bare else None,
        }
    help_median = rows["approval-connector --help"]["median_s"]
    return {
        "runs": runs,
        "load": [round(x, 2) for x in os.getloadavg()],
        "rows": rows,
        "target_s": TARGET_SECONDS,
        "met": help_median < TARGET_SECONDS,
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"CLI start-up, {result['runs']} interleaved runs each (load {result['load']}):",
        f"{'command':<32}{'min s':>9}{'median s':>10}{'max s':>9}{'x bare':>8}",
    ]
    for name, row in result["rows"].items():
        lines.append(
            f"{name:<32}{row['min_s']:>9.3f}{row['median_s']:>10.3f}{row['max_s']:>9.3f}{row['x_bare']:>8}"
        )
    verdict = "met" if result["met"] else "MISSED"
    lines.append(f"target: --help median under {result['target_s']} s: {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cli_start", description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="runs of each command (default 20)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result = measure(args.runs)
    print(json.dumps(result, indent=2) if args.json else render(result))


if __name__ == "__main__":
    main()
