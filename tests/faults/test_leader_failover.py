"""One poller per system across ``serve`` processes: while the leader lives, the other replica
does not poll; when the leader is killed with SIGKILL, the other takes the lead within one poll
interval and decides what people decided meanwhile."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState, Verdict
from tests.faults.cluster import Replica, environment, free_port, wait_for

POLL_INTERVAL = 3.0
CONFIG = """
store: {{url: "sqlite:///{db}"}}
scheduler: {{poll_interval: {poll}s, outbox_interval: 0.5s, recovery_interval: 1s, lease: 2s}}
server: {{host: 127.0.0.1, port: 0, shutdown_grace: 5s}}
systems: {{desk: {{type: local}}}}
tools: {{record_run: {{import: "tests.faults.fault_tools:record_run"}}}}
routes:
  - {{name: runs, tools: [record_run], system: desk, approvers: [alice]}}
"""
LEADS = "polling desk from this replica"


def leads(replica: Replica) -> bool:
    return LEADS in replica.log.read_text().split("=== start")[-1]


def test_killing_the_poll_leader_hands_the_lead_over_within_one_interval(workdir: Path):
    path = workdir / "failover.yaml"
    path.write_text(CONFIG.format(db=workdir / "c.db", poll=POLL_INTERVAL))
    env = environment("", workdir / "runs.log")
    del env["APPROVAL_CONNECTOR_DB_URL"]
    Connector.from_config(path).close()  # the schema, before the replicas
    first, second = (Replica(free_port(), path, env, workdir / f"replica-{i}.log") for i in range(2))
    try:
        first.start()
        assert wait_for(lambda: first.healthy() and leads(first), 30, 0.1), first.log.read_text()
        second.start()
        assert wait_for(second.healthy, 30, 0.1)
        time.sleep(2 * POLL_INTERVAL)
        assert not leads(second), "two replicas poll the same system"

        first.kill()
        killed = time.monotonic()
        assert wait_for(lambda: leads(second), 3 * POLL_INTERVAL, 0.05), second.log.read_text()
        took = time.monotonic() - killed
        assert took <= POLL_INTERVAL, f"the lead moved after {took:.1f}s (poll interval {POLL_INTERVAL}s)"

        desk = Connector.from_config(parse_config(path.read_text(), str(path)), env=env, worker_id="person")
        try:
            request = asyncio.run(desk.service.submit("record_run", {"ref": "after-failover"}, {}))
            desk.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
            assert wait_for(lambda: desk.store.get(request.id).state is RequestState.SUCCEEDED, 20, 0.1)
            assert (workdir / "runs.log").read_text().split() == ["after-failover"]
        finally:
            desk.close()
    finally:
        for replica in (first, second):
            replica.stop()
