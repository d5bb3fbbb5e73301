"""Resumable AutoGen conversations: a team (or a single agent) built by a factory the connector
can import in any process, run under a claim, its state saved after every run and resumed by
the connector with the outcome of whatever it waited on.

    conversation = connector.conversation(
        team_factory="myapp.agents:build_team", conversation_id="case-1042",
        requester="jane@example.com", rationale="customer asked for the refund timeline")
    run = await conversation.run("Draft the refund e-mail and send it.")
    run.status        # "waiting" (on run.waiting_on) or "done"

``build_team(ctx: TeamContext)`` returns a team or an agent, with the same agent names every time
(AutoGen's state is keyed by name); gated tools come from ``ctx.connector.gate(...)``. Teams end
their run with ``awaiting_approval()`` in their termination condition."""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage

from connector.core.errors import UserError
from connector.core.models import ApprovalRequest
from connector.core.registry import import_object
from connector.core.store.conversations import ConversationRecord, RunOutcome

from .gate import approval_context
from .runs import GATEKEEPER, RunRecorder, recording
from .termination import waiting_reason

if TYPE_CHECKING:
    from connector.app.runtime import Connector

RESUMER = "autogen"
MAX_MESSAGE_TEXT = 20000


@dataclass
class TeamEvent:
    """What the gatekeeper tells the team when the connector resumes it."""

    kind: str  # outcome | question
    text: str  # the message itself
    request_id: str
    state: str  # the request's state: SUCCEEDED, REJECTED, ... (TICKETED for a question)
    asked_by: str = ""


@dataclass
class TeamContext:
    """Handed to the team factory in every process. ``event`` is None for a run the application
    starts; ``options`` are the conversation's (stored at registration: e.g. which model)."""

    connector: Connector
    conversation_id: str
    step: int
    options: dict[str, Any] = field(default_factory=dict)
    event: TeamEvent | None = None


@dataclass
class ConversationRun:
    """One run as the application sees it."""

    conversation_id: str
    status: str  # waiting | done | superseded
    stop_reason: str
    result: str
    messages: Sequence[Any]  # the framework's messages of this run (AutoGen's, MAF's)
    waiting_on: list[ApprovalRequest]


async def build_team(factory: str, ctx: TeamContext) -> Any:
    """Import the factory (``pkg.module:function``) and build the team it describes."""
    made = import_object(factory, where=f"conversation {ctx.conversation_id} team_factory")(ctx)
    if inspect.isawaitable(made):
        made = await made
    for method in ("run", "save_state", "load_state"):
        if not callable(getattr(made, method, None)):
            raise UserError(f"{factory} returned {type(made).__name__}, not an AutoGen team or agent")
    return made


def transcript(messages: Sequence[BaseAgentEvent | BaseChatMessage]) -> list[dict[str, str]]:
    """The run's messages in a framework-neutral form the core stores and shows."""
    out = []
    for message in messages:
        try:
            text = message.to_text()
        except Exception:  # noqa: BLE001 - a message that cannot render is still recorded
            text = repr(message)
        out.append(
            {"source": message.source, "kind": type(message).__name__, "text": text[:MAX_MESSAGE_TEXT]}
        )
    return out


def final_text(result: TaskResult) -> str:
    """The last thing an agent said (not the gatekeeper or the user), without AutoGen's TERMINATE."""
    for message in reversed(result.messages):
        if isinstance(message, BaseChatMessage) and message.source not in (GATEKEEPER, "user"):
            text = message.to_text().strip()
            if text.endswith("TERMINATE"):
                text = text[: -len("TERMINATE")].rstrip()
            return text
    return ""


async def run_team(
    team: Any, task: Any, context: dict[str, str], recorder: RunRecorder
) -> tuple[TaskResult, RunOutcome]:
    """Run once with every gated call tagged by ``context``; then save the state (the tool results
    are in the history by then) and say what the run now waits on."""
    with recording(recorder), approval_context(**context):
        result = await team.run(task=task)
    state = json.loads(json.dumps(await team.save_state(), default=str))
    outcome = RunOutcome(
        state=state,
        messages=transcript(result.messages),
        deferred=[r.id for r in recorder.deferred],
        inline=recorder.inline,
        result=final_text(result),
        stop_reason=result.stop_reason or (waiting_reason(recorder.deferred) if recorder.deferred else ""),
    )
    return result, outcome


class Conversation:
    """A registered conversation, as the application that starts it holds it. Subclasses for
    other frameworks (``connector.agents.maf``) name their resumer and run their own kind of
    team in ``run_once``; registering, claiming and storing are the same."""

    resumer = RESUMER

    def __init__(
        self,
        connector: Connector,
        conversation_id: str,
        team_factory: str,
        *,
        options: dict[str, Any] | None = None,
        requester: str = "",
        rationale: str = "",
        agent: str = "",
        question_prefix: str = "@agent",
    ) -> None:
        if ":" not in team_factory:
            raise UserError(
                f"team_factory {team_factory!r} must be an import path like 'myapp.agents:build_team'"
            )
        self.connector = connector
        self.id = conversation_id
        self.factory = team_factory
        self.options = dict(options or {})
        self.context = {
            k: v for k, v in {"requester": requester, "rationale": rationale, "agent": agent}.items() if v
        }
        self.question_prefix = question_prefix

    @property
    def _service(self) -> Any:
        return self.connector.service.conversations

    async def register(self) -> None:
        await self._service.register(
            self.id,
            resumer=self.resumer,
            factory=self.factory,
            options=self.options,
            context=self.context,
            question_prefix=self.question_prefix,
        )

    async def run(self, task: Any) -> ConversationRun:
        """Start (or, once it is done, continue) the conversation with ``task``. A run that defers
        to a ticket ends with its state stored; the connector resumes it when the ticket is
        decided, in whichever process handles the decision."""
        await self.register()
        service = self._service
        claim, record = await service.begin(self.id)
        try:
            async with service.holding(claim):
                messages, outcome = await self.run_once(record, service.run_context(record, claim), task)
        except BaseException as exc:
            await service.abandon(claim, f"{type(exc).__name__}: {exc}")
            raise
        stored = await service.finish(claim, outcome)
        after = await self.connector.service.ctx.db(self.connector.store.conversation, self.id)
        waiting = await self._requests(after.awaiting) if stored and after else []
        return ConversationRun(
            conversation_id=self.id,
            status=("waiting" if waiting else "done") if stored else "superseded",
            stop_reason=outcome.stop_reason,
            result=outcome.result,
            messages=messages,
            waiting_on=waiting,
        )

    async def run_once(
        self, record: ConversationRecord, context: dict[str, str], task: Any
    ) -> tuple[Sequence[Any], RunOutcome]:
        """One run of the AutoGen team from its stored state: its messages, and what to store."""
        ctx = TeamContext(self.connector, self.id, record.version, dict(record.options))
        team = await build_team(record.factory, ctx)
        if record.state is not None:
            await team.load_state(record.state)
        result, outcome = await run_team(team, task, context, RunRecorder(kind="start"))
        return result.messages, outcome

    async def _requests(self, ids: list[str]) -> list[ApprovalRequest]:
        store = self.connector.store
        return [await self.connector.service.ctx.db(store.get, rid) for rid in ids]

    async def status(self) -> str:
        record = await self.connector.service.ctx.db(self.connector.store.conversation, self.id)
        return record.status if record else "unregistered"
