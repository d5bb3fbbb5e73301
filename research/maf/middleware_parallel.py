"""MAF: one model answer with a gated and an ungated call, through the gate middleware.

Shows (a) the ungated sibling runs while the gated one gets "pending", and (b) what
``MiddlewareTermination`` from the gate does to a sibling in the same batch.

Run:  python middleware_parallel.py
"""

from __future__ import annotations

import asyncio

from agent_framework import Agent, FunctionMiddleware, MiddlewareTermination, tool
from scripted_client import ScriptedChatClient, describe

RAN: list[str] = []


@tool
def send_email(to: str) -> str:
    """Send an e-mail."""
    RAN.append("send_email")
    return "sent"


@tool
def lookup(name: str) -> str:
    """Read-only lookup."""
    RAN.append("lookup")
    return f"{name}@example.com"


class Gate(FunctionMiddleware):
    def __init__(self, stop: bool) -> None:
        self.stop = stop

    async def process(self, context, call_next) -> None:
        if context.function.name != "send_email":
            await call_next()
            return
        if self.stop:
            raise MiddlewareTermination(result="pending in OPS-2")
        context.result = "pending in OPS-2"


async def run(stop: bool) -> None:
    RAN.clear()
    calls = [("c1", "lookup", {"name": "ceo"}), ("c2", "send_email", {"to": "ceo@example.com"})]
    client = ScriptedChatClient([("calls", calls), ("text", "waiting for OPS-2")])
    agent = Agent(
        client=client, name="m", instructions="mail", tools=[send_email, lookup], middleware=[Gate(stop)]
    )
    session = agent.create_session()
    response = await agent.run("mail the ceo", session=session)
    history = session.state["in_memory"]["messages"]
    print(f"stop={stop}: ran={RAN} model calls={len(client.seen)} text={response.text!r}")
    print("  stored history:\n    " + "\n    ".join(describe(history)))


async def main() -> None:
    await run(stop=False)
    await run(stop=True)


asyncio.run(main())
