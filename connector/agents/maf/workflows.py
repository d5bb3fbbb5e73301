"""MAF workflows that pause on a ticket: a declaration-only tool (``declare(send_email)``: the
same name, description and input model, no body) makes the workflow stop with a
``request_info`` event carrying the model's function call. The connector files that call, stores
the workflow's checkpoint with the conversation, and when the ticket is decided (in any process)
restores the checkpoint and answers that request with the call's real result as the tool's
result — or, when it did not run, with the outcome — so the model reads it in place.

The checkpoint is kept in the conversation's stored state, encoded by MAF's own checkpoint
encoding and decoded with its restricted unpickler (types beyond MAF's own are allowed only by
``options={"checkpoint_types": ["pkg.module:Class"]}``). The store is the connector's own
database; nothing else is ever decoded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_framework import Content, FunctionTool, InMemoryCheckpointStorage, WorkflowCheckpoint
from agent_framework._workflows._checkpoint_encoding import decode_checkpoint_value, encode_checkpoint_value

from connector.agents.autogen.runs import RunRecorder, note_call, recording
from connector.agents.autogen.termination import waiting_reason
from connector.core.errors import UserError
from connector.core.models import ApprovalRequest, RequestState
from connector.core.store.conversations import RunOutcome

if TYPE_CHECKING:
    from connector.app.runtime import Connector


def declare(tool: FunctionTool) -> FunctionTool:
    """The declaration-only stand-in for ``tool`` in a workflow's agents: the model sees the same
    tool; a call pauses the workflow for the connector. Register ``tool`` itself to run it."""
    model = tool.input_model if tool.input_model is not None else tool.parameters()
    return FunctionTool(name=tool.name, description=tool.description, func=None, input_model=model)


def tool_answer(request: ApprovalRequest, message: str) -> str:
    """What the paused call is answered with: the real result when it ran, else the outcome."""
    if request.state is RequestState.SUCCEEDED:
        return request.result or ""
    return message


def encode(checkpoint: WorkflowCheckpoint) -> Any:
    return encode_checkpoint_value(checkpoint.to_dict())


def decode(value: Any, options: dict[str, Any]) -> WorkflowCheckpoint:
    allowed = frozenset(str(t) for t in options.get("checkpoint_types") or [])
    return WorkflowCheckpoint.from_dict(decode_checkpoint_value(value, allowed_types=allowed))


class WorkflowRun:
    """One run of a workflow conversation: from its task, or from its stored checkpoint with the
    answer to the call that was decided. Calls it pauses on are submitted (tagged with the run's
    context); those decided at once (auto, deny) are answered at once."""

    def __init__(self, connector: Connector, workflow: Any, state: Any, options: dict[str, Any]) -> None:
        self.connector = connector
        self.workflow = workflow
        self.state = state or {}
        self.options = options
        self.storage = InMemoryCheckpointStorage()
        self.pending: dict[str, dict[str, str]] = dict(self.state.get("pending") or {})

    async def run(
        self,
        task: Any,
        context: dict[str, str],
        recorder: RunRecorder,
        answering: tuple[ApprovalRequest, str] | None,
    ) -> tuple[list[Any], RunOutcome]:
        with recording(recorder):
            if answering is not None:
                result = await self._resume(*answering)
            elif self.state:
                raise UserError(
                    "this workflow conversation has ended; start a new conversation for a new task"
                )
            else:
                result = await self.workflow.run(task, checkpoint_storage=self.storage)
            result = await self._settle(result, context)
        latest = await self.storage.get_latest(workflow_name=self.workflow.name)
        if latest is None:
            raise UserError(f"workflow {self.workflow.name} made no checkpoint to resume from")
        outputs = [getattr(o, "text", None) or str(o) for o in result.get_outputs()]
        outcome = RunOutcome(
            state={"kind": "workflow", "checkpoint": encode(latest), "pending": self.pending},
            messages=[{"source": self.workflow.name, "kind": "WorkflowOutput", "text": o} for o in outputs],
            deferred=[r.id for r in recorder.deferred],
            inline=recorder.inline,
            result=outputs[-1] if outputs else "",
            stop_reason=waiting_reason(recorder.deferred) if recorder.deferred else "",
        )
        return outputs, outcome

    async def _resume(self, request: ApprovalRequest, message: str) -> Any:
        checkpoint = decode(self.state["checkpoint"], self.options)
        await self.storage.save(checkpoint)
        entry = self.pending.pop(request.id, None)
        if entry is None:
            raise UserError(f"the stored workflow does not wait on request {request.id}")
        answer = Content.from_function_result(call_id=entry["call_id"], result=tool_answer(request, message))
        return await self.workflow.run(
            checkpoint_id=checkpoint.checkpoint_id,
            checkpoint_storage=self.storage,
            responses={entry["request_info_id"]: answer},
        )

    async def _settle(self, result: Any, context: dict[str, str]) -> Any:
        """Submit the calls the workflow now waits on; answer at once those already decided."""
        service = self.connector.service
        while True:
            waiting = {entry["request_info_id"] for entry in self.pending.values()}
            answers = {}
            for event in result.get_request_info_events():
                call = event.data
                if event.request_id in waiting:
                    continue
                if getattr(call, "type", None) != "function_call":
                    raise UserError(
                        f"workflow {self.workflow.name} asks for input the connector cannot give "
                        f"({type(call).__name__}); only declaration-only tool calls are answered here"
                    )
                try:
                    request = await service.submit(
                        call.name, call.parse_arguments() or {}, {**context, "call_id": call.call_id or ""}
                    )
                except UserError as exc:
                    answers[event.request_id] = Content.from_function_result(
                        call_id=call.call_id, result=f"Not submitted: {exc}. Fix the call and try again."
                    )
                    continue
                note_call(request, deferred=not request.state.terminal)
                if request.state.terminal:
                    text = tool_answer(request, request.outcome().message())
                    answers[event.request_id] = Content.from_function_result(
                        call_id=call.call_id, result=text
                    )
                else:
                    self.pending[request.id] = {"request_info_id": event.request_id, "call_id": call.call_id}
            if not answers:
                return result
            result = await self.workflow.run(responses=answers, checkpoint_storage=self.storage)
