"""Ticket text rendered from model-written arguments, so only a sandboxed Jinja2 environment."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from connector.core.errors import ConfigError
from connector.core.models import ApprovalRequest, canonical_json

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_ENV.filters["json"] = canonical_json


class TemplateRenderError(ValueError):
    """A template failed on this request's values (missing argument, sandbox refusal)."""


@lru_cache(maxsize=512)
def _compile(source: str):  # noqa: ANN202 - jinja2 Template
    return _ENV.from_string(source)


def validate_template(source: str, where: str) -> None:
    """Raise ConfigError naming ``where`` if the template does not parse."""
    problem = template_problem(source)
    if problem:
        raise ConfigError(f"{where}: invalid template: {problem}")


def template_problem(source: str) -> str | None:
    """Why the template does not parse, or None (for settings validators: a ValueError there gets
    the key path and the line)."""
    try:
        _compile(source)
    except TemplateError as exc:
        return str(exc)
    except RecursionError:  # Jinja's parser recurses per bracket: a hundred levels are enough
        return "nested too deeply"
    return None


def render(source: str, context: dict[str, Any]) -> str:
    try:
        return _compile(source).render(**context)
    except TemplateError as exc:
        raise TemplateRenderError(f"template {source!r} failed: {exc}") from None
    except RecursionError:
        raise TemplateRenderError(f"template {source[:60]!r}... is nested too deeply") from None


def ticket_context(request: ApprovalRequest) -> dict[str, Any]:
    """What templates may use: ``args`` (the arguments), ``tool``, ``request`` (id, digest,
    route, agent, conversation, rationale, deadline)."""
    return {
        "args": request.arguments,
        "tool": request.tool_name,
        "request": {
            "id": request.id,
            "digest": request.arguments_digest,
            "route": request.route,
            "agent": request.agent,
            "conversation_id": request.conversation_id,
            "requester": request.requester,
            "rationale": request.rationale,
            "deadline": request.deadline.isoformat() if request.deadline else "",
            "mode": request.mode.value,
        },
    }


def argument_rows(arguments: dict[str, Any]) -> list[tuple[str, str]]:
    """Arguments as (name, text) rows for a readable table; nested values as canonical JSON."""
    rows = []
    for name in sorted(arguments):
        value = arguments[name]
        rows.append((name, value if isinstance(value, str) else canonical_json(value)))
    return rows
