"""``approval-connector serve`` started as a real process, for tests that signal or kill it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def start_serve(path: Path, workdir: Path, **env: str) -> subprocess.Popen:
    """``approval-connector -c PATH serve`` in ``workdir``, with ``env`` added to this process's
    environment; its stdout and stderr are kept for the test to read."""
    return subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "-c", str(path), "serve"],
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
