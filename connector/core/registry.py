"""Tools the connector may run, found by name: registered in code or imported from the config's
``import`` path. Never unpickled, never rebuilt from serialized source. Framework objects become
framework-neutral ``Tool``s through the converters the application hands in."""

from __future__ import annotations

import importlib
from typing import Any

from connector.app.config import ConnectorConfig
from connector.core.errors import ConfigError, UserError
from connector.core.tools import Tool, ToolConverter, convert, function_tool

# kept for callers that knew the old name
RegisteredTool = Tool


class ToolRegistry:
    def __init__(
        self, config: ConnectorConfig | None = None, converters: list[ToolConverter] | None = None
    ) -> None:
        self._tools: dict[str, Tool] = {}
        self._config = config
        self.converters: list[ToolConverter] = list(converters or []) + [function_tool]

    def as_tool(self, obj: Any, name: str | None = None) -> Tool:
        return convert(obj, self.converters, name)

    def register(self, tool: Any, *, idempotent: bool | None = None) -> Tool:
        entry = self.as_tool(tool)
        configured = self._config.tools.get(entry.name) if self._config else None
        if idempotent is None:
            idempotent = configured.idempotent if configured else entry.idempotent
        entry.idempotent = bool(idempotent)
        self._tools[entry.name] = entry
        return entry

    def get(self, name: str) -> Tool | None:
        """The tool, importing it from the config on first use; None if this process lacks it."""
        if name in self._tools:
            return self._tools[name]
        configured = self._config.tools.get(name) if self._config else None
        if configured is None or configured.import_path is None:
            return None
        where = f"tools.{name}.import"
        obj = import_object(configured.import_path, where=where)
        try:
            entry = self.as_tool(obj, name=name)
        except TypeError:
            raise ConfigError(
                f"{where}: {configured.import_path} is a {type(obj).__name__}, not a function or tool"
            ) from None
        if entry.name != name:
            raise ConfigError(f"{where}: {configured.import_path} is a tool named {entry.name!r}")
        entry.idempotent = configured.idempotent
        self._tools[name] = entry
        return entry

    def require(self, name: str) -> Tool:
        entry = self.get(name)
        if entry is None:
            raise UserError(
                f"unknown tool {name!r}: register it in code or add tools.{name}.import to the config"
            )
        return entry

    def names(self) -> list[str]:
        configured = list(self._config.tools) if self._config else []
        return sorted({*self._tools, *configured})


def import_object(path: str, where: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{where}: cannot import module {module_name!r}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{where}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj
