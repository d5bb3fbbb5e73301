"""Approve-with-edits from the command line: ``--edit`` JSON and the interactive ``[e]dit``."""

from __future__ import annotations

import json
from typing import Any

from connector.core.errors import UserError


def parse_edit(text: str, original: dict[str, Any]) -> dict[str, Any]:
    """``--edit`` takes a JSON object; its keys replace the proposed arguments' values."""
    try:
        changes = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"--edit: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(changes, dict):
        raise UserError("--edit: give a JSON object of argument names to new values")
    return {**original, **changes}
