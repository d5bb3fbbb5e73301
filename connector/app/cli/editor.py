"""Approve-with-edits in an editor: the proposed arguments as pretty JSON in ``$VISUAL`` or
``$EDITOR`` (multi-line text is a JSON string with ``\\n``, edited whole), read back and checked
like any other edit. Without an editor the prompts ask field by field instead."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from connector.app.cli.edits import check_edit
from connector.app.cli.output import err
from connector.core.errors import UserError
from connector.core.tools import Tool


def editor_command() -> str | None:
    """The editor the user chose, as the shell would run it (``$VISUAL`` first, then ``$EDITOR``)."""
    for var in ("VISUAL", "EDITOR"):
        value = os.environ.get(var, "").strip()
        if value:
            return value
    return None


def edit_in_editor(tool: Tool, arguments: dict[str, Any], editor: str) -> dict[str, Any] | None:
    """The edited arguments, or None (and one line why) if the edit is cancelled or refused."""
    text = json.dumps(arguments, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    try:
        edited = click.edit(text, editor=editor, extension=".json", require_save=True)
    except click.ClickException as exc:
        err.print(f"edit cancelled: {exc.format_message()}")
        return None
    if edited is None:
        err.print("edit cancelled: the file was not saved")
        return None
    try:
        new = json.loads(edited)
    except json.JSONDecodeError as exc:
        err.print(f"edit refused: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")
        return None
    if not isinstance(new, dict):
        err.print("edit refused: the file must hold one JSON object of argument names to values")
        return None
    changes = {k: v for k, v in new.items() if arguments.get(k) != v or k not in arguments}
    try:
        return check_edit(tool, arguments, changes)
    except UserError as exc:
        err.print(f"edit refused: {exc}")
        return None
