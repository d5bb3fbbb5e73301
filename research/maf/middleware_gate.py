"""MAF: a function middleware gates a tool; MAF never runs it; the connector does, once.

Process 1 (``step1``): the scripted model calls ``send_email``. ``GateMiddleware``
validates the arguments against the tool's own model, stores the call (a JSON
"ticket" file stands in for ``ApprovalService.submit``) and answers the model at
once with "pending in OPS-1" *without* calling ``call_next()``, so the tool body never
runs. With ``--stop`` it raises ``MiddlewareTermination(result=...)`` instead, which
ends the run after the pending result (no second model call). The session is saved
with ``AgentSession.to_dict()``.

Process 2 (``step2 approve|reject``, a fresh interpreter): the "executor" runs the real
tool from the stored arguments exactly once (an outbox file counts executions), then
restores the session with ``AgentSession.from_dict`` and tells the agent the outcome
in a new user message. The printout is what the model saw on that resumed call.

Run:  python middleware_gate.py step1 DIR [--stop]; python middleware_gate.py step2 DIR approve
"""

from __future__ import annotations

import json
from pathlib import Path

from agent_framework import Agent, AgentSession, FunctionMiddleware, Message, MiddlewareTermination, tool
from scripted_client import ScriptedChatClient
from snippet import print_resume, run_steps

GATED = {"send_email"}


def make_send_email(outbox: Path):
    @tool
    def send_email(to: str, subject: str) -> str:
        """Send an e-mail."""
        with outbox.open("a") as f:
            f.write(json.dumps({"to": to, "subject": subject}) + "\n")
        return f"sent to {to}"

    return send_email


class GateMiddleware(FunctionMiddleware):
    """Answers gated calls with a pending text; never calls ``call_next`` for them."""

    def __init__(self, tickets: Path, stop: bool) -> None:
        self.tickets = tickets
        self.stop = stop

    async def process(self, context, call_next) -> None:
        name = context.function.name
        if name not in GATED:
            await call_next()
            return
        # Short-circuiting skips MAF's final validation: validate here, with the tool's model.
        model = context.function.input_model
        arguments = (
            dict(context.arguments)
            if not hasattr(context.arguments, "model_dump")
            else context.arguments.model_dump()
        )
        validated = model.model_validate(arguments).model_dump(mode="json")
        ticket = {
            "key": "OPS-1",
            "tool": name,
            "arguments": validated,
            "call_id": context.metadata.get("call_id"),
        }
        self.tickets.write_text(json.dumps(ticket))
        pending = f"Pending approval in {ticket['key']}: {name} has not run yet."
        if self.stop:
            raise MiddlewareTermination(result=pending)
        context.result = pending


async def step1(workdir: Path, flags: list[str]) -> None:
    stop = "--stop" in flags
    client = ScriptedChatClient(
        [("call", "call_1", "send_email", {"to": "ceo@example.com", "subject": "Q3"})]
        + ([] if stop else [("text", "I asked for approval; waiting.")])
    )
    agent = Agent(
        client=client,
        name="mailer",
        instructions="Send mail when asked.",
        tools=[make_send_email(workdir / "outbox.jsonl")],
        middleware=[GateMiddleware(workdir / "ticket.json", stop)],
    )
    session = agent.create_session()
    response = await agent.run("Mail the CEO about Q3", session=session)
    print("step1 response text:", repr(response.text), "| model calls:", len(client.seen))
    print("step1 user_input_requests:", response.user_input_requests)
    (workdir / "session.json").write_text(json.dumps(session.to_dict()))
    print("outbox exists after step1:", (workdir / "outbox.jsonl").exists())


async def step2(workdir: Path, decision: str) -> None:
    ticket = json.loads((workdir / "ticket.json").read_text())
    send_email = make_send_email(workdir / "outbox.jsonl")
    if decision == "approve":
        # The connector's executor: the real tool, from the stored, validated arguments.
        result = await send_email.invoke(arguments=ticket["arguments"])
        outcome = f"{ticket['key']} approved; {ticket['tool']} ran and returned: {result[0].text}"
    else:
        outcome = f"{ticket['key']} rejected; {ticket['tool']} did not run."
    client = ScriptedChatClient([("text", "Done: " + outcome)])
    agent = Agent(client=client, name="mailer", instructions="Send mail when asked.", tools=[send_email])
    session = AgentSession.from_dict(json.loads((workdir / "session.json").read_text()))
    response = await agent.run(Message(role="user", contents=[outcome]), session=session)
    print("step2 response:", response.text)
    print_resume(client, workdir / "outbox.jsonl")


if __name__ == "__main__":
    run_steps(step1, step2)
