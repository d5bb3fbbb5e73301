"""A process that starts conversations, as an application would: ``python -m tests.agents.proc
CONFIG KIND[,KIND...] [TASK]`` starts conversation ``case-KIND`` for each kind and prints what
each run ended in, one JSON object keyed by kind (``tests.agents.maf_proc``: the same for MAF)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

from connector.app.runtime import Connector
from tests.agents.teams import FACTORIES


def autogen_conversation(connector: Connector, kind: str) -> Any:
    return connector.conversation(
        FACTORIES[kind],
        f"case-{kind}",
        requester="jane@example.com",
        rationale="Jane asked when her refund arrives.",
        options={"kind": kind},
    )


async def main(
    config: str, kinds: list[str], task: str, start: Callable[[Connector, str], Any] = autogen_conversation
) -> None:
    connector = Connector.from_config(config)
    ended = {}
    try:
        for kind in kinds:
            run = await start(connector, kind).run(task)
            ended[kind] = {
                "status": run.status,
                "stop_reason": run.stop_reason,
                "waiting_on": [r.ticket.key if r.ticket else r.id for r in run.waiting_on],
            }
    finally:
        connector.close()
    print(json.dumps(ended))


if __name__ == "__main__":
    args = sys.argv[1:]
    task = args[2] if len(args) > 2 else "Send Jane the refund e-mail."
    asyncio.run(main(args[0], args[1].split(","), task))
