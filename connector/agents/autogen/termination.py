"""``awaiting_approval()``: the termination condition a resumable team needs. It ends the run as
soon as a gated call (or the gatekeeper) deferred to a ticket — with a stop reason that names the
ticket — instead of letting the team talk on or block a thread for hours. In a run that answers
an approver's question it ends the run after the first answer."""

from __future__ import annotations

from collections.abc import Sequence

from autogen_agentchat.base import TerminatedException, TerminationCondition
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, StopMessage
from pydantic import BaseModel

from connector.core.models import ApprovalRequest

from .runs import GATEKEEPER, current_run


def waiting_reason(waiting: Sequence[ApprovalRequest]) -> str:
    """The stop reason of a run that waits: which tickets, for which calls."""
    where = ", ".join(
        f"{r.ticket.key if r.ticket else 'request ' + r.id[:12]} ({r.tool_name})" for r in waiting
    )
    return f"Waiting for approval: {where}"


class _NoConfig(BaseModel):
    pass


class AwaitingApproval(TerminationCondition):
    """Stops a run that waits for a decision (see module doc). Outside a conversation run it
    never fires, so the same team also works as a plain team."""

    component_config_schema = _NoConfig

    def __init__(self) -> None:
        self._terminated = False

    @property
    def terminated(self) -> bool:
        return self._terminated

    async def __call__(self, messages: Sequence[BaseAgentEvent | BaseChatMessage]) -> StopMessage | None:
        if self._terminated:
            raise TerminatedException("Termination condition has already been reached")
        run = current_run()
        if run is None:
            return None
        waiting = run.deferred
        if waiting:
            self._terminated = True
            return StopMessage(content=waiting_reason(waiting), source="AwaitingApproval")
        if run.kind == "question":
            answers = [
                m for m in messages if isinstance(m, BaseChatMessage) and m.source not in (GATEKEEPER, "user")
            ]
            if answers:
                self._terminated = True
                return StopMessage(content="Answered the approver's question", source="AwaitingApproval")
        return None

    async def reset(self) -> None:
        self._terminated = False

    def _to_config(self) -> BaseModel:
        return _NoConfig()

    @classmethod
    def _from_config(cls, config: BaseModel) -> AwaitingApproval:
        return cls()


def awaiting_approval() -> AwaitingApproval:
    """Combine with the team's own conditions: ``awaiting_approval() | TextMentionTermination(...)``."""
    return AwaitingApproval()
