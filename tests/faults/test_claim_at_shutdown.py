"""SIGTERM while a run's claim is still being written: a ``serve`` process on PostgreSQL starts an
approved run, whose claim waits on a row lock another session holds, and the shutdown's grace
runs out meanwhile. The process ends (uvicorn re-raises the signal) with the claim's transaction
uncommitted, so PostgreSQL rolls it back: the request is still APPROVED, nobody's claim, and the
next executor runs it at once, exactly once — no lease to wait out, no run in doubt that never
happened, and no ERROR line for a shutdown that went as configured. (Where the event loop
closes instead, the claim lands and is given back: tests/connector/test_service_faults.py.)"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState
from connector.testing.postgres import temporary_schema
from tests.conftest import pg_url
from tests.connector.serve_process import start_serve
from tests.connector.service_harness import wait_until
from tests.connector.slow_tools import slow_write

CONFIG = """
store: {{url: "{url}"}}
scheduler: {{poll_interval: 0.2s, outbox_interval: 0.2s, recovery_interval: 0.2s, lease: 30s}}
server: {{host: 127.0.0.1, port: 0, shutdown_grace: 0.5s}}
systems: {{desk: {{type: local}}}}
tools: {{slow_write: {{import: "tests.connector.slow_tools:slow_write"}}}}
routes:
  - {{name: slow, tools: [slow_write], system: desk, approvers: [alice]}}
"""


def approved_request(conn: Connector) -> str:
    """A call filed and approved, not yet claimed (decided while no executor was up)."""
    request = asyncio.run(conn.service.submit("slow_write", {"label": "job"}, {"agent": "a"}))
    with conn.store.transaction() as c:
        assert conn.store.transition(
            c, request.id, [RequestState.TICKETED], RequestState.APPROVED, approver="alice"
        )
    asyncio.run(conn.service.seal_audit())  # its chain sealed: the seal job leaves the row alone
    return request.id


def claim_waiting_on_lock(engine, request_id: str) -> bool:
    """The serve process's claim (the UPDATE that sets claimed_by) is queued on the row lock."""
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query ILIKE 'UPDATE approval_requests%claimed_by%'"
            )
        ).all()
    return bool(rows)


def test_sigterm_while_a_claim_waits_on_a_lock_leaves_the_request_to_run_once(workdir: Path, monkeypatch):
    server = pg_url()
    if not server:
        pytest.skip("PostgreSQL not configured")
    with temporary_schema(server) as url:
        path = workdir / "serve.yaml"
        path.write_text(CONFIG.format(url=url))
        conn = Connector.from_config(parse_config(path.read_text(), str(path)))
        request_id = approved_request(conn)
        locker = create_engine(url)
        lock = locker.connect()
        tx = lock.begin()
        lock.execute(text("SELECT id FROM approval_requests WHERE id = :id FOR UPDATE"), {"id": request_id})
        proc = start_serve(path, workdir, SLOW_TOOL_DIR=str(workdir), SLOW_TOOL_SECONDS="0.1")
        try:
            wait_until(lambda: claim_waiting_on_lock(locker, request_id), timeout=30)
            proc.send_signal(signal.SIGTERM)
            time.sleep(1.5)  # well past the 0.5 s grace: the run is being cancelled
            tx.commit()  # the claim lands now, after its run was given up
            lock.close()
            proc.wait(timeout=30)
        finally:
            proc.kill()
            locker.dispose()
        log = proc.stderr.read()
        try:
            assert proc.returncode in (0, -signal.SIGTERM), log
            assert "Traceback" not in log and "ERROR" not in log, log
            assert not (workdir / "started-job").exists()  # the tool never started
            stored = conn.store.get(request_id)
            events = [r["event"] for r in conn.store.audit.rows(conn.store.engine, request_id)]
            assert stored.state is RequestState.APPROVED and stored.claimed_by is None, (stored.state, events)
            assert "claimed" not in events, events
            # it runs at once, exactly once
            monkeypatch.setenv("SLOW_TOOL_DIR", str(workdir))
            monkeypatch.setenv("SLOW_TOOL_SECONDS", "0.1")
            conn.register_tool(slow_write)
            after = asyncio.run(conn.service.execute(request_id))
            assert after.state is RequestState.SUCCEEDED
            assert (workdir / "finished-job").exists()
            events = [r["event"] for r in conn.store.audit.rows(conn.store.engine, request_id)]
            assert events.count("claimed") == 1 and events.count("succeeded") == 1, events
            assert conn.store.audit.verify(conn.store.engine, conn.service.ctx.sealer.audit_key()) == []
        finally:
            conn.close()
