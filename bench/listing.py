"""``requests list`` and ``requests show`` over 1,000,000 stored requests (SQLite): the command
functions in-process (connector built once, output to a buffer) and the CLI as a subprocess (wall
time, peak RSS by GNU time). The store is prepared once and cached in bench/.cache (gitignored):
a few hundred requests through the real path (gate, desk ticket, approve, run, report: real audit
rows), then multiplied in SQL — each copy with its own id, its created_at shifted back, and its
audit rows copied under the new id."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from .common import CACHE, fmt, run_child, spread
from .flows import decide_all, file_calls
from .overhead import SHIPPED
from .servers import CLI

TARGET_MS = 50.0
TARGET_MB = 150.0
TEMPLATES = 500


def _email(i: int) -> dict[str, Any]:
    return {"to": f"customer{i}@example.com", "subject": f"Order {i}", "body": "Your order shipped."}


async def _real_requests(config: Path) -> None:
    from connector.app.config import load_config
    from connector.app.runtime import Connector
    from connector.demo.tools import send_email

    conn = Connector.from_config(load_config(config))
    try:
        await file_calls(conn, send_email, _email, TEMPLATES)
        desk = conn.adapters["desk"]
        waiting = conn.store.list()
        from connector.core.models import Verdict

        for i, request in enumerate(waiting):  # a mix of outcomes, as months of use leave them
            if i % 5 == 0:
                desk.decide(request.ticket.key, Verdict.REJECTED, "alice", reason="not now")
            elif i % 5 != 1:
                desk.decide(request.ticket.key, Verdict.APPROVED, "alice")
        await conn.service.poll_once()
        while await conn.service.process_outbox():
            pass
        decide_all  # noqa: B018 - (the rest stay waiting)
    finally:
        conn.close()


def _columns(db: Any, table: str) -> list[str]:
    return [row[1] for row in db.execute(text(f"PRAGMA table_info({table})")).all()]


def _multiply(url: str, total: int) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    copies = total // TEMPLATES - 1
    with engine.begin() as db:
        cols = [c for c in _columns(db, "approval_requests") if c not in ("id", "created_at", "dedupe_key")]
        acols = [
            c
            for c in _columns(db, "audit_log" if _has(db, "audit_log") else "audit")
            if c not in ("seq", "request_id")
        ]
        audit = "audit_log" if _has(db, "audit_log") else "audit"
        db.execute(text("CREATE TEMP TABLE n(i INTEGER PRIMARY KEY)"))
        db.execute(
            text(
                f"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {copies}) "
                "INSERT INTO n SELECT i FROM c"
            )
        )
        db.execute(
            text(
                "CREATE TEMP TABLE ids AS SELECT r.id AS old, lower(hex(randomblob(16))) "
                "AS new, n.i AS i FROM approval_requests r, n"
            )
        )
        db.execute(
            text(
                f"INSERT INTO approval_requests (id, created_at, dedupe_key, {', '.join(cols)}) "
                "SELECT ids.new, "
                "strftime('%Y-%m-%d %H:%M:%S', r.created_at, printf('-%d minutes', ids.i)) || "
                f"substr(r.created_at, 20), NULL, {', '.join('r.' + c for c in cols)} "
                "FROM ids JOIN approval_requests r ON r.id = ids.old"
            )
        )
        db.execute(
            text(
                f"INSERT INTO {audit} (request_id, {', '.join(acols)}) "
                f"SELECT ids.new, {', '.join('a.' + c for c in acols)} "
                f"FROM ids JOIN {audit} a ON a.request_id = ids.old ORDER BY ids.i, a.seq"
            )
        )
    engine.dispose()


def _has(db: Any, table: str) -> bool:
    return (
        db.execute(text("SELECT 1 FROM sqlite_master WHERE type='table' AND name=:t"), {"t": table}).first()
        is not None
    )


def prepared(total: int) -> tuple[Path, Path, float]:
    """(config, database, seconds spent preparing: 0 when cached)."""
    folder = CACHE / f"listing-{total}"
    db, config = folder / "store.db", folder / SHIPPED.name
    if db.exists() and (folder / "ready").exists():
        return config, db, 0.0
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copyfile(SHIPPED, config)
    started = time.perf_counter()
    url = f"sqlite:///{db}"
    env = {"APPROVAL_CONNECTOR_DB_URL": url, "APPROVAL_CONNECTOR_DEMO_MAILBOX": str(folder / "mailbox.jsonl")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        asyncio.run(_real_requests(config))
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    _multiply(url, total)
    (folder / "ready").write_text("ok\n")
    return config, db, time.perf_counter() - started


CALLS = ("list", "list --state TICKETED", "show (full id)", "show (12-char prefix)", "store.page(limit=50)")
PROBE_TIMEOUT = 45.0
SLOW_MS = 20_000.0
MEMORY_CAP_MB = 4096


def probe(config: Path, db: Path, name: str, shown: str, repeats: int) -> list[float]:
    """In this process: one command function, ``repeats`` + 1 times (the first warms the page cache
    and is dropped); milliseconds each. Run as a child (``python -m bench.listing ...``) so a
    command that loads a million rows is bounded in time and memory, not the benchmark."""
    from connector.app.cli import output, session
    from connector.app.cli.inspection import list_requests, show_request
    from connector.app.config import load_config
    from connector.app.runtime import Connector

    os.environ["APPROVAL_CONNECTOR_DB_URL"] = f"sqlite:///{db}"
    session.STATE.connector = Connector.from_config(load_config(config))
    store = session.STATE.connector.store
    page = {"route": None, "system": None, "older_than": None, "newer_than": None, "limit": 50, "offset": 0}
    listing, showing = list_requests.callback, show_request.callback  # the commands' own functions
    calls = {
        "list": lambda: listing(states=(), **page),
        "list --state TICKETED": lambda: listing(states=("TICKETED",), **page),
        "show (full id)": lambda: showing(request_id=shown),
        "show (12-char prefix)": lambda: showing(request_id=shown[:12]),
        "store.page(limit=50)": lambda: store.page(limit=50),
    }
    output.out.file = io.StringIO()
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        calls[name]()
        times.append((time.perf_counter() - started) * 1000)
        if sum(times) > SLOW_MS and len(times) >= 2:  # slow: two runs say enough
            break
    session.close()
    return times[1:]


def _in_process(config: Path, db: Path, shown: str, repeats: int) -> dict[str, Any]:
    import json
    import sys

    out: dict[str, Any] = {}
    for name in CALLS:
        child = run_child(
            [sys.executable, "-m", "bench.listing", name, str(config), str(db), shown, str(repeats)],
            timeout=PROBE_TIMEOUT,
            memory_cap_mb=MEMORY_CAP_MB,
        )
        line = child.stdout.strip().splitlines()[-1:] if child.returncode == 0 else []
        if line:
            out[name] = {**spread(json.loads(line[0]), 1), "process_peak_rss_mb": child.peak_rss_mb}
        else:
            why = (
                f"did not finish within {PROBE_TIMEOUT:.0f} s"
                if child.timed_out
                else f"failed (exit {child.returncode}; {MEMORY_CAP_MB} MB address-space cap): "
                + (child.stderr.strip().splitlines() or [""])[-1][:120]
            )
            out[name] = {"n": 0, "failed": why}
    return out


def _cli(config: Path, db: Path, shown: str, repeats: int) -> dict[str, Any]:
    env = {"APPROVAL_CONNECTOR_DB_URL": f"sqlite:///{db}"}
    commands = {"requests list": ["requests", "list"], "requests show": ["requests", "show", shown]}
    out: dict[str, Any] = {}
    for name, args in commands.items():
        runs = []
        for _ in range(repeats):
            runs.append(
                run_child(
                    [str(CLI), "--config", str(config), *args],
                    env=env,
                    timeout=PROBE_TIMEOUT,
                    memory_cap_mb=MEMORY_CAP_MB,
                )
            )
            if runs[-1].seconds * 1000 > SLOW_MS or runs[-1].timed_out:
                break
        out[name] = {
            "seconds": spread([r.seconds for r in runs], 2),
            "peak_rss_mb": spread([r.peak_rss_mb for r in runs], 1),
            "exit_codes": sorted({r.returncode for r in runs}),
            "lines": len(runs[-1].stdout.splitlines()),
            "stderr_tail": runs[-1].stderr.strip().splitlines()[-1:] if runs[-1].returncode else [],
            "timed_out": sum(r.timed_out for r in runs),
        }
    return out


def run(quick: bool) -> dict[str, Any]:
    total = 20_000 if quick else 1_000_000
    config, db, prepare_s = prepared(total)
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM approval_requests")).scalar()
        shown = conn.execute(
            text("SELECT id FROM approval_requests WHERE state = 'SUCCEEDED' ORDER BY id LIMIT 1")
        ).scalar()
    engine.dispose()
    repeats = 3 if quick else 5
    return {
        "stored": stored,
        "db_mb": round(db.stat().st_size / 1e6, 1),
        "prepare_seconds": round(prepare_s, 1),
        "shown_id": shown,
        "in_process_ms": _in_process(config, db, shown, repeats),
        "cli": _cli(config, db, shown, 3 if quick else 5),
    }


def render(r: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    lines = [
        f"{r['stored']:,} stored requests (SQLite file {r['db_mb']} MB, "
        + ("cached in bench/.cache" if not r["prepare_seconds"] else f"prepared in {r['prepare_seconds']} s")
        + ").",
        "",
        "| in-process (connector built once, output to a buffer) | ms, median (min–max) |",
        "|---|---|",
    ]
    for name, s in r["in_process_ms"].items():
        lines.append(f"| `{name}` | {s['failed'] if 'failed' in s else fmt(s)} |")
    lines += [
        "",
        "| CLI subprocess | wall s | peak RSS MB | exit codes | lines printed |",
        "|---|---|---|---|---|",
    ]
    for name, s in r["cli"].items():
        lines.append(
            f"| `approval-connector {name}` | {fmt(s['seconds'])} | {fmt(s['peak_rss_mb'])} | "
            f"{s['exit_codes']} {s['stderr_tail'] or ''} | {s['lines']} |"
        )
    scale = "" if r["stored"] >= 1_000_000 else f" (quick: {r['stored']:,} stored)"
    why = {  # what each command does per call, for a miss (the figures above say by how much)
        "list": "one page read in index order (store.page) plus the rows' rendering",
        "show (full id)": "reads the request, its outbox rows and its audit trail",
        "show (12-char prefix)": "the prefix is tried as an id, a ticket key (ix_requests_ticket_key) "
        "and an id range, then the request is read as for a full id",
    }
    verdicts = []
    for name in ("list", "show (full id)", "show (12-char prefix)"):
        s = r["in_process_ms"][name]
        met = "failed" not in s and s["median"] < TARGET_MS
        verdicts.append(
            {
                "what": f"`requests {name}` in-process at 1M{scale}",
                "measured": s["failed"] if "failed" in s else f"{fmt(s)} ms",
                "target": f"< {TARGET_MS:.0f} ms",
                "met": met,
                "why": "" if met else why[name],
            }
        )
    for name in ("requests list", "requests show"):
        c = r["cli"][name]
        s = c["peak_rss_mb"]
        met = not c["timed_out"] and c["exit_codes"] == [0] and s["median"] < TARGET_MB
        if c["timed_out"]:
            measured = f"no result: killed after {PROBE_TIMEOUT:.0f} s " + (
                f"(last line: {c['stderr_tail'][0][:60]!r}, under a {MEMORY_CAP_MB} MB address-space cap)"
                if c["stderr_tail"]
                else ""
            )
        elif c["exit_codes"] != [0]:
            tail = f", last line {c['stderr_tail'][0][:40]!r}" if c["stderr_tail"] else ""
            measured = (
                f"{fmt(s)} MB, then failed (exit {c['exit_codes']}{tail}) at the {MEMORY_CAP_MB} MB cap"
            )
        else:
            measured = f"{fmt(s)} MB"
        verdicts.append(
            {
                "what": f"`{name}` CLI peak RSS at 1M{scale}",
                "measured": measured,
                "target": f"< {TARGET_MB:.0f} MB",
                "met": met,
                "why": ""
                if met
                else "every matching row is materialised as a model before the last 50 are kept",
            }
        )
    _ = statistics
    return "\n".join(lines), verdicts


if __name__ == "__main__":
    import json
    import sys

    name, config_arg, db_arg, shown_arg, repeats_arg = sys.argv[1:6]
    print(json.dumps(probe(Path(config_arg), Path(db_arg), name, shown_arg, int(repeats_arg))))
