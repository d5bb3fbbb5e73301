"""CLI start-up: ``approval-connector --help`` and ``--version`` as subprocesses against a bare
``python -c pass``, interleaved run by run (issue #14: ``--help`` under 0.2 s)."""

from __future__ import annotations

import sys
from typing import Any

from .common import run_child, spread
from .servers import CLI

TARGET_S = 0.2


def run(quick: bool) -> dict[str, Any]:
    repeats = 3 if quick else 5
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "approval-connector --help": [str(CLI), "--help"],
        "approval-connector --version": [str(CLI), "--version"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, float] = {}
    codes: dict[str, int] = {}
    for command in commands.values():  # one warm-up each (page cache, .pyc)
        run_child(command)
    for _ in range(repeats):
        for name, command in commands.items():
            child = run_child(command)
            times[name].append(child.seconds)
            peaks[name] = max(peaks.get(name, 0.0), child.peak_rss_mb)
            codes[name] = child.returncode
    bare = spread(times["python -c pass"])["median"]
    return {
        "import_profile": import_profile(),
        "repeats": repeats,
        "seconds": {name: spread(t) for name, t in times.items()},
        "peak_rss_mb": peaks,
        "exit_codes": codes,
        "ratio_to_bare": {n: round(spread(t)["median"] / bare, 1) for n, t in times.items()},
    }


def import_profile(top: int = 4) -> list[tuple[str, float]]:
    """The modules with the largest cumulative import time under ``import connector.app.cli``
    (``python -X importtime``), in seconds: where the start-up goes."""
    child = run_child([sys.executable, "-X", "importtime", "-c", "import connector.app.cli"])
    rows: list[tuple[str, float]] = []
    for line in child.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((parts[2].rstrip(), int(parts[1]) / 1e6))
    total = max((t for _, t in rows), default=0.0)
    chain = sorted(rows, key=lambda r: -r[1])[:top]
    return [(name.strip(), round(t, 3)) for name, t in chain] + [("(total)", round(total, 3))]


def render(r: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    lines = [
        "| command | wall s, median (min–max) | × bare interpreter | peak RSS MB | exit code |",
        "|---|---|---|---|---|",
    ]
    for name, s in r["seconds"].items():
        lines.append(
            f"| `{name}` | {s['median']} ({s['min']}–{s['max']}) | {r['ratio_to_bare'][name]} | "
            f"{r['peak_rss_mb'][name]} | {r['exit_codes'][name]} |"
        )
    lines += [
        "",
        f"- {r['repeats']} runs each after one warm-up, interleaved; wall time of the whole "
        "subprocess (interpreter start included), peak RSS from wait4.",
    ]
    verdicts = []
    for name in ("approval-connector --help", "approval-connector --version"):
        s = r["seconds"][name]
        ok = r["exit_codes"][name] == 0
        met = ok and s["median"] < TARGET_S
        why = ""
        if not ok:
            why = f"exits {r['exit_codes'][name]} (the option is not in this tree)"
        elif not met:
            chain = ", ".join(f"{n} {t} s" for n, t in r["import_profile"][:-1])
            why = (
                f"`import connector.app.cli` alone takes {r['import_profile'][-1][1]} s; largest cumulative "
            )
            why += f"imports (python -X importtime): {chain}"
        verdicts.append(
            {
                "what": f"`{name}` start",
                "measured": f"{s['median']} s ({s['min']}–{s['max']})",
                "target": f"< {TARGET_S} s",
                "met": met,
                "why": why,
            }
        )
    return "\n".join(lines), verdicts
