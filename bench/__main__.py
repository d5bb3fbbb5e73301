"""``python -m bench``: run the three benchmarks in one go, print the figures side by side, and write
bench/RESULTS.md and bench/results/latest.json. Sizes and durations are flags (see ``--help``)."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from datetime import datetime, timezone
from typing import Any

from . import api_calls, findings, intake, machine, memory, report


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--only", choices=["intake", "calls", "memory"], action="append", help="run only these parts"
    )
    g = p.add_argument_group("1. webhook intake")
    g.add_argument("--requests", type=int, default=2000, help="requests per load run (per endpoint)")
    g.add_argument("--rounds", type=int, default=3, help="alternating rounds over the endpoints")
    g.add_argument("--concurrency", type=int, default=16, help="keep-alive connections of the load generator")
    g.add_argument("--warmup", type=int, default=300, help="uncounted requests per endpoint first")
    g.add_argument("--max-seconds", type=float, default=30.0, help="time bound of one load run")
    g = p.add_argument_group("2. API calls per approval")
    g.add_argument(
        "--pending", type=_ints, default=[10, 1000, 10000], help="numbers pending, e.g. 10,1000,10000"
    )
    g.add_argument("--decided", type=_ints, default=[1, 10], help="issues decided in one poll cycle")
    g.add_argument("--baseline-max", type=int, default=10000, help="GET /issue calls actually made per size")
    g.add_argument(
        "--finished",
        type=_ints,
        default=[0, 1000, 10000],
        help="finished approval issues inside the poll window",
    )
    g = p.add_argument_group("3. memory")
    g.add_argument("--stored", type=int, default=100000, help="requests in the store")
    g.add_argument("--waiting", type=int, default=1000, help="of which TICKETED on the local desk")
    g.add_argument("--decide", type=int, default=10, help="desk tickets approved between poll cycles")
    g.add_argument("--deliveries", type=int, default=2000, help="webhook deliveries sent to serve")
    g.add_argument("--cycles", type=int, default=2, help="poll cycles to wait for, before and after")
    p.add_argument(
        "--no-write", action="store_true", help="print only; do not write RESULTS.md / latest.json"
    )
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("approval_connector").setLevel(logging.ERROR)  # the in-process connector of part 2
    parts = set(args.only or ["intake", "calls", "memory"])
    started = time.perf_counter()
    results: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "bench", *argv]),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine.info(),
        "settings": vars(args),
    }
    if "intake" in parts:
        print("1/3 webhook intake vs bare endpoint ...", file=sys.stderr, flush=True)
        results["intake"] = intake.run(
            args.requests, args.rounds, args.concurrency, args.max_seconds, args.warmup
        )
    if "calls" in parts:
        print("2/3 API calls per approval ...", file=sys.stderr, flush=True)
        results["api_calls"] = api_calls.run(args.pending, args.decided, args.baseline_max, args.finished)
    if "memory" in parts:
        print("3/3 memory of serve ...", file=sys.stderr, flush=True)
        results["memory"] = memory.run(args.stored, args.waiting, args.decide, args.deliveries, args.cycles)
    results["seconds"] = time.perf_counter() - started
    printed = report.render(results)
    notes = findings.render(results)
    print(printed + "\n\n" + notes)
    if not args.no_write:
        md, js = report.write(results, printed, notes)
        print(f"\nwritten: {md}, {js} ({results['seconds']:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
