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


README = HERE.parent / "README.md"
BEGIN, END = "<!-- bench:latest -->", "<!-- /bench:latest -->"
WHY_CHARS = 240


def readme_block(results: dict[str, Any], verdicts: list[dict[str, Any]]) -> str:
    """The README's summary of a full run: the stamp, and each target with a short reason."""
    load = results.get("load", {})
    before, after = ((load.get(k) or [None])[0] for k in ("before", "after"))
    rows = ["| what | measured (this run) | target | met |", "|---|---|---|---|"]
    for v in verdicts:
        why = v.get("why", "")
        why = why if len(why) <= WHY_CHARS else why[: WHY_CHARS - 2].rstrip() + " …"
        met = {True: "yes", None: "not measured"}.get(v["met"], f"**missed**: {why}")
        rows.append(f"| {v['what']} | {v['measured']} | {v['target']} | {met} |")
    return "\n".join(
        [
            BEGIN,
            f"Latest figures (commit {results['commit']}; {results['machine']['cores']} cores, load "
            f"average {before} at the start and {after} at the end of the {results['seconds']:.0f} s run; "
            "the method, the spreads and the measured reason for every miss are in `bench/RESULTS.md`):",
            "",
            *rows,
            END,
        ]
    )


def update_readme(results: dict[str, Any], verdicts: list[dict[str, Any]]) -> bool:
    """Replace the README's block between the markers; False when the README has none."""
    text = README.read_text()
    start, stop = text.find(BEGIN), text.find(END)
    if start < 0 or stop < start:
        return False
    README.write_text(text[:start] + readme_block(results, verdicts) + text[stop + len(END) :])
    return True


def write(results: dict[str, Any], sections: list[tuple[str, str]], verdicts: list[dict[str, Any]]) -> Path:
    if not results.get("quick") and not results.get("only"):  # a full run is what the README shows
        update_readme(results, verdicts)
    parts = [header(results), "", "## Targets", "", verdict_table(verdicts)]
    for title, text in sections:
        parts += ["", f"## {title}", "", text]
    md_path = HERE / "RESULTS.md"
    md_path.write_text("\n".join(parts) + "\n")
    json_path = HERE / "results" / "latest.json"
    json_path.parent.mkdir(exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    return md_path
