"""Shared by the conversation tests: a local desk config, real processes, reading the store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from connector.app.config import parse_config
from connector.app.runtime import Connector
from tests.conftest import REPO

CONFIG = """
store: {{url: "{url}"}}
scheduler: {{lease: {lease}, outbox_interval: 1s, poll_interval: 1s}}
systems:
  desk: {{type: local, groups: {{leads: [carol]}}}}
tools:
  send_email: {{import: "connector.demo.tools:send_email"}}
routes:
  - name: customer-email
    tools: [send_email]
    system: desk
    approvers: [alice, "group:leads"]
    deadline: 1h
"""


def write_config(workdir: Path, url: str | None = None, lease: str = "2s") -> Path:
    path = workdir / "conversations.yaml"
    path.write_text(CONFIG.format(url=url or f"sqlite:///{workdir / 'c.db'}", lease=lease))
    return path


def connector(path: Path, worker_id: str | None = None) -> Connector:
    return Connector.from_config(parse_config(path.read_text(), str(path)), worker_id=worker_id)


def env(**extra: str) -> dict[str, str]:
    full = {**os.environ, "PYTHONPATH": str(REPO), **extra}
    full.pop("APPROVAL_CONNECTOR_CONFIG", None)
    return full


def run(*args: str, cwd: Path, extra_env: dict[str, str] | None = None, timeout: float = 120) -> Any:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env(**(extra_env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn(*args: str, cwd: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=env(**(extra_env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def cli_args(config: Path, *args: str) -> list[str]:
    return ["-m", "connector.cli", "--config", str(config), *args]


def finished(proc: subprocess.Popen, timeout: float = 120) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    return out, err


def step_messages(conn: Connector, conversation_id: str, step: int) -> list[dict[str, Any]]:
    return [m for m in conn.store.messages(conversation_id) if m["step"] == step]
