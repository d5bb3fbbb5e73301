"""Tools the connector may run, found by name: registered in code or imported from the config's
``import`` path. Never unpickled, never rebuilt from serialized source. Framework objects become
framework-neutral ``Tool``s through the converters the application hands in."""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from typing import Any

from connector.core.errors import ConfigError, UserError
from connector.core.settings import ConnectorConfig
from connector.core.tools import Tool, ToolConverter, convert, function_tool

# kept for callers that knew the old name
RegisteredTool = Tool
# a name the config declares some other way (an MCP server's SERVER/TOOL) -> its Tool, or None
ToolProvider = Callable[[str], "Tool | None"]


class ToolRegistry:
    def __init__(
        self, config: ConnectorConfig | None = None, converters: list[ToolConverter] | None = None
    ) -> None:
        self._tools: dict[str, Tool] = {}
        self._config = config
        self.converters: list[ToolConverter] = list(converters or []) + [function_tool]
        self.providers: list[ToolProvider] = []

    def add_provider(self, provider: ToolProvider) -> None:
        """Tools found by name from config alone in every process (e.g. an MCP server's tools):
        asked, in order, for a name that is neither registered nor imported by ``tools:``."""
        self.providers.append(provider)

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
            return self._provided(name, configured.idempotent if configured else None)
        where = f"{self._config.where('tools', name, 'import')}: tools.{name}.import"
        obj = import_object(configured.import_path, where=where)
        where = f"{where}: {configured.import_path!r}"
        check_importable_tool(obj, where)
        try:
            entry = self.as_tool(obj, name=name)
        except TypeError:  # nothing that makes tools knows this object
            raise ConfigError(f"{where} resolves to {describe(obj)}, {NOT_A_TOOL}") from None
        except Exception as exc:  # noqa: BLE001 - the framework read the user's signature and failed
            raise ConfigError(f"{where} cannot be made a tool: {exc!r}") from None
        if entry.name != name:
            raise ConfigError(f"{where} is a tool named {entry.name!r}")
        entry.idempotent = configured.idempotent
        self._tools[name] = entry
        return entry

    def _provided(self, name: str, idempotent: bool | None) -> Tool | None:
        for provider in self.providers:
            entry = provider(name)
            if entry is not None:
                if idempotent is not None:
                    entry.idempotent = idempotent
                self._tools[name] = entry
                return entry
        return None

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
        raise ConfigError(
            f"{where}: cannot import module {module_name!r}: {exc}{_path_hint(exc, module_name)}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - the user's module failed while it was imported
        raise ConfigError(f"{where}: importing {module_name!r} failed: {exc!r}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{where}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def _path_hint(exc: ImportError, module_name: str) -> str:
    """Tools run in the process that handles the decision (``serve``, ``poll``, ``approve``): the
    user's package must be importable there, which a missing module usually means it is not."""
    missing = exc.name or "" if isinstance(exc, ModuleNotFoundError) else ""
    if not missing:
        return ""
    if missing != module_name and not module_name.startswith(missing + "."):
        return f" (a module it imports is missing: install {missing!r} in this environment)"
    searched = [entry or "." for entry in sys.path[:3]]
    return (
        f" (tools run in this process: install your package in its environment, e.g. pip install -e ., "
        f"or add its folder to PYTHONPATH; sys.path starts with {', '.join(searched)})"
    )


NOT_A_TOOL = "not a function or a tool"


def check_importable_tool(obj: Any, where: str) -> None:
    """What an import path names must be a tool object (left to the converters to recognise) or
    a function of the user's with annotated parameters (its schema is built from them): never a
    module, a class, a builtin such as ``eval``, or a function of the standard library. Knows no
    agent framework, so it can live with the framework-neutral tool code."""
    if inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isbuiltin(obj):
        raise ConfigError(f"{where} resolves to {describe(obj)}, {NOT_A_TOOL}")
    function = obj.func if isinstance(obj, functools.partial) else obj
    function = getattr(function, "__func__", function)  # a bound method's function
    builtin_kind = type(function).__module__ == "builtins"  # a framework's tool object may be a descriptor
    if inspect.isroutine(function) and not inspect.isfunction(function) and builtin_kind:  # str.upper
        raise ConfigError(f"{where} resolves to {describe(obj)}, {NOT_A_TOOL}")
    if not inspect.isfunction(function):
        return  # an object: a framework's tool, or something no converter accepts
    module = (getattr(function, "__module__", None) or "").partition(".")[0]
    if module in sys.stdlib_module_names:
        raise ConfigError(f"{where} resolves to {function.__qualname__} of the standard library, not a tool")
    for parameter in inspect.signature(obj).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            stars = "*" if parameter.kind is parameter.VAR_POSITIONAL else "**"
            raise ConfigError(
                f"{where}: a tool cannot take {stars}{parameter.name} (its schema names each argument)"
            )
        if parameter.annotation is parameter.empty:
            raise ConfigError(f"{where}: parameter {parameter.name!r} has no type annotation")


def describe(obj: Any) -> str:
    """What an imported object is, for an error message."""
    if inspect.ismodule(obj):
        return f"the module {obj.__name__}"
    if inspect.isclass(obj):
        return f"the class {obj.__qualname__}"
    if inspect.isroutine(obj):
        return f"the builtin {getattr(obj, '__qualname__', obj)!s}"
    return f"a {type(obj).__name__} object"
