"""JQL built from values that may come from config or ids: always quoted, never from the clock."""

from __future__ import annotations

from collections.abc import Iterable


def quote(value: str) -> str:
    """A JQL string literal; backslashes and quotes escaped so a value cannot end the literal."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def status_value(entry: str) -> str:
    """Numeric entries are status ids (unquoted ids are exact); names are quoted."""
    text = str(entry).strip()
    return text if text.isdigit() else quote(text)


def in_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(quote(v) for v in values) + ")"


def status_list(entries: Iterable[str]) -> str:
    return "(" + ", ".join(status_value(e) for e in entries) + ")"
