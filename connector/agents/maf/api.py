"""What ``Connector`` gains for Microsoft Agent Framework: ``connector.maf_conversation(...)``,
and the ``maf`` resumer, registered in every process that has the extra, so any of them
(``serve``, ``poll``, ``approve``) can continue MAF conversations that wait on decisions.
(``connector.gate(tool)`` itself recognises MAF tools: ``connector.agents.maf.gate``.)"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.app.runtime import Connector

    from .conversation import MafConversation


def maf_installed() -> bool:
    return importlib.util.find_spec("agent_framework") is not None


def install_maf(connector: Connector) -> None:
    if maf_installed():
        from .conversation import RESUMER, MafResumer

        connector.service.conversations.register_resumer(RESUMER, MafResumer(connector))


class MafMethods:
    def maf_conversation(
        self: Connector,  # type: ignore[misc]
        factory: str,
        conversation_id: str,
        **keywords: Any,
    ) -> MafConversation:
        """A resumable MAF conversation: ``factory`` ("pkg.module:function") builds the Agent or
        Workflow in any process. The keywords are ``connector.conversation``'s: ``options``
        (handed to the factory there too), ``requester``, ``rationale``, ``agent``,
        ``question_prefix``."""
        from .conversation import MafConversation

        return MafConversation(self, conversation_id, factory, **keywords)
