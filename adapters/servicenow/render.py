"""Record text built from model-written arguments. Anything a model wrote is neutralised before
it reaches the instance: ``[code]`` blocks (raw HTML in journals and some fields), ``javascript:``
values (evaluated by the platform in some places), C0 control characters (removed), C1 controls
and bidi / zero-width format characters (shown as escapes); and lengths are bounded."""

from __future__ import annotations

import re
from typing import Any

from connector.core.models import ApprovalRequest, Mode, OutcomeReport
from connector.core.templates import argument_rows, render, ticket_context
from connector.core.text import escape_hidden, one_line

from .settings import DEFAULT_SHORT_DESCRIPTION, TicketSettings, Transition

_CODE_TAG = re.compile(r"\[\s*(/?)\s*code\s*\]", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SCRIPT_PREFIX = re.compile(r"^\s*javascript\s*:", re.IGNORECASE)
MARKER_PREFIX = "approval-connector report:"
STANDARD_INTRO = (
    "A pre-approved standard change: an AI agent runs this tool without a human decision (the "
    "call is within the conditions the organisation pre-approved). This record is its record."
)

SHORT_LIMIT = 160
FIELD_LIMIT = 4000
ARG_LIMIT = 1500


def neutralise(text: Any, limit: int = FIELD_LIMIT) -> str:
    """Make text inert for ServiceNow: no [code] escape into HTML, no script-evaluated value."""
    out = escape_hidden(_CONTROL.sub("", str(text)), keep="\t\n\r")
    out = _CODE_TAG.sub(lambda m: f"({m.group(1)}code)", out)
    if _SCRIPT_PREFIX.match(out):
        out = "(js) " + out.lstrip()
    if len(out) > limit:
        out = out[: limit - 15] + " …[truncated]"
    return out


def single_line(text: str, limit: int = SHORT_LIMIT) -> str:
    """A one-line field (short_description): whitespace runs become one space."""
    return neutralise(one_line(text), limit)


def description(request: ApprovalRequest, intro: str = "") -> str:
    """What the approver must see: tool, every argument, rationale, request id and digest."""
    lines = []
    if intro.strip():
        lines += [neutralise(intro), ""]
    lines += [
        STANDARD_INTRO
        if request.mode is Mode.STANDARD
        else "An AI agent asks to run a tool. Nothing runs until this record is approved.",
        "",
        f"Tool: {neutralise(request.tool_name, 200)}",
        "Arguments:",
    ]
    rows = argument_rows(request.arguments)
    if not rows:
        lines.append("  (none)")
    for name, text in rows:
        shown = neutralise(text, ARG_LIMIT).replace("\n", "\n      ")
        lines.append(f"  - {neutralise(name, 200)}: {shown}")
    lines += [
        "",
        f"Rationale: {neutralise(request.rationale or '(none given)', 1000)}",
        f"Requested by: {neutralise(request.agent or request.requester or 'agent', 200)}",
        f"Request id: {request.id}",
        f"Arguments SHA-256: {request.arguments_digest}",
        "",
        "Editing this text changes nothing: what runs is what the digest covers.",
    ]
    return "\n".join(lines)[:FIELD_LIMIT]


def record_values(request: ApprovalRequest, ticket: TicketSettings) -> dict[str, str]:
    """The POST body for a new record (without the correlation field)."""
    context = ticket_context(request)
    values: dict[str, str] = {}
    for name, template in ticket.fields.items():
        if name == "description":
            continue
        values[name] = neutralise(render(template, context))
    values["short_description"] = single_line(
        render(ticket.fields.get("short_description", DEFAULT_SHORT_DESCRIPTION), context)
    )
    intro = render(ticket.fields["description"], context) if "description" in ticket.fields else ""
    values["description"] = description(request, intro)
    return values


def marker(report_id: str) -> str:
    """A marker that survives in the journal and is invisible where [code] renders HTML."""
    return f"[code]<!-- {MARKER_PREFIX}{report_id} -->[/code]"


def outcome_note(report: OutcomeReport) -> str:
    body = neutralise(report.text, FIELD_LIMIT - 200)
    lines = [f"[approval connector] {report.kind.value}: {body}", f"Request id: {report.request_id}"]
    if report.mentions:  # the Table API has no mention syntax: the people and groups by name
        lines.append("For: " + neutralise(", ".join(report.mentions), 1000))
    return "\n".join([*lines, marker(report.report_id)])


def transition_fields(transition: Transition, report: OutcomeReport) -> dict[str, str]:
    context = {"text": report.text, "kind": report.kind.value, "request_id": report.request_id}
    return {name: neutralise(render(tpl, context)) for name, tpl in transition.fields.items()}
