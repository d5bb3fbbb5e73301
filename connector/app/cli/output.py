"""How requests, outcomes and audit rows look in the terminal. Everything printed passes through
``for_terminal``: arguments, ticket text, results and error messages are written by models and
other people, and a control character in them must show as an escape, not act on the terminal."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from connector.core.text import for_terminal

if TYPE_CHECKING:
    from connector.app.runtime import Connector
    from connector.core.models import ApprovalRequest


class TerminalConsole(Console):
    """A Console for untrusted text: every string it prints or rules is neutralised first."""

    def print(self, *objects: Any, **options: Any) -> None:
        super().print(*(for_terminal(o) if isinstance(o, str) else o for o in objects), **options)

    def rule(self, title: Any = "", **options: Any) -> None:
        super().rule(for_terminal(title) if isinstance(title, str) else title, **options)


class TerminalTable(Table):
    """A Table whose text cells are neutralised like everything else the console prints."""

    def add_row(self, *renderables: Any, **options: Any) -> None:
        super().add_row(*(for_terminal(r) if isinstance(r, str) else r for r in renderables), **options)


# markup off: arguments, ticket text and error messages are written by models and users, and a
# stray "[/b]" in them must print as is, not be read as rich markup (or crash the command)
out = TerminalConsole(
    highlight=False, markup=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160
)
err = TerminalConsole(stderr=True, highlight=False, markup=False, soft_wrap=True)


def show_outcome(request: ApprovalRequest) -> None:
    out.print(f"{request.ticket.key if request.ticket else request.id[:12]}: {request.outcome().message()}")


def print_request(request: ApprovalRequest) -> None:
    out.print(f"{request.tool_name}  request {request.id}")
    if request.ticket:
        out.print(
            f"  ticket     {request.ticket.key} on {request.ticket.system} {request.ticket.url}".rstrip()
        )
    out.print(f"  state      {request.state.value}    route {request.route} ({request.mode.value})")
    if request.agent or request.conversation_id:
        out.print(f"  agent      {request.agent}  conversation {request.conversation_id}".rstrip())
    if request.rationale:
        out.print(f"  rationale  {request.rationale}")
    if request.deadline:
        action = f"  (then: {request.on_deadline})" if request.on_deadline not in (None, "expire") else ""
        out.print(f"  deadline   {request.deadline:%Y-%m-%d %H:%M:%S UTC}{action}")
    if request.not_after:
        opens = f"{request.not_before:%Y-%m-%d %H:%M UTC}" if request.not_before else "now"
        out.print(f"  window     {opens} to {request.not_after:%Y-%m-%d %H:%M UTC}")
    out.print(f"  digest     {request.arguments_digest}")
    table = TerminalTable(show_header=True, header_style="bold", box=None, padding=(0, 2))
    table.add_column("argument")
    table.add_column("proposed value", overflow="fold")
    if request.approved_arguments is not None:
        table.add_column("approved value", overflow="fold")
    names = sorted(set(request.arguments) | set(request.approved_arguments or {}))
    for name in names:
        row = [name, value_text(request.arguments.get(name))]
        if request.approved_arguments is not None:
            row.append(value_text(request.approved_arguments.get(name)))
        table.add_row(*row)
    out.print(table)
    if request.state.terminal or request.approver:
        out.print(f"  outcome    {request.outcome().message()}")


def value_text(value: Any) -> str:
    """An argument value as the approver reads it: text as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _brief(details: dict[str, Any]) -> str:
    """A one-line summary of an audit row's details (full rows: ``audit export``)."""
    parts = []
    for key, value in details.items():
        if value in (None, "", {}, []) or key in ("arguments", "proposed", "approved"):
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        text = " ".join(text.split())
        if key.endswith("digest") and len(text) == 64:
            text = text[:12] + "…"
        parts.append(f"{key}={text[:60] + '…' if len(text) > 60 else text}")
    return " ".join(parts)


def print_audit(conn: Connector, request_id: str) -> None:
    out.print("audit trail:")
    for row in conn.store.audit.rows(conn.store.engine, request_id):
        at = row["at"][11:19]
        actor = row["actor"] or "-"
        out.print(f"  #{row['seq']:<4} {at}  {row['event']:<17} {actor:<22} {_brief(row['details'])}")
