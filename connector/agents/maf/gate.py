"""Gating a MAF function tool: ``connector.gate(send_email)`` returns a ``FunctionTool`` with the
same name, description and input model whose body files the approval instead of running, so
the model hears "pending" at once (MAF has validated the arguments by then). The connector runs
the real tool after the decision, exactly once; MAF never does.

    agent = Agent(client=client, tools=[connector.gate(send_email)],
                  middleware=[awaiting_approval()])   # optional: end the run at "pending"

MAF's own ``approval_mode="always_require"`` round-trip is not used and such tools are refused:
MAF would pause them before any gate runs, and its approval response carries a function call
that a caller can edit (the connector runs only the stored, sealed call)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from agent_framework import FunctionInvocationContext, FunctionMiddleware, FunctionTool, MiddlewareTermination

from connector.agents.autogen.gate import current_context, outcome_message
from connector.agents.autogen.runs import note_call
from connector.core.errors import UserError
from connector.core.policy import require_route

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from connector.app.runtime import Connector

DEFERRED = "approval_connector.deferred"  # context metadata: the request a call deferred to
_CALL_ID: ContextVar[str | None] = ContextVar("maf_tool_call_id", default=None)


class GatedFunctionTool(FunctionTool):
    """A FunctionTool whose body files the call; it knows the model's call id in every path."""

    async def invoke(
        self, *, arguments: Any = None, context: Any = None, tool_call_id: Any = None, **kw: Any
    ) -> Any:
        token = _CALL_ID.set(tool_call_id)
        try:
            return await super().invoke(arguments=arguments, context=context, tool_call_id=tool_call_id, **kw)
        finally:
            _CALL_ID.reset(token)


def check_gateable(connector: Connector, tool: FunctionTool, route: str | None) -> None:
    if tool.approval_mode == "always_require":
        raise UserError(
            f"MAF tool {tool.name} has approval_mode='always_require': the connector's gate replaces "
            "MAF's approval round-trip; give the tool approval_mode='never_require'"
        )
    require_route(connector.config, tool.name, route)


def gate_maf_tool(
    connector: Connector,
    tool: FunctionTool,
    *,
    route: str | None = None,
    wait: bool = False,
    wait_timeout: float = 300.0,
    wait_interval: float = 2.0,
    agent: str = "",
    idempotent: bool | None = None,
) -> GatedFunctionTool:
    """The gated stand-in for ``tool`` (registered to run on approval, in this process)."""
    check_gateable(connector, tool, route)
    if wait and wait_timeout <= 0:
        raise UserError("wait_timeout must be positive")
    connector.registry.register(tool, idempotent=idempotent)
    service = connector.service

    async def file_the_call(ctx: FunctionInvocationContext, **arguments: Any) -> str:
        context = {"agent": agent, **current_context()}
        call_id = ctx.metadata.get("call_id") or _CALL_ID.get()
        if call_id:
            context.setdefault("call_id", str(call_id))
        try:
            request = await service.submit(tool.name, arguments, context, route)
        except UserError as exc:
            raise ValueError(str(exc)) from None  # MAF hands this to the model as the tool's error
        if wait and not request.state.terminal:
            request = await service.wait_for(request.id, wait_timeout, wait_interval)
        deferred = not request.state.terminal
        note_call(request, deferred=deferred)  # a conversation run, if any, learns it
        if deferred:
            ctx.metadata[DEFERRED] = request.id
        return outcome_message(request)

    return GatedFunctionTool(
        name=tool.name,
        description=tool.description,
        input_model=tool.input_model if tool.input_model is not None else tool.parameters(),
        func=file_the_call,
        approval_mode="never_require",
    )


class AwaitingApproval(FunctionMiddleware):
    """Ends the agent's run as soon as a gated call deferred to a ticket: the model has heard
    "pending" as the tool's result and is not called again (no second model call, no retry); the
    other calls of the same model turn still run. The MAF counterpart of AutoGen's
    ``awaiting_approval()`` termination condition."""

    async def process(
        self, context: FunctionInvocationContext, call_next: Callable[[], Awaitable[None]]
    ) -> None:
        await call_next()
        if context.metadata.get(DEFERRED):
            raise MiddlewareTermination("waiting for approval", result=context.result)


def awaiting_approval() -> AwaitingApproval:
    return AwaitingApproval()
