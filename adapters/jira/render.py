"""Ticket text in Jira wiki markup (REST v2). Everything a model wrote (arguments, rationale, tool
results) is escaped, so it shows as typed and cannot inject markup, macros, links or mentions."""

from __future__ import annotations

import re
from typing import Any

from connector.core.models import ApprovalRequest, Mode
from connector.core.templates import argument_rows, render, ticket_context
from connector.core.text import is_hidden, one_line, visible

MAX_DESCRIPTION = 32000  # Jira refuses text fields over 32767 characters
MAX_VALUE = 4000
MAX_SUMMARY = 255
# The comment property that marks an outcome comment with its report id: machine-readable (a
# retried delivery looks for it on the connector's own comments) and invisible to readers.
REPORT_PROPERTY = "approval-connector-report"
LEGACY_MARKER = "acr-report:"  # the visible marker of earlier versions, still recognised

# Markup wherever it stands: macros and {{monospace}}, links and [~mentions], table cells.
_ALWAYS = set("{}[]|")
# Text effects (*bold* _emphasis_ -strike- +underline+ ^sup^ ~sub~): Jira applies them only when
# the mark opens a word or closes one, so a mark between two letters or digits stays as typed.
_EFFECTS = set("*_-+^~")
# Block markup at the start of a line: headings, quotes, lists, rules.
_BLOCK_START = re.compile(r"^(?:h[1-6]\.|bq\.|[*#-]+(?=\s|$)|-{4,})")


def _effect_can_apply(prev: str, nxt: str) -> bool:
    opens = not prev.isalnum() and bool(nxt) and not nxt.isspace()
    closes = bool(prev) and not prev.isspace() and not nxt.isalnum()
    return opens or closes


def escape_wiki(text: Any) -> str:
    """Escape one piece of untrusted text for a single line (table cell or inline): only what
    wiki markup would read as markup, so ``approver-0001`` or ``snake_case`` stay as typed."""
    source = str(text)
    out: list[str] = []
    for index, char in enumerate(source):
        prev = source[index - 1] if index else ""
        nxt = source[index + 1] if index + 1 < len(source) else ""
        if char == "\\":
            out.append("&#92;")  # a backslash pair would be a forced line break
        elif char in _ALWAYS or (char in _EFFECTS and _effect_can_apply(prev, nxt)):
            out.append("\\" + char)
        elif char == "?" and "?" in (prev, nxt):
            out.append("\\?")  # ??citation??
        elif char == "!" and nxt and not nxt.isspace() and "!" in source[index + 1 :]:
            out.append("\\!")  # !image!
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
    escaped = "".join(out)
    block = _BLOCK_START.match(escaped)
    if block:  # the value may be placed at the start of a line: no heading, list or rule
        escaped = f"&#{ord(escaped[0])};" + escaped[1:]
    return escaped


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
        "A pre-approved standard change: it runs without a human decision (the call is within the "
        "conditions the organisation pre-approved); this issue is its record."
        if request.mode is Mode.STANDARD
        else "Approve or reject by transitioning this issue. Editing this text changes nothing: "
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


def report_properties(report_id: str) -> list[dict[str, Any]]:
    """The comment property that carries the report id (set with the comment, in the same call)."""
    return [{"key": REPORT_PROPERTY, "value": {"report": report_id}}]


def report_body(text: str) -> str:
    """Outcome text, escaped (tool results are untrusted), one wiki line per line of text."""
    body = "\n".join(escape_wiki(line) for line in text.splitlines()) or "(no text)"
    return body[:MAX_DESCRIPTION]


def carries_report(comment: Any, report_id: str) -> bool:
    """True when a comment (as read with ``expand=properties``) is this report's: its property,
    or the visible marker earlier versions wrote (word-bounded: ids are not prefixes)."""
    if not isinstance(comment, dict):
        return False
    for prop in comment.get("properties") or []:
        if isinstance(prop, dict) and prop.get("key") == REPORT_PROPERTY:
            value = prop.get("value")
            if isinstance(value, dict) and value.get("report") == report_id:
                return True
    body = comment.get("body")
    legacy = LEGACY_MARKER + re.sub(r"([*_?\-+^~{}\[\]|!#])", r"\\\1", report_id)
    return isinstance(body, str) and re.search(re.escape(legacy) + r"(?![\w\\])", body) is not None
