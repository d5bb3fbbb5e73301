"""Turns one run's figures into the printed tables, bench/RESULTS.md and bench/results/latest.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
INTAKE_TARGET = 0.5
WEBHOOK_CALLS_TARGET = 3


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join(
        [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells[1:])]
    )


def intake_section(r: dict[str, Any]) -> str:
    rows = []
    for name, label in (
        ("bare", "bare Starlette route (200 at once)"),
        ("intake_reply_only", "serve: verify + record id + reply (no hand-off)"),
        ("intake", "serve: verify + record id + reply + hand-off"),
    ):
        s = r[name]
        rows.append(
            [
                label,
                s["completed"],
                s["rate"],
                s["p50_ms"],
                s["p99_ms"],
                s["server_cpu_ms_per_request"],
                s["client_cpu_share"],
                ", ".join(f"{k}x{v}" for k, v in sorted(s["statuses"].items())),
                sum(s["errors"].values()),
            ]
        )
    table = _table(
        [
            "endpoint",
            "requests",
            "req/s",
            "p50 ms",
            "p99 ms",
            "server CPU ms/req",
            "load generator CPU share",
            "statuses",
            "errors",
        ],
        rows,
    )
    verdict = "meets" if r["ratio"] >= INTAKE_TARGET else "MISSES"
    return "\n".join(
        [
            "### 1. Webhook intake vs a bare endpoint (same uvicorn settings, alternated)",
            "",
            table,
            "",
            f"- **intake/bare = {r['ratio']}** for accepted deliveries "
            f"({verdict} the target of >= {INTAKE_TARGET}); "
            f"reply path alone (delivery answered 'ignored', nothing handed off): {r['ratio_reply_only']}.",
            f"- per-run rates: bare {r['bare']['rate_per_run']}, "
            f"reply-only {r['intake_reply_only']['rate_per_run']}, "
            f"accepted {r['intake']['rate_per_run']}.",
            f"- {r['delivery_ids_stored']} delivery ids stored for "
            f"{r['deliveries_sent']} signed deliveries sent; "
            f"Jira API calls caused: {r['jira_api_calls_during_intake']}; body {r['body_bytes']} bytes; "
            f"{r['rounds']} rounds x {r['requests_per_run']} requests per endpoint, "
            f"concurrency {r['concurrency']} "
            "(keep-alive); CPU used after the last reply (hand-off work) is charged to the run.",
            "- method: each server in its own process (`approval-connector --config ... serve`, the example "
            "Jira config pointed at the Jira simulator on loopback; the bare route on "
            "`uvicorn.Config(log_level='warning', lifespan='on', timeout_graceful_shutdown=30)` as in "
            "connector/server.py); the load generator is a third process (raw asyncio keep-alive HTTP/1.1, "
            "bounded by count and time, 127.0.0.1 only). A load-generator CPU share near 1.0 would mean "
            "the client, not the server, limited that rate; for the bare route that would make the true gap "
            "larger, not smaller.",
        ]
    )


def calls_section(r: dict[str, Any]) -> str:
    rows = []
    for n, s in r["by_pending"].items():
        poll = s["poll"]
        k_cells = []
        for k in ("1", "10"):
            p = poll.get(k)
            k_cells.append(
                f"{p['cycle']['calls']} + {p['reports']['calls']} reports "
                f"= {p['calls_per_approval']}/approval"
                if p
                else "-"
            )
        idle = s["poll_idle"]
        base = s["baseline"]
        rows.append(
            [
                n,
                s["webhook"]["calls"],
                idle["calls"],
                idle["searches"],
                idle["jql_chars_max"],
                *k_cells,
                f"{base['calls_per_cycle']}" + (" (extrapolated)" if base["extrapolated"] else ""),
            ]
        )
    table = _table(
        [
            "pending",
            "webhook path calls/approval",
            "poll cycle calls (idle)",
            "searches/cycle",
            "JQL chars",
            "poll, 1 decided",
            "poll, 10 decided",
            "per-ticket baseline calls/cycle",
        ],
        rows,
    )
    hist_rows = [
        [h, s["pending"], s["sweep"]["calls"], s["cycle"]["calls"], s["cycle"]["search_pages"]]
        for h, s in r["by_finished_in_window"].items()
    ]
    hist = _table(
        [
            "approval issues finished recently",
            "pending",
            "start-up / hourly sweep calls",
            "steady-state idle cycle calls",
            "steady-state search pages",
        ],
        hist_rows,
    )
    webhook_max = max(s["webhook"]["calls"] for s in r["by_pending"].values())
    idle_calls = [s["poll_idle"]["calls"] for s in r["by_pending"].values()]
    flat_pending = len(set(idle_calls)) == 1
    hist_calls = [s["cycle"]["calls"] for s in r["by_finished_in_window"].values()]
    flat_history = len(set(hist_calls)) <= 1
    first = next(iter(r["by_pending"].values()))
    endpoints = ", ".join(f"{k} x{v}" for k, v in first["webhook"]["by_endpoint"].items())
    lines = [
        "### 2. Jira API calls per approval (simulator counts, in-process on `responses`)",
        "",
        table,
        "",
        f"- webhook path: at most {webhook_max} calls per approval "
        f"({'meets' if webhook_max <= WEBHOOK_CALLS_TARGET else 'MISSES'} "
        f"the target of <= {WEBHOOK_CALLS_TARGET}): "
        f"{endpoints}.",
        f"- poll cost per cycle in the number pending: {idle_calls} calls at "
        f"{list(r['by_pending'])} pending -> {'FLAT' if flat_pending else 'NOT FLAT'}; "
        "the per-ticket baseline "
        "costs one GET per waiting ticket per cycle.",
        "",
        hist,
        "",
        f"- steady-state poll cost per idle cycle with that many recently finished issues: {hist_calls} "
        "-> "
        + ("flat (a cycle looks back only to the previous poll)." if flat_history else "**NOT FLAT**.")
        + " The start-up and hourly full look back pages through them (sweep column).",
    ]
    return "\n".join(lines)


def memory_section(r: dict[str, Any]) -> str:
    rows = []
    for name, s in (("empty store", r["empty"]), (f"{r['full']['stored_requests']:,} stored", r["full"])):
        rows.append(
            [
                name,
                s["ticketed"],
                s["decided_between_cycles"],
                s["poll_cycles_seen"],
                s["webhook_deliveries"],
                round(s["rss_after_start_kb"] / 1024, 1),
                round(s["rss_at_end_kb"] / 1024, 1),
                round(s["peak_kb"] / 1024, 1),
            ]
        )
    table = _table(
        [
            "serve over",
            "waiting (desk)",
            "decided",
            "poll cycles",
            "webhooks",
            "RSS after start MB",
            "RSS at end MB",
            "peak (VmHWM) MB",
        ],
        rows,
    )
    full = r["full"]
    return "\n".join(
        [
            "### 3. Peak memory of `approval-connector serve`",
            "",
            table,
            "",
            f"- peak with {full['stored_requests']:,} stored requests: {r['peak_ratio']}x the empty store "
            f"(+{r['peak_delta_mb']} MB); store file {full['db_bytes'] / 1e6:.1f} MB; states at the end: "
            f"{full['states_at_end']}.",
        ]
    )


def render(results: dict[str, Any]) -> str:
    parts = []
    if "intake" in results:
        parts.append(intake_section(results["intake"]))
    if "api_calls" in results:
        parts.append(calls_section(results["api_calls"]))
    if "memory" in results:
        parts.append(memory_section(results["memory"]))
    return "\n\n".join(parts)


def write(results: dict[str, Any], printed: str, findings: str) -> tuple[Path, Path]:
    machine = results["machine"]
    md = "\n".join(
        [
            "# Benchmark results",
            "",
            f"Command: `{results['command']}` (from the repository root, venv Python)  ",
            f"Run: {results['started']}, {results['seconds']:.0f} s in total  ",
            f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_mb']} MB, "
            f"{machine['os']}, "
            f"Python {machine['python']}  ",
            f"Code: commit {machine['git_commit']}"
            + (" (connector/ or adapters/ modified)" if machine["git_dirty_outside_bench"] else "")
            + f"; {', '.join(f'{k} {v}' for k, v in machine['packages'].items())}",
            "",
            "These are benchmarks, not timed tests: figures vary between machines and runs; the ratios and",
            "counts are what to compare. Raw figures: `bench/results/latest.json`.",
            "",
            printed,
            "",
            findings,
            "",
        ]
    )
    md_path = HERE / "RESULTS.md"
    md_path.write_text(md)
    json_path = HERE / "results" / "latest.json"
    json_path.parent.mkdir(exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    return md_path, json_path
