"""Helpers shared by the MCP research snippets: start the test server over stdio or HTTP."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVER = REPO / "tests" / "agents" / "mcp_server.py"


def stdio_params(ledger: Path):
    """``mcp.StdioServerParameters`` that start the test server as a child process."""
    from mcp import StdioServerParameters

    return StdioServerParameters(command=sys.executable, args=[str(SERVER), "--ledger", str(ledger)])


@contextlib.contextmanager
def http_server(ledger: Path, script: Path = SERVER, extra: list[str] | None = None) -> Iterator[str]:
    """Run ``script --http --port 0`` and yield its URL once it listens."""
    cmd = [sys.executable, str(script), "--ledger", str(ledger), "--http", "--port", "0", *(extra or [])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"server did not start: {line!r}")
        yield line.split("listening on ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def ledger_lines(ledger: Path) -> int:
    return len(ledger.read_text().splitlines()) if ledger.exists() else 0
