"""What the two-process MAF snippets share: the argv runner and the resume printout."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from scripted_client import ScriptedChatClient, describe


def print_resume(client: ScriptedChatClient, executions: Path) -> None:
    """What the model saw on the resumed call, and how often the side effect happened."""
    print("what the model saw on resume:")
    print("  " + "\n  ".join(describe(client.seen[-1])))
    count = len(executions.read_text().splitlines()) if executions.exists() else 0
    print(f"executions in {executions.stem}:", count)


def run_steps(step1, step2) -> None:
    """``python SNIPPET step1 DIR [flags]`` or ``python SNIPPET step2 DIR DECISION``."""
    step, workdir = sys.argv[1], Path(sys.argv[2])
    workdir.mkdir(parents=True, exist_ok=True)
    asyncio.run(step1(workdir, sys.argv[3:]) if step == "step1" else step2(workdir, sys.argv[3]))
