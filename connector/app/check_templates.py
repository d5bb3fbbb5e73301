"""``check-config``: the arguments a route's templates name, compared with each tool's schema.

A template that names ``{{ args.nonexistent }}`` parses, so only this comparison catches it before
the first request: rendering it fails under ``StrictUndefined`` and the request would sit
SUBMITTED, retrying. Only what the sandboxed template reads from ``args`` directly is compared
(``args.x``, ``args['x']``, ``args.get('x')``); deeper keys depend on the values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jinja2 import TemplateError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from connector.core.settings import ConnectorConfig

_PARSER = ImmutableSandboxedEnvironment()  # parsing only: what the template reads, not what it renders
TEMPLATE_PARTS = ("ticket", "decision", "outcome", "escalation")  # a route's adapter keys


def argument_names(source: str) -> set[str] | None:
    """The top-level argument names a template reads from ``args``; None if it does not parse
    (the adapters' own checks report that) or does not contain template syntax."""
    if "{{" not in source and "{%" not in source:
        return None
    try:
        tree = _PARSER.parse(source)
    except (TemplateError, RecursionError):
        return None
    names: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Call)):
        if isinstance(node, nodes.Getattr) and _is_args(node.node):
            if node.attr != "get":
                names.add(node.attr)
        elif isinstance(node, nodes.Getitem) and _is_args(node.node):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                names.add(node.arg.value)
        elif isinstance(node, nodes.Call) and _is_args_get(node.node):
            first = node.args[0] if node.args else None
            if isinstance(first, nodes.Const) and isinstance(first.value, str):
                names.add(first.value)
    return names


def _is_args(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == "args"


def _is_args_get(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Getattr) and node.attr == "get" and _is_args(node.node)


def _strings(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string below ``value`` with its key path."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*loc, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*loc, index))


def _path(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + str(part)
    return text


Problem = tuple[str, str, str, str]  # route name, file:line, key path, what is wrong


def missing_arguments(config: ConnectorConfig, schemas: dict[str, set[str]]) -> list[Problem]:
    """Every template argument one of its route's tools does not take. ``schemas``: tool name ->
    the argument names it takes (tools that could not be loaded are left out: their own row
    already fails)."""
    problems = []
    for index, route in enumerate(config.routes):
        tools = [t for t in route.tools if t in schemas]
        for part in TEMPLATE_PARTS:
            for loc, source in _strings(getattr(route, part, None) or {}, ("routes", index, part)):
                used = argument_names(source)
                for tool in tools if used else []:
                    unknown = sorted(used - schemas[tool])
                    if unknown:
                        takes = ", ".join(sorted(schemas[tool])) or "no arguments"
                        names = ", ".join(f"args.{name}" for name in unknown)
                        problem = f"names {names}, which tool {tool} does not take (it takes: {takes})"
                        problems.append((route.name, config.where(*loc), _path(loc), problem))
    return problems
