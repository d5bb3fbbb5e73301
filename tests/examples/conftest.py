"""The examples as a user runs them from a checkout: ``python -m examples.<name> ...`` in real
processes (the examples directory importable), their world files in the test's directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

EXAMPLES = REPO / "examples"


@pytest.fixture
def world(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EXAMPLE_CRM_DB", str(workdir / "crm.db"))
    monkeypatch.setenv("EXAMPLE_PROVISIONING_LOG", str(workdir / "provisioning.jsonl"))
    return workdir


def example(
    package: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    full.pop("APPROVAL_CONNECTOR_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", f"examples.{package}", *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def config_for(package: str, name: str, workdir: Path, url: str | None = None) -> Path:
    """An example's config with its store in ``workdir`` (and a simulator's URL), as a user would
    point it at their own database and instance."""
    data: dict[str, Any] = yaml.safe_load((EXAMPLES / package / name).read_text())
    data["store"]["url"] = f"sqlite:///{workdir / 'example.db'}"
    # each `poll --once` is a new process: a short interval lets the next one take the poll lead
    data.setdefault("scheduler", {})["poll_interval"] = "1s"
    if url is not None:
        system = next(iter(data["systems"].values()))
        system["instance_url" if system["type"] == "servicenow" else "url"] = url
    path = workdir / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
