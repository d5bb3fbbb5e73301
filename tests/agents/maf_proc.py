"""``python -m tests.agents.maf_proc CONFIG KIND[,KIND...]``: ``tests.agents.proc`` for MAF, each
kind (session, workflow) started as conversation ``maf-KIND``."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from connector.app.runtime import Connector
from tests.agents import proc
from tests.agents.maf_agents import FACTORIES


def maf_conversation(connector: Connector, kind: str) -> Any:
    return connector.maf_conversation(FACTORIES[kind], f"maf-{kind}", requester="jane@example.com")


if __name__ == "__main__":
    asyncio.run(
        proc.main(sys.argv[1], sys.argv[2].split(","), "Send Jane the refund e-mail.", maf_conversation)
    )
