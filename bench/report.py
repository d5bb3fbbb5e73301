"""Turns one run's figures into the printed sections, bench/RESULTS.md (stamped with the commit,
the machine and its load) and the raw JSON in bench/results/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def verdict_table(verdicts: list[dict[str, Any]]) -> str:
    rows = ["| what | measured | target | met | why (where missed) |", "|---|---|---|---|---|"]
    for v in verdicts:
        met = {True: "yes", False: "**MISSED**", None: "not measured"}[v["met"]]
        rows.append(f"| {v['what']} | {v['measured']} | {v['target']} | {met} | {v.get('why', '')} |")
    return "\n".join(rows)


def header(results: dict[str, Any]) -> str:
    m = results["machine"]
    load = results.get("load", {})
    return "\n".join(
        [
            "# Benchmark results",
            "",
            f"Command: `{results['command']}` (from the repository root, venv Python)  ",
            f"Run: {results['started']}, {results['seconds']:.0f} s in total  ",
            f"Code: commit **{results['commit']}**; "
            + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
            + "  ",
            f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_mb']} MB, {m['os']}, "
            f"Python {m['python']}  ",
            f"Load (os.getloadavg 1/5/15 min): before {load.get('before')}, after {load.get('after')}; "
            "the machine is shared (its load is above), so absolute figures are noisy: compare the ratios "
            "measured side by side, and the min/median/max spreads.",
            "",
            "Raw figures: `bench/results/latest.json`. Spreads are written `median (min–max)` over repeats.",
        ]
    )


def write(results: dict[str, Any], sections: list[tuple[str, str]], verdicts: list[dict[str, Any]]) -> Path:
    parts = [header(results), "", "## Targets", "", verdict_table(verdicts)]
    for title, text in sections:
        parts += ["", f"## {title}", "", text]
    md_path = HERE / "RESULTS.md"
    md_path.write_text("\n".join(parts) + "\n")
    json_path = HERE / "results" / "latest.json"
    json_path.parent.mkdir(exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    return md_path
