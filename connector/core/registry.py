"""Tools the connector may run, found by name: registered in code or imported from the config's
``import`` path. Never unpickled, never rebuilt from serialized source."""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autogen_core.tools import BaseTool, FunctionTool
from pydantic import BaseModel, ValidationError

from connector.core.errors import ConfigError, UserError
from connector.core.settings import ConnectorConfig


@dataclass
class RegisteredTool:
    tool: BaseTool[Any, Any]
    idempotent: bool = False

    @property
    def args_model(self) -> type[BaseModel]:
        return self.tool.args_type()

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Re-validate arguments against the tool's schema; returns them as canonical JSON data."""
        try:
            model = self.args_model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}" for e in exc.errors()
            )
            raise UserError(f"arguments do not fit {self.tool.name}: {problems}") from None
        return model.model_dump(mode="json")


def as_tool(obj: Any, name: str | None = None) -> BaseTool[Any, Any]:
    """A BaseTool as is; a plain function wrapped the way AssistantAgent would wrap it."""
    if isinstance(obj, BaseTool):
        return obj
    if callable(obj):
        return FunctionTool(obj, description=(obj.__doc__ or "").strip(), name=name)
    raise TypeError(f"{obj!r} is neither an AutoGen BaseTool nor a function")


class ToolRegistry:
    def __init__(self, config: ConnectorConfig | None = None) -> None:
        self._tools: dict[str, RegisteredTool] = {}
        self._config = config

    def register(
        self, tool: BaseTool[Any, Any] | Callable[..., Any], *, idempotent: bool | None = None
    ) -> RegisteredTool:
        base = as_tool(tool)
        configured = self._config.tools.get(base.name) if self._config else None
        if idempotent is None:
            idempotent = configured.idempotent if configured else False
        entry = RegisteredTool(base, idempotent)
        self._tools[base.name] = entry
        return entry

    def get(self, name: str) -> RegisteredTool | None:
        """The tool, importing it from the config on first use; None if this process lacks it."""
        if name in self._tools:
            return self._tools[name]
        configured = self._config.tools.get(name) if self._config else None
        if configured is None or configured.import_path is None:
            return None
        where = f"{self._config.where('tools', name, 'import')}: tools.{name}.import"
        obj = import_object(configured.import_path, where=where)
        where = f"{where}: {configured.import_path!r}"
        check_importable_tool(obj, where)
        try:
            tool = as_tool(obj, name=name)
        except TypeError:  # nothing that makes tools knows this object
            raise ConfigError(f"{where} resolves to {describe(obj)}, {NOT_A_TOOL}") from None
        except Exception as exc:  # noqa: BLE001 - the framework read the user's signature and failed
            raise ConfigError(f"{where} cannot be made a tool: {exc!r}") from None
        if tool.name != name:
            raise ConfigError(f"{where} is a tool named {tool.name!r}")
        entry = RegisteredTool(tool, configured.idempotent)
        self._tools[name] = entry
        return entry

    def require(self, name: str) -> RegisteredTool:
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
    except Exception as exc:  # noqa: BLE001 - the user's module failed while it was imported
        raise ConfigError(f"{where}: importing {module_name!r} failed: {exc!r}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{where}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


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
    if inspect.isroutine(function) and not inspect.isfunction(function):  # str.upper, a C method
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
