"""Ticket text in Jira wiki markup (REST v2). Everything a model wrote (arguments, rationale, tool
results) is escaped, so it shows as typed and cannot inject markup, macros, links or mentions."""

from __future__ import annotations

import re
from typing import Any

from connector.core.models import ApprovalRequest
from connector.core.templates import argument_rows, render, ticket_context
from connector.core.text import is_hidden, one_line, visible

# Characters with a meaning in wiki markup. A backslash escapes each of them; a literal backslash
# becomes an entity because "\\" is a forced line break.
_SPECIAL = set("*_?-+^~{}[]|!#")
MAX_DESCRIPTION = 32000  # Jira refuses text fields over 32767 characters
MAX_VALUE = 4000
MAX_SUMMARY = 255
REPORT_MARKER = "acr-report:"


def escape_wiki(text: Any) -> str:
    """Escape one piece of untrusted text for a single line (table cell or inline)."""
    out: list[str] = []
    for char in str(text):
        if char == "\\":
            out.append("&#92;")
        elif char in _SPECIAL:
            out.append("\\" + char)
        elif char == "\r":
            continue
        elif char == "\n":
            out.append(" \\\\ ")  # forced line break keeps the text inside its cell
        elif char == "\t":
            out.append("    ")
        elif ord(char) < 32:
            out.append(" ")
        elif is_hidden(char):  # DEL, C1 (CSI, OSC...), bidi overrides, zero-width: shown as escapes
            out.append(visible(char).replace("\\", "&#92;"))
        else:
            out.append(char)
    return "".join(out)


def _cut(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    return value[:limit] + f" … [truncated {len(value) - limit} characters; the digest covers the full value]"


def argument_table(arguments: dict[str, Any], limit: int = MAX_VALUE) -> str:
    """A two-column table, every cell escaped."""
    if not arguments:
        return "_(no arguments)_"
    lines = ["||Argument||Value||"]
    for name, value in argument_rows(arguments):
        lines.append(f"|{escape_wiki(name) or ' '}|{escape_wiki(_cut(value, limit)) or ' '}|")
    return "\n".join(lines)


def default_description(request: ApprovalRequest, limit: int = MAX_VALUE) -> str:
    rationale = escape_wiki(request.rationale) if request.rationale else "_(none given)_"
    agent = escape_wiki(request.agent) if request.agent else "an agent"
    lines = [
        f"*{agent}* asks to run the tool *{escape_wiki(request.tool_name)}* with these arguments:",
        "",
        argument_table(request.arguments, limit),
        "",
        f"*Rationale:* {rationale}",
        "",
        f"*Request id:* {{{{{escape_wiki(request.id)}}}}}",
        f"*SHA-256 of the arguments:* {{{{{request.arguments_digest}}}}}",
    ]
    if request.deadline:
        lines.append(f"*Decide before:* {request.deadline.isoformat()}")
    lines += [
        "",
        "Approve or reject by transitioning this issue. Editing this text changes nothing: "
        "exactly the arguments above (matching the digest) will run.",
    ]
    return "\n".join(lines)


def description_context(request: ApprovalRequest) -> dict[str, Any]:
    """Template context for descriptions: ``args`` escaped, ``raw_args`` as the model wrote them."""
    context = ticket_context(request)
    context["raw_args"] = context["args"]
    context["args"] = _escape_tree(request.arguments)
    context["args_table"] = argument_table(request.arguments)
    context["request"] = {
        k: escape_wiki(v) if isinstance(v, str) else v for k, v in context["request"].items()
    }
    context["request"]["digest"] = request.arguments_digest
    context["tool"] = escape_wiki(request.tool_name)
    return context


def _escape_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _escape_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_tree(v) for v in value]
    if isinstance(value, str):
        return escape_wiki(value)
    return value


def build_description(request: ApprovalRequest, template: str | None) -> str:
    """The configured template (escaped context) or the built-in text, within Jira's size limit."""
    if template is None:
        text = default_description(request)
        if len(text) > MAX_DESCRIPTION:
            text = default_description(request, limit=200)
    else:
        text = render(template, description_context(request))
    if request.arguments_digest not in text:
        # the digest must always be visible next to what is approved
        text += f"\n\n*SHA-256 of the arguments:* {{{{{request.arguments_digest}}}}}"
    return text[:MAX_DESCRIPTION]


def build_summary(request: ApprovalRequest, template: str) -> str:
    """Single line, at most 255 characters (Jira refuses longer or multi-line summaries), with
    control, bidi and zero-width characters shown as escapes (the summary is not wiki markup)."""
    text = one_line(render(template, ticket_context(request)))
    if len(text) > MAX_SUMMARY:
        text = text[: MAX_SUMMARY - 1] + "…"
    return text or f"Approval request {request.id}"


def report_marker(report_id: str) -> str:
    """The marker as it appears in the comment source (escaped like any other text)."""
    return f"{REPORT_MARKER}{escape_wiki(report_id)}"


def report_body(text: str, report_id: str) -> str:
    """Outcome text (escaped: tool results are untrusted) plus the marker a retry looks for."""
    body = "\n".join(escape_wiki(line) for line in text.splitlines()) or "(no text)"
    return f"{body[:MAX_DESCRIPTION]}\n\n{{color:#97a0af}}??{report_marker(report_id)}??{{color}}"


def has_marker(body: Any, report_id: str) -> bool:
    """True when a comment body carries this report's marker (word-bounded: ids are not prefixes)."""
    if not isinstance(body, str):
        return False
    return re.search(re.escape(report_marker(report_id)) + r"(?![\w\\])", body) is not None
