"""A process that starts MAF conversations, as an application would: ``python -m
tests.agents.maf_proc CONFIG KIND[,KIND...]`` starts ``maf-KIND`` for each kind and prints what
each run ended in, one JSON object keyed by kind."""

from __future__ import annotations

import asyncio
import json
import sys

from connector.app.runtime import Connector
from tests.agents.maf_agents import FACTORIES


async def main(config: str, kinds: list[str]) -> None:
    connector = Connector.from_config(config)
    ended = {}
    try:
        for kind in kinds:
            conversation = connector.maf_conversation(
                FACTORIES[kind], f"maf-{kind}", requester="jane@example.com"
            )
            run = await conversation.run("Send Jane the refund e-mail.")
            ended[kind] = {
                "status": run.status,
                "stop_reason": run.stop_reason,
                "waiting_on": [r.ticket.key if r.ticket else r.id for r in run.waiting_on],
            }
    finally:
        connector.close()
    print(json.dumps(ended))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2].split(",")))
