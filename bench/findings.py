"""What the figures mean: missed targets, in numbers, with the fix each one suggests. Verdicts and
numbers come from the run's own results; where-the-time-goes notes come from a cProfile session of
``serve`` under the same load (said so where used)."""

from __future__ import annotations

from typing import Any

from .report import INTAKE_TARGET, WEBHOOK_CALLS_TARGET


def _intake(r: dict[str, Any]) -> list[str]:
    if r["ratio"] >= INTAKE_TARGET:
        return [f"- Webhook intake meets the target: intake/bare = {r['ratio']} (>= {INTAKE_TARGET})."]
    reply, full = r["intake_reply_only"], r["intake"]
    handoff = full["server_cpu_ms_per_request"] - reply["server_cpu_ms_per_request"]
    out = [
        f"- **Webhook intake misses the target**: intake/bare = {r['ratio']} for accepted deliveries "
        f"({full['rate']} vs {r['bare']['rate']} req/s; p50 {full['p50_ms']} vs {r['bare']['p50_ms']} ms, "
        f"p99 {full['p99_ms']} vs {r['bare']['p99_ms']} ms). Without the hand-off the reply path alone "
        f"reaches {r['ratio_reply_only']} "
        f"({'meets' if r['ratio_reply_only'] >= INTAKE_TARGET else 'also misses'} the target).",
        f"  Server CPU per delivery: bare {r['bare']['server_cpu_ms_per_request']} ms, reply path "
        f"{reply['server_cpu_ms_per_request']} ms, with hand-off {full['server_cpu_ms_per_request']} ms "
        f"(the hand-off adds {handoff:.2f} ms). Where it goes (a separate "
        "cProfile session of serve under the same load, main thread): "
        "about half of the event loop's time is `WebhookIntake._process` -> `handle_event` "
        "(`store.find_by_ticket`, a blocking SQLAlchemy read run on the event loop) and `process_outbox` "
        "(`store.due_outbox`, another blocking read on the loop), once per delivery even when the hint "
        "names no waiting request; the reply path's own cost is mostly `store.first_delivery` "
        "(SQLAlchemy Core INSERT + commit, ~0.24 ms CPU) in a worker thread competing for the GIL.",
        "  Proposed fixes (connector/webhooks.py, connector/service.py, connector/store.py; "
        "not changed here):",
        "  1. Do not run `process_outbox` after every hint: only when `handle_event` changed the request "
        "(it returns the request; compare states) or enqueue a single debounced outbox pass.",
        "  2. Coalesce hints: put them on an `asyncio.Queue` drained by one worker that de-duplicates by "
        "(system, ticket key) per batch, and run the store reads in `handle_event` via `asyncio.to_thread` "
        "so they never block the loop that answers deliveries.",
        "  3. Cheaper durable de-duplication: one prepared `INSERT OR IGNORE` (`exec_driver_sql`, rowcount "
        "tells first/duplicate) instead of Core insert + IntegrityError; optionally batch the ids of "
        "concurrent deliveries into one transaction (group commit) before answering them.",
    ]
    return out


def _calls(r: dict[str, Any]) -> list[str]:
    out = []
    webhook = max(s["webhook"]["calls"] for s in r["by_pending"].values())
    if webhook > WEBHOOK_CALLS_TARGET:
        out.append(
            f"- **Webhook path misses the target**: {webhook} calls per approval (> {WEBHOOK_CALLS_TARGET})."
        )
    else:
        out.append(
            f"- Webhook path: {webhook} calls per approval at every size (re-read, transitions list, "
            "transition with the comment): meets <= 3."
        )
    idle = {n: s["poll_idle"] for n, s in r["by_pending"].items()}
    if (
        len({s["calls"] for s in idle.values()}) == 1
        and len({s["jql_chars_max"] for s in idle.values()}) == 1
    ):
        biggest = max(r["by_pending"], key=int)
        one = next(iter(idle.values()))
        out.append(
            f"- Poll cost is flat in the number pending: {one['calls']} search per cycle, "
            f"JQL of {one['jql_chars_max']} characters at {', '.join(idle)} pending, vs "
            f"{r['by_pending'][biggest]['baseline']['calls_per_cycle']} GET /issue per cycle for per-ticket "
            f"polling at {biggest} pending."
        )
    else:
        detail = "; ".join(
            f"{n}: {s['calls']} calls, {s['searches']} searches, JQL {s['jql_chars_max']} chars"
            for n, s in idle.items()
        )
        out.append(f"- **Poll cost is NOT flat in the number pending**: {detail}.")
    hist = r["by_finished_in_window"]
    calls = [s["cycle"]["calls"] for s in hist.values()]
    if len(set(calls)) > 1:
        biggest = max(hist, key=int)
        out += [
            "- **Poll cost is NOT flat in history**: the query "
            '(`labels = "approval-connector" AND status not in ("Awaiting Approval") '
            "AND updated >= -<oldest waiting age + 1 day>m`) also returns every "
            "approval issue the connector already finished inside the window, each with its changelog. "
            f"Idle cycle with {', '.join(hist)} such issues: {calls} calls "
            f"({hist[biggest]['cycle']['search_pages']} search pages at {biggest}), every poll interval, "
            "and the window grows with the age of the oldest waiting request (up to its deadline + 1 day).",
            "  Proposed fix (adapters/jira/adapter.py, not changed here): keep finished issues out of the "
            "query. When the connector reports a final outcome it already POSTs a transition; add a label in "
            'the same call (`update: {labels: [{add: "approval-connector-done"}]}`, no extra request) and '
            'poll with `... AND labels not in ("approval-connector-done")`; then results are only issues '
            "decided and not yet reported (bounded by decisions per interval plus the outbox backlog). "
            "Alternatively (or additionally) bound the window by the last successful poll "
            "(`updated >= -<minutes since last success + margin>m`, the cursor is already stored) instead of "
            "the oldest waiting request's age, with the wide sweep only at start-up. Also: the poll's "
            "docstring still says 'No timestamps' although the query now uses a relative `updated` window.",
        ]
    return out


def _memory(r: dict[str, Any]) -> list[str]:
    full = r["full"]
    return [
        f"- Memory: peak {full['peak_kb'] / 1024:.1f} MB with {full['stored_requests']:,} stored requests "
        f"({full['ticketed']} waiting) vs {r['empty']['peak_kb'] / 1024:.1f} MB over an empty store "
        f"(x{r['peak_ratio']}, +{r['peak_delta_mb']} MB): modest, consistent with SQLite's page cache on "
        "pooled connections and the waiting rows each poll loads; the finished requests are not loaded "
        "(the poll lists only TICKETED rows, /metrics counts with GROUP BY). No target missed."
    ]


def render(results: dict[str, Any]) -> str:
    lines = ["## Findings and proposed fixes", ""]
    if "intake" in results:
        lines += _intake(results["intake"])
    if "api_calls" in results:
        lines += _calls(results["api_calls"])
    if "memory" in results:
        lines += _memory(results["memory"])
    return "\n".join(lines)
