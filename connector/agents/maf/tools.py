"""MAF function tools as the core's framework-neutral ``Tool``: the tool's own ``input_model``
validates (so the digest the gate stores is the digest of what runs), and a run is the tool's
``invoke``. Nothing here imports agent_framework unless a MAF object is handed in."""

from __future__ import annotations

import sys
from typing import Any

from connector.core.errors import UserError
from connector.core.tools import Tool, result_text


def is_maf_tool(obj: Any) -> bool:
    """A MAF ``FunctionTool`` (checked without importing agent_framework when it is not loaded)."""
    if "agent_framework" not in sys.modules:
        return False
    from agent_framework import FunctionTool

    return isinstance(obj, FunctionTool)


def content_text(contents: Any) -> str:
    """What a MAF tool returned (a list of ``Content``) as text."""
    if isinstance(contents, list):
        parts = [
            getattr(c, "text", None) or result_text(getattr(c, "result", None) or str(c)) for c in contents
        ]
        return "\n".join(p for p in parts if p)
    return result_text(contents)


def maf_tool(obj: Any, name: str | None = None) -> Tool | None:
    """Converter for ToolRegistry: MAF function tools that have a body and a pydantic model."""
    if not is_maf_tool(obj):
        return None
    if obj.declaration_only:
        raise UserError(f"MAF tool {obj.name} is declaration-only: register the tool that has the body")
    if obj.input_model is None:
        raise UserError(
            f"MAF tool {obj.name} has a JSON-schema input_model; give it a pydantic model (or annotated "
            "parameters) so the connector validates exactly what runs"
        )

    async def call(arguments: dict[str, Any], call_id: str) -> str:
        return content_text(await obj.invoke(arguments=arguments, tool_call_id=call_id))

    return Tool(obj.name, obj.description or "", obj.input_model, call, origin=obj)
