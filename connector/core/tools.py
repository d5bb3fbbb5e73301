"""A framework-neutral tool: what the core needs to validate, store and later run a call, whatever
agent framework proposed it. Framework integrations (``connector.agents.*``) convert their own tool
objects into this with a converter; the core itself never imports an agent framework."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from connector.core.errors import UserError

# (validated arguments, call id) -> the result as text
ToolCall = Callable[[dict[str, Any], str], Awaitable[str]]
# a framework object (and the name the config gives it) -> a Tool, or None when it is not theirs
ToolConverter = Callable[[Any, "str | None"], "Tool | None"]


@dataclass
class Tool:
    """One runnable tool. ``args_model`` is the schema both the gate and the executor validate
    against, so the digest computed at submission is the digest of what runs."""

    name: str
    description: str
    args_model: type[BaseModel]
    call: ToolCall = field(repr=False)
    idempotent: bool = False
    origin: Any = field(default=None, repr=False)  # the framework object it was made from

    @property
    def schema(self) -> dict[str, Any]:
        return self.args_model.model_json_schema()

    def validate(self, arguments: Mapping[str, Any], *, strict: bool = False) -> dict[str, Any]:
        """The arguments as canonical JSON data, or UserError saying what does not fit. ``strict``
        also refuses keys the schema does not know (edits: a misspelt key must not be dropped)."""
        if not isinstance(arguments, Mapping):
            raise UserError(f"arguments for {self.name} must be an object, not {type(arguments).__name__}")
        if strict:
            unknown = sorted(str(k) for k in arguments if k not in self.known_keys())
            if unknown:
                raise UserError(
                    f"arguments do not fit {self.name}: unknown key(s) {', '.join(unknown)} "
                    f"(the tool takes {', '.join(sorted(self.known_keys())) or 'no arguments'})"
                )
        try:
            model = self.args_model.model_validate(dict(arguments))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}" for e in exc.errors()
            )
            raise UserError(f"arguments do not fit {self.name}: {problems}") from None
        return model.model_dump(mode="json")

    def known_keys(self) -> set[str]:
        keys: set[str] = set()
        for name, info in self.args_model.model_fields.items():
            keys.add(name)
            if info.alias:
                keys.add(info.alias)
        return keys

    async def run(self, arguments: dict[str, Any], call_id: str) -> str:
        return await self.call(arguments, call_id)


def result_text(value: Any) -> str:
    """A tool's return value as the text stored, commented and handed back to the agent."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


def function_tool(fn: Any, name: str | None = None) -> Tool | None:
    """A plain Python function (sync or async) as a tool; its signature is the schema. Sync
    functions run in a worker thread so they never block the event loop."""
    if not callable(fn) or inspect.isclass(fn) or not (inspect.isfunction(fn) or inspect.ismethod(fn)):
        return None
    signature = inspect.signature(fn)
    fields: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = Any if param.annotation is inspect.Parameter.empty else param.annotation
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    tool_name = name or fn.__name__
    model = create_model(  # type: ignore[call-overload]
        f"{tool_name}_args", __config__=ConfigDict(arbitrary_types_allowed=True), **fields
    )

    async def call(arguments: dict[str, Any], call_id: str) -> str:
        if inspect.iscoroutinefunction(fn):
            value = await fn(**arguments)
        else:
            value = await asyncio.to_thread(fn, **arguments)
        return result_text(value)

    return Tool(tool_name, (fn.__doc__ or "").strip(), model, call, origin=fn)


def convert(obj: Any, converters: list[ToolConverter], name: str | None = None) -> Tool:
    """The first converter that recognises ``obj`` makes the tool; TypeError if none does."""
    if isinstance(obj, Tool):
        return obj
    for converter in converters:
        tool = converter(obj, name)
        if tool is not None:
            return tool
    raise TypeError(f"{obj!r} is not a tool this connector can run (a function or a framework tool)")
