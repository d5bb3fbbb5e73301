"""``requests list`` and ``requests show``: what is stored, for humans."""

from __future__ import annotations

import typer

from connector.app.cli.output import TerminalTable, out, print_audit, print_request
from connector.app.cli.session import connector
from connector.core.errors import UserError
from connector.core.models import RequestState


def list_requests(
    state: str | None = typer.Option(None, "--state", help="Only this state (e.g. TICKETED)."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many (newest)."),
) -> None:
    """Stored requests, oldest first."""
    states = None
    if state is not None:
        try:
            states = [RequestState(state.upper())]
        except ValueError:
            valid = ", ".join(s.value for s in RequestState)
            raise UserError(f"--state: unknown state {state!r} (one of {valid})") from None
    rows = connector().store.list(states)[-limit:]
    if not rows:
        out.print("No requests.")
        return
    table = TerminalTable(box=None, padding=(0, 2), header_style="bold")
    for col in ("id", "created (UTC)", "tool", "route", "state", "ticket", "approver"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.id[:12],
            f"{r.created_at:%Y-%m-%d %H:%M}",
            r.tool_name,
            r.route,
            r.state.value,
            r.ticket.key if r.ticket else "",
            r.approver or "",
        )
    out.print(table)


def show_request(
    request_id: str = typer.Argument(..., help="Request id (or unique prefix) or ticket key."),
) -> None:
    """One request: the call, its ticket, its outcome, pending deliveries and audit trail."""
    conn = connector()
    request = conn.store.resolve(request_id)
    print_request(request)
    backlog = [i for i in conn.store.outbox_for(request.id) if i["delivered_at"] is None]
    for item in backlog:
        out.print(
            f"  pending    {item['kind']} delivery, {item['attempts']} attempts: {item['last_error'] or ''}"
        )
    print_audit(conn, request.id)
