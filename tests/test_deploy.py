"""The shipped systemd unit and Containerfile: linted (systemd-analyze where it exists, and a parse
of the keys that matter), their command lines accepted by the real CLI, and the image built where
a container daemon runs."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from connector.app.cli import main
from connector.core.durations import parse_duration
from connector.core.settings import ServerConfig
from tests.conftest import REPO

UNIT = REPO / "deploy" / "approval-connector.service"
CONTAINERFILE = REPO / "deploy" / "Containerfile"


def unit_sections(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd's format: [Section], Key=Value (a key may repeat), # and ; comments."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"line {number}: not Key=Value in a section: {raw!r}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def accepts_help(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The CLI parses ``args`` (the arguments after the program name) and shows the command's help."""
    with pytest.raises(SystemExit) as exited:
        main([*args, "--help"])
    captured = capsys.readouterr()
    assert exited.value.code == 0, captured.err
    return captured.out


def test_the_unit_has_what_a_replica_needs(capsys):
    unit = unit_sections(UNIT.read_text())
    for section, keys in {
        "Unit": ["Description", "After"],
        "Service": ["ExecStart", "User", "Restart", "KillSignal", "TimeoutStopSec", "EnvironmentFile"],
        "Install": ["WantedBy"],
    }.items():
        for key in keys:
            assert unit.get(section, {}).get(key), f"[{section}] {key}= missing"
    service = unit["Service"]
    assert service["User"] != ["root"] and service["KillSignal"] == ["SIGTERM"]
    grace = ServerConfig().shutdown_grace
    assert parse_duration(service["TimeoutStopSec"][0]) > grace  # runs in progress get their grace
    [command] = service["ExecStart"]
    program, *args = shlex.split(command)
    assert Path(program).name == "approval-connector" and "serve" in args
    assert "--allow-missing" not in args
    assert "Receive ticket webhooks" in accepts_help(args, capsys)


def test_systemd_analyze_verify_finds_nothing(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (the key check above still runs)")
    cli = Path(sys.executable).with_name("approval-connector")
    if not cli.exists():
        pytest.skip(f"no installed approval-connector script beside {sys.executable}")
    text = UNIT.read_text().replace("/opt/approval-connector/bin/approval-connector", str(cli))
    copy = tmp_path / UNIT.name
    copy.write_text(text)
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    about_ours = [line for line in (done.stdout + done.stderr).splitlines() if UNIT.name in line]
    assert done.returncode == 0 and about_ours == [], done.stderr  # it exits 0 on unknown keys: read


def instructions(text: str) -> list[tuple[str, str]]:
    """Containerfile instructions (upper-cased) with their arguments; continuations joined."""
    found, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        found.append((word.upper(), rest.strip()))
    return found


def test_the_containerfile_is_non_root_checks_health_and_runs_a_real_command(capsys):
    steps = instructions(CONTAINERFILE.read_text())
    kinds = [kind for kind, _ in steps]
    first = next(kind for kind in kinds if kind != "ARG")
    assert first == "FROM" and kinds.count("CMD") == 1 and "USER" in kinds and "HEALTHCHECK" in kinds
    arguments = dict(steps)
    assert arguments["USER"] not in ("root", "0")
    assert kinds.index("USER") < kinds.index("CMD")
    assert any(k == "RUN" and "pip install" in a and "approval-connector[postgres]" in a for k, a in steps)
    assert "COPY" not in kinds  # installed from the package index, not from a checkout
    assert "/healthz" in arguments["HEALTHCHECK"] and "CMD" in arguments["HEALTHCHECK"].split()
    command = json.loads(arguments["CMD"])  # exec form: SIGTERM reaches the connector, not a shell
    assert command[0] == "approval-connector" and "serve" in command
    port = command[command.index("--port") + 1]
    assert f"127.0.0.1:{port}/healthz" in arguments["HEALTHCHECK"] and arguments["EXPOSE"] == port
    assert "Receive ticket webhooks" in accepts_help(command[1:], capsys)


def _daemon() -> str | None:
    for tool in ("docker", "podman"):
        path = shutil.which(tool)
        if path and subprocess.run([path, "info"], capture_output=True, timeout=30).returncode == 0:
            return path
    return None


def test_the_image_builds():
    tool = _daemon()
    if tool is None:
        pytest.skip("no container daemon answers (docker info / podman info failed)")
    if os.environ.get("APPROVAL_CONNECTOR_BUILD_IMAGE") != "1":  # it installs from the package index
        pytest.skip("set APPROVAL_CONNECTOR_BUILD_IMAGE=1 to build the image (needs the package index)")
    done = subprocess.run(
        [tool, "build", "-f", str(CONTAINERFILE), "-t", "approval-connector:test", str(REPO)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-2000:]
