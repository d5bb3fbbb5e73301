"""``serve`` refuses to start without the tools it runs and the secrets the config names (a real
process), unless ``--allow-missing``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import REPO
from tests.connector.service_harness import wait_until
from tests.connector.test_check_config import free_port

CONFIG = """
store: {{url: "sqlite:///{db}"}}
server: {{host: 127.0.0.1, port: {port}}}
systems:
  desk: {{type: local}}
mcp_servers:
  files: {{command: "true", env: {{API_KEY: ACR_TEST_MCP_KEY}}, proxy: {{tokens: {{alice: ACR_TEST_PROXY}}}}}}
tools:
  send_email: {{import: "connector.demo_tools:send_email"}}
  crm_update: {{import: "myapp_not_installed.tools:crm_update"}}
routes:
  - {{name: mail, tools: [send_email, crm_update], system: desk, approvers: ["*"]}}
"""


def serve(workdir: Path, *flags: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    path = workdir / "serve.yaml"
    path.write_text(CONFIG.format(db=workdir / "c.db", port=port))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACR_TEST_")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "-c", path.name, "serve", *flags],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, port


def test_serve_refuses_to_start_and_lists_what_is_missing(workdir):
    proc, port = serve(workdir)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 2 and "Traceback" not in err
    assert "serve: not starting, 2 missing (start with --allow-missing" in err
    assert "variable ACR_TEST_MCP_KEY (serve.yaml:7: mcp_servers.files.env.API_KEY): not set" in err
    assert "tool crm_update: serve.yaml:10: tools.crm_update.import: cannot import module " in err
    assert "send_email" not in err  # it imports
    assert "ACR_TEST_PROXY" not in err  # only mcp-proxy reads its tokens


def test_allow_missing_starts_anyway_and_says_what_is_missing(workdir):
    proc, port = serve(workdir, "--allow-missing")
    try:
        wait_until(lambda: _health(port) is not None, timeout=30)
        assert _health(port) in (200, 503)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert "serving without variable ACR_TEST_MCP_KEY" in err
    assert "serving without tool crm_update" in err


def _health(port: int) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
    except httpx.HTTPError:
        time.sleep(0.1)
        return None
