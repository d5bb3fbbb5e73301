"""MAF workflow: a declaration-only tool pauses the workflow with a ``request_info`` event;
the workflow is checkpointed to files; another process resumes it from the checkpoint
with the connector's result for that request.

Process 1 (``step1``): an agent (scripted model) in a one-node ``WorkflowBuilder`` workflow
calls the declaration-only ``transfer_funds``. The run ends idle with a pending
``request_info`` event whose ``data`` is the function_call. ``FileCheckpointStorage``
holds the checkpoint; we store (checkpoint id, request id, call) and exit.

Process 2 (``step2 approve|reject``): rebuild the same workflow (same name, same agent
name), run the real function once, then ``workflow.run(checkpoint_id=...,
responses={request_id: Content.from_function_result(...)})``. The model sees the real
result as the tool result and answers; the output is printed.

Run:  python workflow_checkpoint.py step1 DIR; python workflow_checkpoint.py step2 DIR approve
"""

from __future__ import annotations

import json
from pathlib import Path

from agent_framework import Agent, Content, FileCheckpointStorage, FunctionTool, WorkflowBuilder
from pydantic import BaseModel
from scripted_client import ScriptedChatClient
from snippet import print_resume, run_steps


class TransferArgs(BaseModel):
    account: str
    amount: int


DECLARED = FunctionTool(name="transfer_funds", description="Move money.", func=None, input_model=TransferArgs)


def build(workdir: Path, client: ScriptedChatClient):
    agent = Agent(client=client, name="treasurer", instructions="Move money when asked.", tools=[DECLARED])
    storage = FileCheckpointStorage(str(workdir / "checkpoints"))
    workflow = WorkflowBuilder(name="payments", start_executor=agent, checkpoint_storage=storage).build()
    return workflow, storage


async def step1(workdir: Path, flags: list[str]) -> None:
    client = ScriptedChatClient([("call", "call_9", "transfer_funds", {"account": "ACME", "amount": 40})])
    workflow, storage = build(workdir, client)
    result = await workflow.run("Pay ACME 40")
    [event] = result.get_request_info_events()
    call = event.data
    print(
        "state:",
        result.get_final_state(),
        "| request_info:",
        event.request_id,
        type(call).__name__,
        call.type,
        call.name,
    )
    latest = await storage.get_latest(workflow_name=workflow.name)
    print(
        "checkpoints:",
        len(await storage.list_checkpoint_ids(workflow_name=workflow.name)),
        "latest:",
        latest.checkpoint_id,
    )
    stored = {
        "checkpoint_id": latest.checkpoint_id,
        "request_id": event.request_id,
        "call_id": call.call_id,
        "arguments": call.parse_arguments(),
    }
    (workdir / "pending.json").write_text(json.dumps(stored))


async def step2(workdir: Path, decision: str) -> None:
    pending = json.loads((workdir / "pending.json").read_text())
    if decision == "approve":
        args = TransferArgs.model_validate(pending["arguments"])
        with (workdir / "ledger.jsonl").open("a") as f:
            f.write(args.model_dump_json() + "\n")
        text = f"moved {args.amount} to {args.account}"
    else:
        text = "Rejected in OPS-9; transfer_funds did not run."
    client = ScriptedChatClient([("text", "Reported: " + text)])
    workflow, _ = build(workdir, client)
    answer = Content.from_function_result(call_id=pending["call_id"], result=text)
    result = await workflow.run(
        checkpoint_id=pending["checkpoint_id"], responses={pending["request_id"]: answer}
    )
    print(
        "state:",
        result.get_final_state(),
        "| outputs:",
        [getattr(o, "text", o) for o in result.get_outputs()],
    )
    print_resume(client, workdir / "ledger.jsonl")


if __name__ == "__main__":
    run_steps(step1, step2)
