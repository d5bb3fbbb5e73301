"""AutoGen integration: a gated tool keeps the wrapped tool's name and argument schema, so an
AssistantAgent uses it as usual, but a call is stored and ticketed instead of run.

Gating inside the tool (not in a UserProxyAgent or an intervention handler) keeps the model's
tool-call / tool-result pair complete, so a team can be saved, stopped and resumed hours later."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from autogen_core import CancellationToken
from autogen_core.tools import BaseTool
from pydantic import BaseModel

from connector.agents.autogen.runs import note_call
from connector.core.errors import UserError
from connector.core.models import ApprovalRequest, RequestState

if TYPE_CHECKING:
    from connector.core.service import ApprovalService

_CALL_CONTEXT: ContextVar[dict[str, str] | None] = ContextVar("approval_call_context", default=None)


@contextmanager
def approval_context(**fields: str) -> Iterator[None]:
    """Tag gated calls made inside this block: ``conversation_id``, ``requester`` (who asked the
    agent; never allowed to approve), ``rationale``, ``agent``."""
    token = _CALL_CONTEXT.set({**(_CALL_CONTEXT.get() or {}), **{k: str(v) for k, v in fields.items()}})
    try:
        yield
    finally:
        _CALL_CONTEXT.reset(token)


def current_context() -> dict[str, str]:
    """The fields of the innermost ``approval_context`` (empty outside one)."""
    return dict(_CALL_CONTEXT.get() or {})


def pending_message(request: ApprovalRequest) -> str:
    """What the model hears while a human decides: clear that it must not retry."""
    if request.state is RequestState.SUBMITTED:
        return (
            f"Approval requested (request {request.id}); the ticket could not be opened yet and is "
            "being retried. Status: pending. Do not call this tool again for the same action."
        )
    where = request.ticket.key if request.ticket else request.id
    return (
        f"Approval requested in {where} (request {request.id}). Status: pending human approval. "
        "The action has NOT been performed yet; the outcome will be reported when a human decides. "
        "Do not call this tool again for the same action."
    )


def outcome_message(request: ApprovalRequest) -> str:
    if request.state in (RequestState.SUBMITTED, RequestState.TICKETED):
        return pending_message(request)
    return request.outcome().message()


class GatedTool(BaseTool[BaseModel, str]):
    """Same name, description and argument schema as ``inner``; running it files an approval."""

    def __init__(
        self,
        inner: BaseTool[Any, Any],
        service: ApprovalService,
        *,
        route: str | None = None,
        wait: bool = False,
        wait_timeout: float = 300.0,
        wait_interval: float = 2.0,
        agent: str = "",
    ) -> None:
        super().__init__(
            args_type=inner.args_type(),
            return_type=str,
            name=inner.name,
            description=inner.description,
            strict=bool(inner.schema.get("strict", False)),
        )
        self.inner = inner
        self.service = service
        self.route = route
        self.wait = wait
        self.wait_timeout = wait_timeout
        self.wait_interval = wait_interval
        self.agent = agent

    async def run(self, args: BaseModel, cancellation_token: CancellationToken) -> str:
        context = {"agent": self.agent, **(_CALL_CONTEXT.get() or {})}
        try:
            request = await self.service.submit(self.name, args.model_dump(mode="json"), context, self.route)
        except UserError as exc:
            raise ValueError(str(exc)) from None  # AutoGen hands this to the model as a tool error
        self.last_request_id = request.id
        if self.wait and not request.state.terminal:
            request = await self.service.wait_for(request.id, self.wait_timeout, self.wait_interval)
        note_call(request, deferred=not request.state.terminal)  # a conversation run, if any, learns it
        return outcome_message(request)
