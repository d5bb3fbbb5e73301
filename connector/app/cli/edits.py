"""Approve-with-edits from the command line (``approve --edit``, ``demo --edit``, the interactive
``[e]dit``): an edit counts only if it names the tool's own arguments, fits the tool's schema and
changes something. Checked here, before anything is decided, so a refused edit leaves the ticket
as it was."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError, create_model

from connector.core.errors import UserError
from connector.core.tools import Tool


class NothingEdited(UserError):
    """The edited arguments are the proposed ones: approving them is a plain approval."""


def parse_changes(text: str) -> dict[str, Any]:
    """``--edit`` takes a JSON object of argument names to new values."""
    try:
        changes = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"--edit: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(changes, dict):
        raise UserError("--edit: give a JSON object of argument names to new values")
    return changes


def check_names(tool: Tool, changes: dict[str, Any]) -> None:
    """Every key must be one of the tool's arguments: a misspelt name is an error, not ignored."""
    fields = tool.args_model.model_fields
    known = set(fields) | {f.alias for f in fields.values() if f.alias}
    unknown = sorted(k for k in changes if k not in known)
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise UserError(f"{tool.name} has no argument {names} (its arguments: {', '.join(fields)})")


def check_values(tool: Tool, changes: dict[str, Any]) -> None:
    """What can be checked before the proposal exists (``demo --edit``, ahead of the agent): the
    names, and each new value against its own field's type and constraints."""
    check_names(tool, changes)
    fields = tool.args_model.model_fields
    by_alias = {f.alias: name for name, f in fields.items() if f.alias}
    named = {by_alias.get(k, k) for k in changes}
    partial = create_model(f"{tool.name}_edit", **{n: (fields[n].annotation, fields[n]) for n in named})
    try:
        partial.model_validate(changes)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise UserError(f"arguments do not fit {tool.name}: {problems}") from None


def check_edit(tool: Tool, original: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The arguments to approve: ``original`` with ``changes`` applied, validated against the
    tool's schema (canonical JSON data, as the service stores them). UserError if a key is not an
    argument or the result does not fit; NothingEdited if it equals ``original``."""
    check_names(tool, changes)
    edited = tool.validate({**original, **changes})
    if edited == tool.validate(original):
        raise NothingEdited("the edit changes nothing")
    return edited


def edit_from_option(tool: Tool, original: dict[str, Any], text: str) -> dict[str, Any]:
    """``--edit JSON`` checked as a whole: one clear line for whatever is wrong with it."""
    changes = parse_changes(text)
    try:
        return check_edit(tool, original, changes)
    except NothingEdited as exc:
        advice = "approve without --edit to run the call as proposed"
        raise UserError(f"--edit: {exc}; nothing decided ({advice})") from None
    except UserError as exc:
        raise UserError(f"--edit: {exc}; nothing decided") from None


def changed(original: dict[str, Any], edited: dict[str, Any]) -> dict[str, Any]:
    """The edited values that differ from the original ones."""
    return {k: v for k, v in edited.items() if original.get(k) != v}
