"""A tool that takes a while, to stop the service in the middle of a run."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path


async def slow_write(label: str) -> str:
    """Write a start marker, wait $SLOW_TOOL_SECONDS, write a finish marker."""
    folder = Path(os.environ["SLOW_TOOL_DIR"])
    (folder / f"started-{label}").write_text("x")
    await asyncio.sleep(float(os.environ.get("SLOW_TOOL_SECONDS", "2")))
    (folder / f"finished-{label}").write_text("x")
    return f"wrote {label}"
