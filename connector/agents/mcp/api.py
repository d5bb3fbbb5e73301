"""What ``Connector`` gains for MCP: every configured server's tools become runnable by name
(``SERVER/TOOL``, from config alone, in every process), and ``connector.mcp_workbench(server)``
gates them for an AutoGen agent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .tools import mcp_tool_provider
from .workbench import GatedMcpWorkbench

if TYPE_CHECKING:
    from connector.app.runtime import Connector


def install_mcp(connector: Connector, environ: Mapping[str, str]) -> None:
    if connector.config.mcp_servers:
        connector.registry.add_provider(mcp_tool_provider(connector.config, environ))


class McpMethods:
    def mcp_workbench(
        self: Connector,  # type: ignore[misc]
        server: str,
        *,
        agent: str = "",
        wait: bool = False,
        wait_timeout: float = 300.0,
        wait_interval: float = 2.0,
    ) -> GatedMcpWorkbench:
        """An AutoGen workbench with the tools of ``mcp_servers.<server>``, each call decided by
        the routes that list ``<server>/<tool>`` (see connector.agents.mcp.workbench)."""
        return GatedMcpWorkbench(
            self,
            server,
            agent=agent,
            wait=wait,
            wait_timeout=wait_timeout,
            wait_interval=wait_interval,
            environ=self.environ,
        )
