"""Webhook intake of ``serve`` (signature check, durable delivery id, reply) against a bare
Starlette endpoint on the same uvicorn settings, measured alternately in one run, with the load
generator in a separate process."""

from __future__ import annotations

import copy
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from adapters.jira.simulator import JiraSimulator

from .servers import ServerProcess, start_bare, start_serve
from .setup import REPO, WEBHOOK_SECRET, jira_config
from .stats import summarize


def webhook_body(sim: JiraSimulator, label: str = "approval-connector") -> str:
    """A Jira 'issue_updated' delivery (status changed to Approved). With the connector's label: an
    approval issue it has no request for, accepted (202), then looked up after the reply and
    dropped. Without it: verified, recorded and answered 'ignored' (200), nothing handed off."""
    issue = sim.create_issue("OPS", "Customer e-mail (not a pending request)", labels=[label])
    sim.transition(issue.key, "Approve", actor="alice")
    data = copy.deepcopy(sim.issue_json(issue))
    data["key"] = "OPS-999999"
    data["id"] = "999999"
    payload = {
        "timestamp": int(time.time() * 1000),
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": sim.user_json(sim.user("alice")),
        "issue": data,
        "changelog": {
            "items": [
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "fromString": "Awaiting Approval",
                    "toString": "Approved",
                }
            ]
        },
    }
    return json.dumps(payload)


def load(
    server: ServerProcess, body: str, requests: int, concurrency: int, max_seconds: float, signed: bool
) -> dict[str, Any]:
    """One bounded load run from a separate process; adds the server's CPU time used."""
    spec = {
        "port": server.port,
        "path": "/webhooks/jira",
        "body": body,
        "requests": requests,
        "concurrency": concurrency,
        "max_seconds": max_seconds,
        "secret": WEBHOOK_SECRET if signed else "",
        "delivery_prefix": f"bench-{uuid.uuid4().hex[:12]}" if signed else "",
    }
    cpu_before = server.cpu_seconds()
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", json.dumps(spec)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=max_seconds + 60,
        check=True,
    )
    result = json.loads(done.stdout)
    result["server_cpu_seconds"] = server.cpu_seconds() - cpu_before
    return result


def delivery_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM webhook_deliveries").fetchone()[0])


def run(requests: int, rounds: int, concurrency: int, max_seconds: float, warmup: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        work = Path(tmp)
        sim = JiraSimulator.seeded_demo()
        with sim.serve() as jira_url:
            bodies = {
                "bare": webhook_body(sim),
                "intake": webhook_body(sim),
                "intake_reply_only": webhook_body(sim, label="not-an-approval"),
            }
            config = work / "intake.yaml"
            config.write_text(jira_config(jira_url, work / "intake.db"))
            env = {**sim.demo_env(), "APPROVAL_CONNECTOR_DEMO_MAILBOX": str(work / "mailbox.jsonl")}
            serve = start_serve(config, env, work / "serve.log")
            bare = start_bare(work / "bare.log")
            try:
                servers = {"bare": bare, "intake": serve, "intake_reply_only": serve}
                for name, server in servers.items():  # warm-up, not counted
                    load(server, bodies[name], warmup, concurrency, max_seconds, signed=name != "bare")
                    server.settle()
                sim_calls_before = len(sim.calls)
                rows_before = delivery_rows(work / "intake.db")
                runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
                settle_seconds = 0.0
                for index in range(rounds):  # alternate, and reverse the order every other round
                    order = list(servers) if index % 2 == 0 else list(reversed(servers))
                    for name in order:
                        server = servers[name]
                        signed = name != "bare"
                        result = load(server, bodies[name], requests, concurrency, max_seconds, signed=signed)
                        # work the intake handed off after replying still costs the same server:
                        # wait for it and charge its CPU to this run
                        cpu_before = server.cpu_seconds()
                        settle_seconds += server.settle()
                        result["server_cpu_after_reply_seconds"] = server.cpu_seconds() - cpu_before
                        runs[name].append(result)
                stored = delivery_rows(work / "intake.db") - rows_before
                sim_calls = len(sim.calls) - sim_calls_before
                log_tail = (work / "serve.log").read_text(errors="replace").splitlines()[-3:]
            finally:
                serve.stop()
                bare.stop()
    summary = {name: summarize(results) for name, results in runs.items()}
    bare_rate = summary["bare"]["rate"]
    return {
        **summary,
        "ratio": round(summary["intake"]["rate"] / bare_rate, 3) if bare_rate else 0.0,
        "ratio_reply_only": round(summary["intake_reply_only"]["rate"] / bare_rate, 3) if bare_rate else 0.0,
        "delivery_ids_stored": stored,
        "deliveries_sent": summary["intake"]["completed"] + summary["intake_reply_only"]["completed"],
        "jira_api_calls_during_intake": sim_calls,
        "body_bytes": len(bodies["intake"].encode()),
        "requests_per_run": requests,
        "rounds": rounds,
        "concurrency": concurrency,
        "settle_seconds": round(settle_seconds, 2),
        "serve_log_tail": log_tail,
    }
