"""The fault suite's tool: one line per run, appended with O_APPEND (whole lines, whichever
replica process runs it), so a double run shows as a repeated line."""

from __future__ import annotations

import asyncio
import os


async def record_run(ref: str) -> str:
    """Record that the approved call for ``ref`` ran."""
    await asyncio.sleep(float(os.environ.get("FAULT_TOOL_SECONDS", "0.05")))
    fd = os.open(os.environ["FAULT_RUN_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{ref}\n".encode())
    finally:
        os.close(fd)
    return f"recorded {ref}"
