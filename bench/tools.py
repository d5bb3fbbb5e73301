"""The I/O-bound tool of the replica benchmark: a call that waits on something remote (here
``asyncio.sleep`` for BENCH_TOOL_SECONDS, 0.5 s by default) and uses no CPU meanwhile."""

from __future__ import annotations

import asyncio
import os

from autogen_core import CancellationToken
from autogen_core.tools import BaseTool
from pydantic import BaseModel, Field


class RemoteCallArgs(BaseModel):
    ref: str = Field(min_length=1, max_length=64, description="What to call the remote system about")


class RemoteCallTool(BaseTool[RemoteCallArgs, str]):
    """Waits like a slow HTTP call; returns which process ran it (to see the work spread)."""

    def __init__(self) -> None:
        super().__init__(RemoteCallArgs, str, "remote_call", "Call a slow remote system.")

    async def run(self, args: RemoteCallArgs, cancellation_token: CancellationToken) -> str:
        await asyncio.sleep(float(os.environ.get("BENCH_TOOL_SECONDS", "0.5")))
        return f"{args.ref} done by pid {os.getpid()}"


remote_call = RemoteCallTool()
