"""The proposed arguments as an approver edits them in a ticketing system (a Jira multi-line
custom field, a ServiceNow column): written as pretty JSON when the ticket is made, read back as
a JSON object. Adapters use these so every system shows and parses the same way; whether an edit
counts (who, when, the tool's schema) is the service's business."""

from __future__ import annotations

import json
from typing import Any


def proposal_text(arguments: dict[str, Any], limit: int | None = None) -> str:
    """What the editable place holds at creation: the proposed arguments, one key per line. Left
    empty when longer than ``limit`` (the place could not keep it whole, and a cut JSON text would
    refuse every approval): that call can be approved or rejected, not edited."""
    text = json.dumps(arguments, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return "" if limit is not None and len(text) > limit else text


def parse_edit(text: Any, where: str) -> tuple[dict[str, Any] | None, str | None]:
    """(arguments, problem) from the place's current text. Empty: no edit (a ticket made before
    the place existed). Not a JSON object: a problem saying exactly what and where."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None, None
    if not isinstance(text, str):
        return None, f"{where} holds a {type(text).__name__}, not the JSON text of the arguments"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    if not isinstance(value, dict):
        return None, f"{where} must hold a JSON object of arguments, not a {type(value).__name__}"
    return value, None
