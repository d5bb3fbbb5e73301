"""Resumable MAF conversations, on the same machinery as AutoGen's (one conversations table,
claims, continuation queued by the outcome, resumed once in any process):

    conversation = connector.maf_conversation("myapp.agents:build", "case-1042", requester="jane")
    run = await conversation.run("Send Jane the refund e-mail.")   # run.status: waiting | done

``build(ctx: TeamContext)`` returns a MAF ``Agent`` whose gated tools come from
``ctx.connector.gate(...)`` — its ``AgentSession`` (``to_dict()``) is what is stored; the run ends
at "pending" (the stop middleware is added), and the decision resumes it with one user message
from the gatekeeper — or a ``Workflow`` whose agents hold declaration-only tools
(``declare(...)``) — its checkpoint is what is stored, and the decision answers the paused call
with the real result (``connector.agents.maf.workflows``).

Decisions are made on the ticket, never in the chat: a run handed a MAF approval response (or
request) is refused before anything runs."""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agent_framework import AgentSession, Message, Workflow

from connector.agents.autogen.conversation import Conversation, TeamContext, TeamEvent
from connector.agents.autogen.gate import approval_context
from connector.agents.autogen.runs import GATEKEEPER, RunRecorder, recording
from connector.agents.autogen.termination import waiting_reason
from connector.core.errors import UserError
from connector.core.models import ApprovalRequest
from connector.core.registry import import_object
from connector.core.service.conversations import QUESTION_KIND, ResumeJob
from connector.core.store.conversations import ConversationRecord, RunOutcome

from .gate import AwaitingApproval
from .workflows import WorkflowRun

if TYPE_CHECKING:
    from connector.app.runtime import Connector

RESUMER = "maf"
MAX_MESSAGE_TEXT = 20000
DECISIONS = ("function_approval_response", "function_approval_request")


async def build(factory: str, ctx: TeamContext) -> Any:
    """Import the factory (``pkg.module:function``) and build the agent or workflow it makes."""
    made = import_object(factory, where=f"conversation {ctx.conversation_id} factory")(ctx)
    if inspect.isawaitable(made):
        made = await made
    if not isinstance(made, Workflow) and not callable(getattr(made, "create_session", None)):
        raise UserError(f"{factory} returned {type(made).__name__}, not a MAF Agent or Workflow")
    return made


def refuse_decisions(task: Any) -> None:
    """An approval decided in the chat (MAF's function_approval_* contents) is never taken: MAF
    would run the function call the response carries, and a caller can edit it."""
    messages = task if isinstance(task, Sequence) and not isinstance(task, str) else [task]
    for message in messages:
        for content in getattr(message, "contents", None) or []:
            if getattr(content, "type", None) in DECISIONS:
                raise UserError(
                    "a MAF approval response was handed to a gated conversation: decisions are made on "
                    "the ticket, and only the stored call runs; nothing was run"
                )


def describe(message: Any) -> str:
    parts = []
    for content in message.contents:
        if content.type == "function_call":
            parts.append(f"call {content.name}({content.arguments})")
        elif content.type == "function_result":
            parts.append(f"result of {content.call_id}: {content.result}")
        elif getattr(content, "text", None):
            parts.append(content.text)
    return "\n".join(parts)[:MAX_MESSAGE_TEXT]


def transcript(messages: Sequence[Any]) -> list[dict[str, str]]:
    return [
        {"source": m.author_name or m.role, "kind": f"Message[{m.role}]", "text": describe(m)}
        for m in messages
    ]


def with_stop(agent: Any) -> Any:
    """The agent, ending its run at "pending" (AwaitingApproval added once)."""
    middleware = list(agent.middleware or [])
    if not any(isinstance(m, AwaitingApproval) for m in middleware):
        agent.middleware = [*middleware, AwaitingApproval()]
    return agent


async def run_session(
    agent: Any, record: ConversationRecord, task: Any, context: dict[str, str], recorder: RunRecorder
) -> tuple[list[Any], RunOutcome]:
    """One agent run on the stored session (a new one the first time); then the session saved."""
    state = record.state or {}
    session = AgentSession.from_dict(state["session"]) if state else agent.create_session()
    message = Message(role="user", contents=[task]) if isinstance(task, str) else task
    with recording(recorder), approval_context(**context):
        response = await with_stop(agent).run(message, session=session)
    messages = [*(message if isinstance(message, list) else [message]), *response.messages]
    outcome = RunOutcome(
        state={"kind": "session", "session": json.loads(json.dumps(session.to_dict(), default=str))},
        messages=transcript(messages),
        deferred=[r.id for r in recorder.deferred],
        inline=recorder.inline,
        result=response.text or "",
        stop_reason=waiting_reason(recorder.deferred) if recorder.deferred else "",
    )
    return messages, outcome


async def run_maf(
    connector: Connector,
    made: Any,
    record: ConversationRecord,
    task: Any,
    context: dict[str, str],
    recorder: RunRecorder,
    answering: tuple[ApprovalRequest, str] | None = None,
) -> tuple[list[Any], RunOutcome]:
    refuse_decisions(task)
    if isinstance(made, Workflow):
        return await WorkflowRun(connector, made, record.state, record.options).run(
            task, context, recorder, answering
        )
    return await run_session(made, record, task, context, recorder)


class MafConversation(Conversation):
    """A registered MAF conversation, as the application that starts it holds it."""

    resumer = RESUMER

    async def run_once(
        self, record: ConversationRecord, context: dict[str, str], task: Any
    ) -> tuple[Sequence[Any], RunOutcome]:
        ctx = TeamContext(self.connector, self.id, record.version, dict(record.options))
        made = await build(record.factory, ctx)
        return await run_maf(self.connector, made, record, task, context, RunRecorder(kind="start"))


class MafResumer:
    """Registered with the core as the ``maf`` resumer of every connector that has the extra."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector

    async def __call__(self, job: ResumeJob) -> RunOutcome:
        record = job.conversation
        kind = "question" if job.kind == QUESTION_KIND else "outcome"
        event = TeamEvent(kind, job.message, job.request.id, job.request.state.value, job.asked_by)
        ctx = TeamContext(self.connector, record.id, record.version, dict(record.options), event)
        made = await build(record.factory, ctx)
        recorder = RunRecorder(kind=job.kind)
        if isinstance(made, Workflow) and job.kind == QUESTION_KIND:  # a paused workflow takes no chat
            text = "This workflow waits for the decision and cannot answer questions meanwhile."
            return RunOutcome(state=record.state, result=text)
        if isinstance(made, Workflow):
            _, outcome = await run_maf(
                self.connector, made, record, None, job.context, recorder, (job.request, job.message)
            )
            return outcome
        message = Message(role="user", contents=[job.message], author_name=GATEKEEPER)
        _, outcome = await run_maf(self.connector, made, record, message, job.context, recorder)
        return outcome
