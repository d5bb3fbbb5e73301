"""Configuration errors that name the file, the line and the key path: one line per problem."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


def line_of_key(data: Any, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest key of ``loc`` found in ``data`` (mappings and lists that carry a
    ``lines`` attribute, as the YAML loader makes them), or None."""
    line = None
    node = data
    for part in loc:
        lines = getattr(node, "lines", None)
        if isinstance(node, dict) and isinstance(lines, dict) and str(part) in node:
            line = lines.get(str(part), line)
            node = node[str(part)]
        elif isinstance(node, list) and isinstance(lines, list) and isinstance(part, int):
            if part >= len(node):
                break
            line = lines[part]
            node = node[part]
        else:
            break
    return line


def _loc_text(loc: tuple[Any, ...]) -> str:
    """``routes[0].ticket.summary``; a key that is empty or not printable is shown quoted, so an
    error stays one line and a terminal escape in a key is never sent raw."""
    text = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker for an error in a mapping's key: the key is named
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        elif not str(part) or not str(part).isprintable():
            text += f"[{str(part)!r}]"
        else:
            text += ("." if text else "") + str(part)
    return text


_NOT_A_MAPPING = {"model_type", "model_attributes_type", "dict_type"}


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    message = "expected a mapping of keys" if err["type"] in _NOT_A_MAPPING else err["msg"]
    message = message.removeprefix("Value error, ")
    if err.get("input", ...) is None and err["type"] != "missing":
        message += ", got null"
    return message


def format_validation_error(
    exc: ValidationError, prefix: str = "", data: Any = None, source: str = ""
) -> str:
    """One line per problem: 'file:line: key.path: message'."""
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-after"))
        path = _loc_text(loc)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        where = ""
        if data is not None:
            line = line_of_key(data, loc)
            if line:
                where = f"{source}:{line}: " if source else f"line {line}: "
        elif source:
            where = f"{source}: "
        message = _message(err)
        lines.append(f"{where}{path}: {message}" if path else f"{where}{message}")
    return "; ".join(lines)
