"""Facts about the machine and the code a run measured, for the results file."""

from __future__ import annotations

import os
import platform
from importlib.metadata import version
from pathlib import Path
from typing import Any

from .common import git


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_mb() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def info() -> dict[str, Any]:
    packages = {}
    for name in ("uvicorn", "starlette", "sqlalchemy", "h11", "httpx", "responses"):
        try:
            packages[name] = version(name)
        except Exception:  # noqa: BLE001 - a missing package is just not listed
            continue
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_mb": _memory_mb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": packages,
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty_outside_bench": bool(git("status", "--porcelain", "--", "connector", "adapters")),
    }
