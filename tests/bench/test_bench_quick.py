"""``python -m bench --quick --only SECTION`` runs as a user runs it (a subprocess from the
repository root) and prints its figures; a broken section makes it exit non-zero."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_cli_section_prints_its_figures_and_writes_nothing():
    results = REPO / "bench" / "RESULTS.md"
    before = results.read_bytes() if results.exists() else None
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "cli", "--no-write"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "## CLI start-up" in done.stdout
    assert "| `python -c pass` |" in done.stdout
    assert "`approval-connector --help` start" in done.stdout  # its line in the targets table
    assert "Section failed" not in done.stdout
    assert (results.read_bytes() if results.exists() else None) == before


def test_unknown_section_is_one_clear_line():
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "nonsense"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "invalid choice: 'nonsense'" in done.stderr
    assert "Traceback" not in done.stderr
