"""``python -m bench``: every benchmark section in one run (or ``--only SECTION``, repeatable),
figures side by side, written to bench/RESULTS.md (stamped with the commit) and the raw JSON to
bench/results/latest.json. ``--quick`` shrinks every section to a smoke test (< 2 minutes)."""

from __future__ import annotations

import argparse
import importlib
import logging
import shlex
import sys
import time
import traceback
from datetime import datetime, timezone
from typing import Any

from . import machine, report
from .common import commit_stamp, loadavg

# name -> (module, title); each module has run(quick) -> dict and render(dict) -> (markdown, verdicts)
SECTIONS: dict[str, tuple[str, str]] = {
    "intake": ("bench.intake", "Webhook intake vs a bare endpoint (wrk, own process)"),
    "calls": ("bench.api_calls", "API calls per approval (simulator request logs, real intake)"),
    "replicas": ("bench.replicas", "Replicas and the executor pool (PostgreSQL, I/O-bound tool)"),
    "approvals": ("bench.approvals", "Approvals per second end to end (local desk)"),
    "overhead": ("bench.overhead", "Gate overhead: auto-mode gated call vs bare tool"),
    "listing": ("bench.listing", "`requests list` / `requests show` at 1,000,000 stored requests"),
    "poll": ("bench.poll", "Poll cycle wall time at 10,000 waiting"),
    "memory": ("bench.memory", "Peak memory of `approval-connector serve`"),
    "cli": ("bench.cli_start", "CLI start-up"),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--only", choices=list(SECTIONS), action="append", help="run only this section (repeatable)"
    )
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke test of the sections")
    p.add_argument("--no-write", action="store_true", help="print only; do not write RESULTS.md / JSON")
    p.add_argument(
        "--rerender",
        action="store_true",
        help="measure nothing: write RESULTS.md again from bench/results/latest.json (same figures, commit)",
    )
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.rerender:
        return rerender()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("approval_connector").setLevel(logging.ERROR)
    names = [n for n in SECTIONS if n in (args.only or SECTIONS)]
    started = time.perf_counter()
    results: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "bench", *argv]),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit_stamp(),
        "machine": machine.info(),
        "load": {"before": loadavg()},
        "quick": args.quick,
        "only": args.only or [],
        "sections": {},
    }
    rendered: list[tuple[str, str]] = []
    verdicts: list[dict[str, Any]] = []
    failed = 0
    for index, name in enumerate(names, 1):
        module_name, title = SECTIONS[name]
        print(f"{index}/{len(names)} {name}: {title} ...", file=sys.stderr, flush=True)
        section_started = time.perf_counter()
        try:
            module = importlib.import_module(module_name)
            result = module.run(args.quick)
            result["section_seconds"] = round(time.perf_counter() - section_started, 1)
            result["load_after"] = loadavg()
            text, found = module.render(result)
        except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others
            failed += 1
            result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            text, found = f"**Section failed**: `{result['error']}` (traceback in the JSON).", []
            print(result["traceback"], file=sys.stderr)
        results["sections"][name] = result
        rendered.append(
            (
                title,
                text + f"\n\n_section time {result.get('section_seconds', '?')} s, load after "
                f"{result.get('load_after', loadavg())}_",
            )
        )
        verdicts += found
        print(f"   {name}: {result.get('section_seconds', '?')} s", file=sys.stderr, flush=True)
    results["seconds"] = time.perf_counter() - started
    results["load"]["after"] = loadavg()
    results["verdicts"] = verdicts
    print(report.verdict_table(verdicts))
    for title, text in rendered:
        print(f"\n## {title}\n\n{text}")
    if not args.no_write:
        path = report.write(results, rendered, verdicts)
        print(
            f"\nwritten: {path} and bench/results/latest.json ({results['seconds']:.0f} s)", file=sys.stderr
        )
    return 1 if failed else 0


def rerender() -> int:
    """RESULTS.md from the stored raw figures (after a change to how a section is shown)."""
    import json

    results = json.loads((report.HERE / "results" / "latest.json").read_text())
    rendered, verdicts = [], []
    for name, result in results["sections"].items():
        module_name, title = SECTIONS[name]
        if "error" in result:
            text, found = f"**Section failed**: `{result['error']}` (traceback in the JSON).", []
        else:
            text, found = importlib.import_module(module_name).render(result)
        rendered.append(
            (
                title,
                text + f"\n\n_section time {result.get('section_seconds', '?')} s, load after "
                f"{result.get('load_after')}_",
            )
        )
        verdicts += found
    results["verdicts"] = verdicts
    path = report.write(results, rendered, verdicts)
    print(f"re-rendered {path} from bench/results/latest.json (commit {results['commit']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
