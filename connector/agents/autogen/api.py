"""The conversation methods of ``Connector`` (``connector.conversation(...)``,
``connector.user_proxy(...)``) and the resumer every connector registers, so any process built
from the config (``serve``, ``poll``, ``approve``) can continue AutoGen conversations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .conversation import RESUMER, Conversation
from .gatekeeper import ApprovalGatekeeper, user_proxy
from .resume import AutoGenResumer
from .runs import GATEKEEPER

if TYPE_CHECKING:
    from connector.app.runtime import Connector


def install_resumer(connector: Connector) -> None:
    connector.service.conversations.register_resumer(RESUMER, AutoGenResumer(connector))


class ConversationMethods:
    def conversation(
        self: Connector,  # type: ignore[misc]
        team_factory: str,
        conversation_id: str,
        *,
        options: dict[str, Any] | None = None,
        requester: str = "",
        rationale: str = "",
        agent: str = "",
        question_prefix: str = "@agent",
    ) -> Conversation:
        """A resumable conversation: ``team_factory`` ("pkg.module:function") builds the team in
        any process; ``options`` are handed to it there too. ``question_prefix`` starts the
        ticket comments that are approvers' questions for the agent ("" turns them off)."""
        return Conversation(
            self,
            conversation_id,
            team_factory,
            options=options,
            requester=requester,
            rationale=rationale,
            agent=agent,
            question_prefix=question_prefix,
        )

    def user_proxy(
        self: Connector,  # type: ignore[misc]
        name: str = GATEKEEPER,
        *,
        tools: Sequence[Any],
        route: str | None = None,
        wait: float | None = None,
        wait_interval: float = 2.0,
        description: str = "",
    ) -> ApprovalGatekeeper:
        """The ticket-backed gatekeeper for a group chat: it files the proposed call of one of
        ``tools`` as an approval ticket; ``wait`` (seconds) opts into a bounded wait."""
        return user_proxy(
            self,
            name,
            tools=tools,
            route=route,
            wait=wait,
            wait_interval=wait_interval,
            description=description,
        )
