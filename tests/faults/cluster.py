"""Real processes for the multi-process fault suite: ``approval-connector serve`` replicas (killed
with SIGKILL and restarted on their own port) and the Jira simulator process, all on one config
and one PostgreSQL schema; plus Alice, who decides through Jira's REST API as a person would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.conftest import REPO

SEAL_KEY = "fault-suite-seal-key-0123456789abcdef"
ALICE = ("alice@example.com", "alice-token")

CONFIG = """
store: {{url: "sqlite:///unused.db"}}
scheduler: {{poll_interval: 1s, outbox_interval: 0.5s, expiry_interval: 5s, recovery_interval: 1s, lease: 3s}}
server: {{host: 127.0.0.1, port: 0, shutdown_grace: 5s}}
systems:
  jira:
    type: jira
    url: {jira}
    deployment: cloud
    auth: {{email_env: JIRA_EMAIL, token_env: JIRA_API_TOKEN}}
    service_account: "712020:0b9d5a1e-1111-4c2e-9f00-bot000000001"
    webhook: {{secret_env: JIRA_WEBHOOK_SECRET, events: ["jira:issue_updated"]}}
    timeouts: {{connect: 0.5, read: 0.8}}
    retry: {{attempts: 2, base_delay: 0.05, max_delay: 0.2, max_inline_wait: 1}}
    create_grace_seconds: 5
tools:
  record_run: {{import: "tests.faults.fault_tools:record_run"}}
routes:
  - name: runs
    tools: [record_run]
    system: jira
    approvers: ["5b10a2844c20165700ede21a"]
    deadline: 1h
    ticket: {{project: OPS, issue_type: Task, summary: "Run {{{{ args.ref }}}}", components: [Email]}}
    decision: {{mode: status, pending: ["Awaiting Approval"], approved: ["Approved"], rejected: ["Rejected"]}}
    outcome:
      on_success: {{transition: Mark executed, fields: {{resolution: {{name: Done}}}}}}
      on_failure: Mark failed
      on_in_doubt: Mark failed
      on_rejection: Close
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(db_url: str, run_log: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "APPROVAL_CONNECTOR_DB_URL": db_url,
        "APPROVAL_CONNECTOR_SEAL_KEY": SEAL_KEY,
        "JIRA_EMAIL": "jira-bot@example.com",
        "JIRA_API_TOKEN": "bot-token",
        "JIRA_WEBHOOK_SECRET": "demo-webhook-secret",
        "FAULT_RUN_LOG": str(run_log),
    }


@dataclass
class Replica:
    """One ``serve`` process slot: its port stays, its process is killed and started again."""

    port: int
    config: Path
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None
    starts: int = 0
    kills: int = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("a") as out:
            out.write(f"\n=== start {self.starts}\n")
            command = ["-m", "connector.cli", "-c", str(self.config), "serve", "--port", str(self.port)]
            self.proc = subprocess.Popen(
                [sys.executable, *command],
                cwd=self.config.parent,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.kills += 1

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def healthy(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code < 500
        except requests.RequestException:
            return False


@dataclass
class JiraProcess:
    proc: subprocess.Popen
    url: str
    seen: dict[str, str] = field(default_factory=dict)  # issue key -> what Alice decided

    @classmethod
    def start(cls, ports: list[int], env: dict[str, str], log: Path, rate: float, seed: int) -> JiraProcess:
        args = ["--replicas", ",".join(map(str, ports)), "--rate", str(rate), "--seed", str(seed)]
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.jira_process", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            proc.kill()
            raise AssertionError(f"the Jira simulator did not start: {line!r} (see {log})")
        return cls(proc, f"http://127.0.0.1:{int(line.split()[1])}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def state(self) -> dict[str, Any]:
        answer = requests.get(f"{self.url}/_test/state", auth=ALICE, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def decide_waiting(self, verdict_for: Any, at_most: int = 1000) -> int:
        """Alice's round: up to ``at_most`` issues awaiting approval that she has not decided,
        approved or rejected (``verdict_for(summary)`` says which) with the workflow's own
        transitions."""
        search = requests.get(
            f"{self.url}/rest/api/2/search/jql",
            params={"jql": 'project = OPS AND status = "Awaiting Approval"', "fields": "summary"},
            auth=ALICE,
            timeout=10,
        )
        search.raise_for_status()
        decided = 0
        for issue in search.json().get("issues", []):
            key = issue["key"]
            if key in self.seen:
                continue
            if decided >= at_most:
                break
            verdict = verdict_for(issue["fields"]["summary"])
            base = f"{self.url}/rest/api/2/issue/{key}/transitions"
            options = requests.get(base, auth=ALICE, timeout=10).json()["transitions"]
            [chosen] = [t["id"] for t in options if t["name"] == verdict]
            moved = requests.post(base, json={"transition": {"id": chosen}}, auth=ALICE, timeout=10)
            moved.raise_for_status()
            self.seen[key] = verdict
            decided += 1
        return decided


def wait_for(predicate: Any, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
