"""MAF: a declaration-only tool (``FunctionTool(func=None)``) pauses the run; the connector
runs the real call and feeds back the real result, in another process.

Process 1 (``step1``): the model sees the schema of ``transfer_funds`` but the agent has
no body for it, so the run stops with the call in ``response.user_input_requests`` (a
``function_call`` content with ``user_input_request=True``). We store the call and the
session (``AgentSession.to_dict()``); nothing executed.

Process 2 (``step2 approve|reject``): the connector runs the real function from the stored
arguments once (ledger file), restores the session and answers the paused call with
``Content.from_function_result(call_id=..., result=...)``. The model then sees that as the
tool's result, in place: no "pending" text ever entered the transcript.

Run:  python declaration_only.py step1 DIR; python declaration_only.py step2 DIR approve
"""

from __future__ import annotations

import json
from pathlib import Path

from agent_framework import Agent, AgentSession, Content, FunctionTool, Message
from pydantic import BaseModel
from scripted_client import ScriptedChatClient
from snippet import print_resume, run_steps


class TransferArgs(BaseModel):
    account: str
    amount: int


# Same name, description and schema as the real tool; no implementation.
DECLARED = FunctionTool(name="transfer_funds", description="Move money.", func=None, input_model=TransferArgs)


def real_transfer(ledger: Path, account: str, amount: int) -> str:
    with ledger.open("a") as f:
        f.write(json.dumps({"account": account, "amount": amount}) + "\n")
    return f"moved {amount} to {account}"


def make_agent(client: ScriptedChatClient) -> Agent:
    return Agent(client=client, name="treasurer", instructions="Move money when asked.", tools=[DECLARED])


async def step1(workdir: Path, flags: list[str]) -> None:
    client = ScriptedChatClient([("call", "call_7", "transfer_funds", {"account": "ACME", "amount": 250})])
    agent = make_agent(client)
    session = agent.create_session()
    response = await agent.run("Pay ACME 250", session=session)
    [request] = response.user_input_requests
    print(
        "paused on:",
        request.type,
        request.name,
        request.arguments,
        "call_id=",
        request.call_id,
        "id=",
        request.id,
    )
    stored = {"call_id": request.call_id, "name": request.name, "arguments": request.parse_arguments()}
    (workdir / "call.json").write_text(json.dumps(stored))
    (workdir / "session.json").write_text(json.dumps(session.to_dict()))
    print("session keys:", sorted(session.to_dict()["state"]))


async def step2(workdir: Path, decision: str) -> None:
    call = json.loads((workdir / "call.json").read_text())
    if decision == "approve":
        result = real_transfer(
            workdir / "ledger.jsonl", **TransferArgs.model_validate(call["arguments"]).model_dump()
        )
    else:
        result = "Rejected in OPS-7 by the approver; transfer_funds did not run."
    client = ScriptedChatClient([("text", "Reported: " + result)])
    agent = make_agent(client)
    session = AgentSession.from_dict(json.loads((workdir / "session.json").read_text()))
    answer = Content.from_function_result(call_id=call["call_id"], result=result)
    response = await agent.run(Message(role="tool", contents=[answer]), session=session)
    print("step2 response:", response.text)
    print_resume(client, workdir / "ledger.jsonl")


if __name__ == "__main__":
    run_steps(step1, step2)
