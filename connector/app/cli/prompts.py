"""The questions ``review`` and ``demo`` ask a human in the terminal."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from connector.app.cli.edits import check_edit
from connector.app.cli.interrupts import Interrupted, interruptible
from connector.app.cli.output import err, out, value_text
from connector.core.errors import UserError
from connector.core.text import for_terminal
from connector.core.tools import Tool

MENU = {"a": "[a]pprove", "r": "[r]eject", "e": "[e]dit and approve", "s": "[s]kip", "q": "[q]uit"}


@dataclass(frozen=True)
class Answer:
    key: str  # one of MENU
    reason: str = ""
    edited: dict[str, Any] | None = None


def ask(text: str, **options: Any) -> Any:
    """click.prompt, with Ctrl-C (or the end of input) stopping the command at once."""
    try:
        with interruptible():
            return click.prompt(text, **options)
    except (KeyboardInterrupt, click.exceptions.Abort):
        raise Interrupted("interrupted") from None


def ask_decision(ticket: str, keys: str, edit: Callable[[], dict[str, Any] | None]) -> Answer:
    """Offer the menu entries ``keys`` (e.g. "aresq", less what does not apply) for ``ticket``
    until one is chosen; ``edit`` asks for the edited arguments (None: refused, ask again).
    Interrupted, saying nothing was decided, if the human stops at any of its questions."""
    try:
        return _ask_decision(keys, edit)
    except Interrupted:
        raise Interrupted(f"interrupted: nothing was decided on {ticket}") from None


def _ask_decision(keys: str, edit: Callable[[], dict[str, Any] | None]) -> Answer:
    while True:
        key = ask(", ".join(MENU[k] for k in keys), type=click.Choice(list(keys)), show_choices=False)
        if key == "r":
            return Answer(key, reason=ask("Reason (the agent hears it)"))
        if key == "e":
            edited = edit()
            if edited is None:
                continue
            return Answer(key, edited=edited)
        return Answer(key)


def edit_arguments(tool: Tool, arguments: dict[str, Any]) -> dict[str, Any] | None:
    """The ``[e]dit`` choice: in ``$VISUAL`` / ``$EDITOR`` when one is set (the whole call as
    JSON, multi-line values included), otherwise one prompt per field. None: refused."""
    from connector.app.cli.editor import edit_in_editor, editor_command

    editor = editor_command()
    if editor is not None:
        return edit_in_editor(tool, arguments, editor)
    return prompt_edit(tool, arguments)


def prompt_edit(tool: Tool, arguments: dict[str, Any]) -> dict[str, Any] | None:
    """Ask for each argument's new value (Enter keeps it); None if the edit is refused. Each
    current value is shown in full first; a long or multi-line one is better edited with
    ``$EDITOR`` set."""
    out.print("Edit the arguments: press Enter to keep a value; non-text values as JSON.")
    out.print("(set $EDITOR to edit them all, multi-line text included, in your editor)")
    fields = list(tool.args_model.model_fields)
    order = [f for f in fields if f in arguments] + [a for a in arguments if a not in fields]
    changes: dict[str, Any] = {}
    for name in order:
        value = arguments[name]
        current = value_text(value)
        short = len(current) < 60 and "\n" not in current
        if not short:  # shown in full (escaped: the value is untrusted), then kept by Enter
            out.print(f"  {name} is now:")
            for line in current.splitlines() or [""]:
                out.print(f"    | {line}")
        shown = for_terminal(current) if short else "keep"
        answer = ask(f"  {for_terminal(name)}", default=current, show_default=shown)
        if answer == current:
            continue
        if isinstance(value, str):
            changes[name] = answer
        else:
            try:
                changes[name] = json.loads(answer)
            except json.JSONDecodeError:
                err.print(f"{name}: not valid JSON; edit cancelled")
                return None
    try:
        return check_edit(tool, arguments, changes)
    except UserError as exc:
        err.print(f"edit refused: {exc}")
        return None
