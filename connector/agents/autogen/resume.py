"""The AutoGen resumer: rebuild the team from its factory, load the stored state and continue it
with one message from the gatekeeper — a ``TextMessage`` for a single agent, RoundRobin or
Selector, a ``HandoffMessage`` to the right participant for a Swarm (a Swarm refuses a plain
message after a handoff, AutoGen #5912). The core stores what comes back, if its claim still
holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autogen_agentchat.messages import BaseChatMessage, HandoffMessage, TextMessage

from connector.core.service.conversations import ResumeJob
from connector.core.store.conversations import RunOutcome

from .conversation import TeamContext, TeamEvent, build_team, run_team
from .runs import GATEKEEPER, RunRecorder

if TYPE_CHECKING:
    from connector.app.runtime import Connector


def participant_names(team: Any) -> list[str]:
    return [p.name for p in getattr(team, "_participants", [])]


def swarm_target(state: Any, participants: list[str]) -> str | None:
    """Who a resumed Swarm hands the message to: the newest handoff's target if it is a
    participant (after the gatekeeper handed back to the proposer), else the current speaker."""
    for agent_state in (state or {}).get("agent_states", {}).values():
        if isinstance(agent_state, dict) and agent_state.get("type") == "SwarmManagerState":
            for message in reversed(agent_state.get("message_thread") or []):
                if message.get("type") == "HandoffMessage" and message.get("target") in participants:
                    return str(message["target"])
            speaker = agent_state.get("current_speaker")
            return str(speaker) if speaker in participants else (participants[0] if participants else None)
    return None


def is_swarm(team: Any) -> bool:
    from autogen_agentchat.teams import Swarm

    return isinstance(team, Swarm)


TURN_FIELDS = ("next_speaker_index", "previous_speaker", "current_speaker")


def keep_turn(before: Any, after: Any) -> Any:
    """An approver's question is a side conversation: its question and answer stay in every
    agent's history, but whose turn it is afterwards is what it was before (a RoundRobin would
    otherwise hand the next turn — the outcome — to the wrong participant)."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return after
    old = before.get("agent_states", {})
    for name, manager in after.get("agent_states", {}).items():
        if isinstance(manager, dict) and isinstance(old.get(name), dict):
            for field in TURN_FIELDS:
                if field in manager and field in old[name]:
                    manager[field] = old[name][field]
    return after


def gatekeeper_message(team: Any, state: Any, text: str) -> BaseChatMessage:
    if is_swarm(team):
        target = swarm_target(state, participant_names(team))
        if target:
            return HandoffMessage(source=GATEKEEPER, target=target, content=text)
    return TextMessage(source=GATEKEEPER, content=text)


class AutoGenResumer:
    """Registered with the core as the ``autogen`` resumer of every connector."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector

    async def __call__(self, job: ResumeJob) -> RunOutcome:
        record = job.conversation
        event = TeamEvent(
            kind="question" if job.kind == "question" else "outcome",
            text=job.message,
            request_id=job.request.id,
            state=job.request.state.value,
            asked_by=job.asked_by,
        )
        ctx = TeamContext(self.connector, record.id, record.version, dict(record.options), event)
        team = await build_team(record.factory, ctx)
        if record.state is not None:
            await team.load_state(record.state)
        message = gatekeeper_message(team, record.state, job.message)
        _, outcome = await run_team(team, message, job.context, RunRecorder(kind=job.kind))
        if job.kind == "question":
            outcome.state = keep_turn(record.state, outcome.state)
        return outcome
