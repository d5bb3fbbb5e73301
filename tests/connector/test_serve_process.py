"""``approval-connector serve`` as a real process, stopped with SIGTERM in the middle of a run."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState, Verdict
from tests.connector.serve_process import start_serve
from tests.connector.service_harness import wait_until
from tests.connector.slow_tools import slow_write

CONFIG = """
store: {{url: "sqlite:///{db}"}}
scheduler: {{poll_interval: 0.2s, outbox_interval: 0.2s, recovery_interval: 0.2s, lease: 1s}}
server: {{host: 127.0.0.1, port: 0, shutdown_grace: {grace}}}
systems: {{desk: {{type: local}}}}
tools: {{slow_write: {{import: "tests.connector.slow_tools:slow_write"}}}}
routes:
  - {{name: slow, tools: [slow_write], system: desk, approvers: ["*"]}}
"""


def start(workdir: Path, grace: str, seconds: float) -> tuple[subprocess.Popen, Path]:
    path = workdir / "serve.yaml"
    path.write_text(CONFIG.format(db=workdir / "c.db", grace=grace))
    Connector.from_config(path).close()  # create the schema before the server does
    proc = start_serve(path, workdir, SLOW_TOOL_DIR=str(workdir), SLOW_TOOL_SECONDS=str(seconds))
    return proc, path


def approve_one(path: Path) -> tuple[Connector, str]:
    conn = Connector.from_config(parse_config(path.read_text(), str(path)))
    gated = conn.gate(slow_write)
    asyncio.run(gated.run_json({"label": "job"}, None))
    [request] = conn.store.list()
    conn.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
    return conn, request.id


def sigterm_mid_run(workdir: Path, grace: str, seconds: float) -> tuple[subprocess.Popen, Connector, str]:
    """Serve, approve one slow call, and send SIGTERM once the tool has started."""
    proc, path = start(workdir, grace=grace, seconds=seconds)
    try:
        conn, request_id = approve_one(path)
        wait_until(lambda: (workdir / "started-job").exists(), timeout=20)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    return proc, conn, request_id


def test_sigterm_lets_a_run_in_progress_finish(workdir):
    """The run was started by the serve process's poll (the desk decision is found by it)."""
    proc, conn, request_id = sigterm_mid_run(workdir, grace="20s", seconds=1.5)
    log = proc.stderr.read()
    assert (workdir / "finished-job").exists()
    assert conn.store.get(request_id).state is RequestState.SUCCEEDED
    assert "(poll)" in log  # decided by the poll, which started the run
    assert proc.returncode in (0, -signal.SIGTERM), log  # uvicorn re-raises the signal
    assert "Traceback" not in log and " ERROR " not in log, log  # a normal stop is not an error
    conn.close()


def test_sigterm_past_the_grace_leaves_the_run_in_doubt_not_lost(workdir):
    proc, conn, request_id = sigterm_mid_run(workdir, grace="0.5s", seconds=60)
    assert not (workdir / "finished-job").exists()
    assert conn.store.get(request_id).state is RequestState.EXECUTING  # recorded, claimed
    time.sleep(1.1)  # the dead executor's lease runs out
    conn.register_tool(slow_write)
    asyncio.run(conn.recover())
    asyncio.run(conn.process_outbox())
    assert conn.store.get(request_id).state is RequestState.IN_DOUBT
    ticket = conn.adapters["desk"].ticket(conn.store.get(request_id).ticket.key)
    assert "check by hand" in ticket["comments"][-1]["body"]
    conn.close()
