"""What actually ran: every time the connector invokes a tool's body, the kit writes down the tool
and the arguments it was given. Assertions read this record (what the user's tool saw), not the
connector's own account of it, so "ran once" means the function was called once."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from connector.core.registry import ToolRegistry
from connector.core.tools import Tool


@dataclass(frozen=True)
class Run:
    tool: str
    arguments: dict[str, Any]
    call_id: str


class RunLog:
    """Attach to a connector's tool registry; ``runs`` grows as tools run (any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: list[Run] = []
        self._watched: set[int] = set()

    @property
    def runs(self) -> list[Run]:
        with self._lock:
            return list(self._runs)

    def of(self, tool: str | None = None) -> list[Run]:
        return [r for r in self.runs if tool is None or r.tool == tool]

    def attach(self, registry: ToolRegistry) -> None:
        """Every tool the registry hands out from now on records its runs (registered in code or
        imported from the config's ``tools:``)."""
        lookup = registry.get

        def get(name: str) -> Tool | None:
            tool = lookup(name)
            if tool is not None:
                self.watch(tool)
            return tool

        registry.get = get  # type: ignore[method-assign]

    def watch(self, tool: Tool) -> None:
        with self._lock:
            if id(tool) in self._watched:
                return
            self._watched.add(id(tool))
        tool.call = self._recording(tool.name, tool.call)

    def _recording(
        self, name: str, call: Callable[[dict[str, Any], str], Awaitable[str]]
    ) -> Callable[[dict[str, Any], str], Awaitable[str]]:
        async def recorded(arguments: dict[str, Any], call_id: str) -> str:
            with self._lock:
                self._runs.append(Run(name, dict(arguments), call_id))
            return await call(arguments, call_id)

        return recorded
