"""Scrub likely secrets from free text (tool errors) before it reaches the audit trail or a
ticket: an HTTP client's error can carry a URL with credentials or an Authorization header."""

from __future__ import annotations

import re

_PATTERNS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ***"),
    (re.compile(r"(?i)(://)[^/\s:@]+:[^/\s@]+@"), r"\1***@"),
    (
        re.compile(
            r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret"
            r"|authorization|x-api-key)(\"?\s*[:=]\s*\"?)([^\s\"'&,;}]+)"
        ),
        r"\1\2***",
    ),
]


def redact(text: str | None) -> str | None:
    if not text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
