"""An MCP tool's result as the text the connector stores, comments and hands back, and that text
as a ``CallToolResult`` again for an MCP client (the proxy's answer after the approved run).

A tool with an ``outputSchema`` must answer with ``structuredContent`` that fits it: the official
client raises otherwise. The stored text is the tool's text content (what a person reads); the
structured value is rebuilt from it the way servers serialize it — the JSON of the object
itself, or ``{"result": value}`` for a plain value (FastMCP's convention) — and kept only when it
fits the schema."""

from __future__ import annotations

import json
from typing import Any

from connector.core.models import canonical_json


def result_text(result: Any) -> str:
    """The text of a ``CallToolResult``: its text parts, else its structured content as JSON."""
    parts = []
    for content in result.content:
        kind = getattr(content, "type", "")
        if kind == "text":
            parts.append(content.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} {getattr(content, 'mimeType', '')}]")
        elif kind == "resource_link":
            parts.append(f"[resource {content.uri}]")
        elif kind == "resource":
            resource = content.resource
            parts.append(getattr(resource, "text", None) or f"[resource {resource.uri}]")
    if parts:
        return "\n".join(parts)
    if result.structuredContent is not None:
        return canonical_json(result.structuredContent)
    return ""


def _fits(value: Any, schema: dict[str, Any]) -> bool:
    import jsonschema

    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        return False
    except jsonschema.SchemaError:
        return False
    return True


def structured_from_text(text: str, output_schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The structured value ``text`` serializes, if one fits ``output_schema`` (None without one)."""
    if not output_schema:
        return None
    candidates: list[Any] = []
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    else:
        if isinstance(parsed, dict):
            candidates.append(parsed)
        candidates.append({"result": parsed})
    candidates.append({"result": text})
    return next((c for c in candidates if _fits(c, output_schema)), None)


def call_result(text: str, output_schema: dict[str, Any] | None, meta: dict[str, Any]) -> Any:
    """A successful run's stored text as the tool's answer to an MCP client. When the tool has an
    ``outputSchema`` that no rebuilt value fits, the answer is marked an error (the client would
    refuse it otherwise) and says the call did run."""
    import mcp.types as t

    structured = structured_from_text(text, output_schema)
    if output_schema and structured is None:
        said = f"The call ran; its result (not in the tool's declared shape): {text}"
        return t.CallToolResult(content=[t.TextContent(type="text", text=said)], isError=True, _meta=meta)
    return t.CallToolResult(
        content=[t.TextContent(type="text", text=text)],
        structuredContent=structured,
        isError=False,
        _meta=meta,
    )
