"""Shared helpers of the benchmark sections: repeated timings summarised as min/median/max, a
throw-away PostgreSQL schema, a subprocess's own peak RSS, the commit and the machine's load."""

from __future__ import annotations

import os
import resource
import signal
import statistics
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .setup import REPO

PG_ENV = "APPROVAL_CONNECTOR_BENCH_PG_URL"
TEST_PG_ENV = "APPROVAL_CONNECTOR_TEST_PG_URL"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CACHE = REPO / "bench" / ".cache"
GNU_TIME = "/usr/bin/time"


def spread(values: Sequence[float], digits: int = 3) -> dict[str, Any]:
    """min / median / max of repeated measurements (and how many)."""
    if not values:
        return {"n": 0, "min": None, "median": None, "max": None}
    return {
        "n": len(values),
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def fmt(s: dict[str, Any], unit: str = "") -> str:
    """'median (min–max) unit' for a spread."""
    if not s or s.get("n", 0) == 0:
        return "n/a"
    return f"{s['median']}{unit} ({s['min']}–{s['max']})"


def pg_url() -> str:
    return os.environ.get(PG_ENV) or os.environ.get(TEST_PG_ENV) or DEFAULT_PG


def pg_available() -> str:
    """'' when PostgreSQL answers, else why not (one line)."""
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(pg_url())
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return ""
    except Exception as exc:  # noqa: BLE001 - reported, the section is skipped
        return f"PostgreSQL at {pg_url().split('@')[-1]} unavailable: {type(exc).__name__}"


@contextmanager
def pg_schema(prefix: str = "bench") -> Iterator[str]:
    """A fresh schema (dropped afterwards); yields a store URL whose search_path is that schema."""
    from connector.testing.postgres import temporary_schema

    with temporary_schema(pg_url(), prefix) as url:
        yield url


@dataclass
class ChildRun:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False


def run_child(
    command: list[str],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    memory_cap_mb: int | None = None,
) -> ChildRun:
    """Run a command; its wall time and its own peak RSS. GNU time (``/usr/bin/time -f %M``)
    measures it: a child forked from this (large) process inherits this process's high-water
    mark in its rusage, so wait4's ru_maxrss here would report ours, not the child's. With
    ``timeout`` the whole process group is killed when it runs out (returncode -9, ``timed_out``);
    ``memory_cap_mb`` caps its address space (RLIMIT_AS), so a runaway command fails, not the host."""
    CACHE.mkdir(parents=True, exist_ok=True)
    out_path, err_path, rss_path = (CACHE / f"child-{os.getpid()}.{x}" for x in ("out", "err", "rss"))
    rss_path.unlink(missing_ok=True)
    timed = [GNU_TIME, "-f", "%M", "-o", str(rss_path), *command] if Path(GNU_TIME).exists() else command

    def limits() -> None:
        if memory_cap_mb:
            cap = memory_cap_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    timed_out = False
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            timed,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=limits if memory_cap_mb else None,
        )
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        seconds = time.perf_counter() - started
    peak = 0.0
    if timed is not command and rss_path.exists():
        words = rss_path.read_text().split()
        peak = round(int(words[-1]) / 1024, 1) if words and words[-1].isdigit() else 0.0
    return ChildRun(
        seconds,
        peak,
        -9 if timed_out else process.returncode,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
        timed_out,
    )


def self_peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def commit_stamp() -> str:
    """``git rev-parse --short HEAD``, with '-dirty' when the work tree has changes."""
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []
