"""Three ``approval-connector serve`` replicas as real processes on one PostgreSQL schema, the
Jira simulator in a process of its own answering ~20 % of the connector's calls with 429/5xx,
lost or slow answers, its webhooks scattered over random replicas (duplicated, reordered), and
replicas killed with SIGKILL and restarted throughout. 100 gated calls, decided by Alice in Jira.

What a user would check afterwards: no call ran twice (the tool appends one line per run), one
issue per request, each outcome commented exactly once and never contradicted, the audit trail
verifies, and no replica logged a traceback."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import threading
import time
from collections import Counter

from adapters.jira import parse as jira_parse
from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState
from tests.connector.test_store import pg_store_url  # noqa: F401 - fixture
from tests.faults.cluster import CONFIG, JiraProcess, Replica, environment, free_port, wait_for
from tests.faults.fault_tools import record_run
from tests.faults.jira_marks import final_outcomes, report_ids

APPROVALS = 100
SEED = 20261201
SETTLED = {RequestState.SUCCEEDED, RequestState.REJECTED, RequestState.IN_DOUBT, RequestState.FAILED}
OUTCOME_OF = {
    RequestState.SUCCEEDED: "succeeded",
    RequestState.REJECTED: "rejected",
    RequestState.IN_DOUBT: "in_doubt",
    RequestState.FAILED: "failed",
}


def verdict_for(summary: str) -> str:
    """Alice rejects every seventh call, approves the rest."""
    return "Reject" if int(summary.rsplit("-", 1)[1]) % 7 == 0 else "Approve"


def submit_all(config, env) -> None:
    """The agent side: 100 gated calls through the shipped path (stored, then the ticket is
    opened against the faulty Jira; what fails there is left to the replicas' outbox)."""
    driver = Connector.from_config(config, env=env, worker_id="driver")
    try:
        gated = driver.gate(record_run)

        async def calls() -> None:
            for start in range(0, APPROVALS, 10):
                batch = range(start, min(APPROVALS, start + 10))
                await asyncio.gather(*(gated.run_json({"ref": f"run-{n}"}, None) for n in batch))

        asyncio.run(calls())
    finally:
        driver.close()


class Chaos(threading.Thread):
    """Kills a random replica with SIGKILL every few seconds and starts it again a moment later."""

    def __init__(self, replicas: list[Replica], rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.replicas = replicas
        self.rng = rng
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.rng.uniform(2.0, 4.5)):
            victim = self.rng.choice(self.replicas)
            victim.kill()
            self.stop.wait(self.rng.uniform(0.2, 1.5))
            victim.start()


def test_three_replicas_under_faults_kills_and_scattered_webhooks(pg_store_url, tmp_path):  # noqa: F811
    rng = random.Random(SEED)
    run_log = tmp_path / "runs.log"
    env = {**environment(pg_store_url, run_log), "FAULT_TOOL_SECONDS": "0.3"}  # kills hit runs too
    ports = [free_port() for _ in range(3)]
    jira = JiraProcess.start(ports, env, tmp_path / "jira.log", rate=0.2, seed=SEED)
    path = tmp_path / "cluster.yaml"
    path.write_text(CONFIG.format(jira=jira.url).replace("sqlite:///unused.db", pg_store_url))
    config = parse_config(path.read_text(), str(path))
    Connector.from_config(config, env=env, worker_id="setup").close()  # the schema, before the replicas
    replicas = [Replica(port, path, env, tmp_path / f"replica-{i}.log") for i, port in enumerate(ports)]
    chaos = Chaos(replicas, rng)
    observer = Connector.from_config(config, env=env, worker_id="observer")
    started = time.monotonic()
    try:
        for replica in replicas:
            replica.start()
        assert wait_for(lambda: all(r.healthy() for r in replicas), 60), "replicas did not start"
        chaos.start()
        submit_all(config, env)

        def alice_decides() -> bool:
            jira.decide_waiting(verdict_for, at_most=5)  # at a person's pace, while replicas die
            return len(jira.seen) >= APPROVALS

        assert wait_for(alice_decides, 120, 0.5), f"Alice saw {len(jira.seen)} of {APPROVALS} issues"
        wait_for(lambda: sum(r.kills for r in replicas) >= 6, 30)  # a fast machine: kill some more
        chaos.stop.set()
        chaos.join(10)
        for replica in replicas:
            if not replica.alive():
                replica.start()

        def settled() -> bool:
            states = Counter(r.state for r in observer.store.list())
            return sum(states[s] for s in SETTLED) == APPROVALS and observer.store.outbox_backlog() == 0

        assert wait_for(settled, 120, 1.0), (
            f"not settled: {Counter(r.state.value for r in observer.store.list())}, "
            f"outbox backlog {observer.store.outbox_backlog()}"
        )
        snapshot = jira.state()
        requests_ = {r.id: r for r in observer.store.list()}
        elapsed = time.monotonic() - started
    finally:
        chaos.stop.set()
        for replica in replicas:
            replica.stop()
        jira.stop()
        observer.close()

    kills = sum(r.kills for r in replicas)
    injected = snapshot["injected"]
    states = Counter(r.state.value for r in requests_.values())
    print(f"\n{elapsed:.0f}s, {kills} kills, {dict(states)}, injected {injected}, {snapshot['webhooks']}")
    assert kills >= 5 and sum(injected.values()) >= 50  # the faults really happened

    # 0 double runs: one line per run, never a repeated one; rejected calls never ran
    runs = Counter(run_log.read_text().split()) if run_log.exists() else Counter()
    assert [ref for ref, n in runs.items() if n > 1] == []
    refs = {r.id: r.arguments["ref"] for r in requests_.values()}
    for request in requests_.values():
        ran = runs[refs[request.id]]
        if request.state is RequestState.SUCCEEDED:
            assert ran == 1, (request.id, request.state)
        elif request.state is RequestState.REJECTED:
            assert ran == 0, (request.id, request.state)

    # one issue per request, every one decided by Alice
    issues_of: dict[str, list[dict]] = {rid: [] for rid in requests_}
    for issue in snapshot["issues"]:
        owners = [rid for rid in requests_ if jira_parse.request_label(rid) in issue["labels"]]
        assert len(owners) == 1, issue["key"]
        issues_of[owners[0]].append(issue)
    assert {rid: len(found) for rid, found in issues_of.items() if len(found) != 1} == {}
    assert len(snapshot["issues"]) == APPROVALS

    # each outcome commented exactly once, and what it says is what happened
    for rid, [issue] in issues_of.items():
        ids = report_ids(issue["comments"])
        assert len(ids) == len(set(ids)), (issue["key"], ids)
        outcomes = final_outcomes(issue["comments"])
        assert outcomes == [OUTCOME_OF[requests_[rid].state]], (issue["key"], outcomes)
    rejected = [r.id for r in requests_.values() if verdict_for(r.arguments["ref"]) == "Reject"]
    assert all(requests_[rid].state is RequestState.REJECTED for rid in rejected)
    assert all(requests_[rid].state is not RequestState.REJECTED for rid in set(requests_) - set(rejected))

    verify = subprocess.run(
        [sys.executable, "-m", "connector.cli", "-c", str(path), "audit", "verify"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    for replica in replicas:
        assert "Traceback" not in replica.log.read_text(), replica.log
    assert "Traceback" not in (tmp_path / "jira.log").read_text()
