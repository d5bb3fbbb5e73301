"""An execution claim whose lease runs out while its holder still runs the tool (its heartbeats
failing): another replica, in its own thread, declares the run in doubt — and nothing runs it a
second time; the first holder's late result is fenced off the state but kept in the audit trail."""

from __future__ import annotations

import asyncio
from pathlib import Path

from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState, Verdict, utcnow
from tests.faults.replicas import run_together

CONFIG = """
store: {{url: "sqlite:///{db}"}}
scheduler: {{lease: 1s}}
systems: {{desk: {{type: local}}}}
tools: {{record_run: {{import: "tests.faults.fault_tools:record_run"}}}}
routes:
  - {{name: runs, tools: [record_run], system: desk, approvers: [alice]}}
"""


def replica(db: Path, name: str) -> Connector:
    return Connector.from_config(parse_config(CONFIG.format(db=db), "lease.yaml"), worker_id=name)


def test_a_claim_that_outlives_its_lease_is_in_doubt_and_never_run_twice(workdir, monkeypatch):
    run_log = workdir / "runs.log"
    monkeypatch.setenv("FAULT_RUN_LOG", str(run_log))
    monkeypatch.setenv("FAULT_TOOL_SECONDS", "2.5")  # longer than the 1s lease
    a, b = replica(workdir / "c.db", "replica-a"), replica(workdir / "c.db", "replica-b")
    try:
        request = asyncio.run(a.service.submit("record_run", {"ref": "job-1"}, {"agent": "x"}))
        with a.store.transaction() as conn:
            assert a.store.transition(
                conn, request.id, [RequestState.TICKETED], RequestState.APPROVED, approver="alice"
            )

        def beat_fails(*args):
            raise RuntimeError("database unreachable from replica A")

        monkeypatch.setattr(a.store, "extend_lease", beat_fails)

        async def replica_b() -> int:
            def lapsed() -> bool:
                stored = b.store.get(request.id)
                return stored.state is RequestState.EXECUTING and stored.lease_until < utcnow()

            while not lapsed():
                await asyncio.sleep(0.05)
            recovered = await b.recover()
            for _ in range(3):  # and B keeps cycling while A is still running
                await b.run_all_jobs_once()
                await asyncio.sleep(0.3)
            return recovered

        after_a, recovered_by_b = run_together([lambda: a.service.execute(request.id), replica_b], timeout=60)
        assert recovered_by_b == 1
        assert run_log.read_text().split() == ["job-1"]  # ran once, by A
        stored = a.store.get(request.id)
        assert stored.state is RequestState.IN_DOUBT and after_a.state is RequestState.IN_DOUBT
        rows = list(a.store.audit.rows(a.store.engine, request.id))
        assert any("recorded job-1" in str(r["details"]) for r in rows)  # A's result is on record
        assert [r["event"] for r in rows].count("claimed") == 1
        asyncio.run(b.run_all_jobs_once())
        assert run_log.read_text().split() == ["job-1"]
        comments = [c["body"] for c in b.adapters["desk"].ticket(stored.ticket.key)["comments"]]
        assert sum("lost track of the run" in c for c in comments) == 1, comments
        assert a.store.audit.verify(a.store.engine) == []
    finally:
        a.close()
        b.close()


def test_a_run_started_from_its_decided_copy_after_another_replica_ran_it_runs_nothing(workdir, monkeypatch):
    """Replica A learns the approval and starts the run from the request as it just stored it
    (not read back); before A's run begins, replica B's cycle has claimed and run it. A's copy
    still says APPROVED: A's claim is refused by the store, and the call ran once."""
    run_log = workdir / "runs.log"
    monkeypatch.setenv("FAULT_RUN_LOG", str(run_log))
    a, b = replica(workdir / "c.db", "replica-a"), replica(workdir / "c.db", "replica-b")
    try:
        request = asyncio.run(a.service.submit("record_run", {"ref": "job-2"}, {"agent": "x"}))
        a.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
        started: list[tuple[str, object]] = []
        execution = a.service.execution
        execution.start = lambda rid, approved=None: started.append((rid, approved))  # type: ignore[method-assign]
        asyncio.run(a.poll_once())  # A decides; its run is held back here
        del execution.start
        [(held_id, decided_copy)] = [(rid, copy) for rid, copy in started if copy is not None]
        assert decided_copy.state is RequestState.APPROVED
        asyncio.run(b.service.execution.run_approved())  # B's cycle runs it meanwhile
        assert run_log.read_text().split() == ["job-2"]

        async def a_resumes():
            return await execution.start(held_id, decided_copy)

        after = asyncio.run(a_resumes())
        assert run_log.read_text().split() == ["job-2"]  # not run a second time
        assert after.state is RequestState.SUCCEEDED and after.claimed_by == "replica-b"
        rows = [r["event"] for r in a.store.audit.rows(a.store.engine, request.id)]
        assert rows.count("claimed") == 1 and rows.count("finished") <= 1
    finally:
        a.close()
        b.close()
