"""AutoGen tools as the core's framework-neutral ``Tool``: the same args model AutoGen validates
with, run through ``run_json`` with a fresh cancellation token."""

from __future__ import annotations

import inspect
from typing import Any

from autogen_core import CancellationToken
from autogen_core.tools import BaseTool, FunctionTool

from connector.core.tools import Tool


def as_autogen_tool(obj: Any, name: str | None = None) -> BaseTool[Any, Any]:
    """A BaseTool as is; a plain function wrapped the way AssistantAgent would wrap it."""
    if isinstance(obj, BaseTool):
        return obj
    if callable(obj):
        return FunctionTool(obj, description=(obj.__doc__ or "").strip(), name=name)
    raise TypeError(f"{obj!r} is neither an AutoGen BaseTool nor a function")


def autogen_tool(obj: Any, name: str | None = None) -> Tool | None:
    """Converter for ToolRegistry: AutoGen BaseTools, and plain functions (wrapped in AutoGen's
    FunctionTool so the gate and the executor validate with exactly the same model)."""
    if isinstance(obj, BaseTool):
        base: BaseTool[Any, Any] = obj
    elif inspect.isfunction(obj) or inspect.ismethod(obj):
        base = FunctionTool(obj, description=(obj.__doc__ or "").strip(), name=name)
    else:
        return None

    async def call(arguments: dict[str, Any], call_id: str) -> str:
        value = await base.run_json(arguments, CancellationToken(), call_id=call_id)
        return base.return_value_as_string(value)

    return Tool(base.name, base.description, base.args_type(), call, origin=base)
