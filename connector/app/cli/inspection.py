"""``requests list`` and ``requests show``: what is stored, for humans. The list is one page read
in SQL (newest first, filtered there), so it costs the same at a million rows as at ten."""

from __future__ import annotations

import math
from datetime import timedelta

import click

from connector.app.cli.options import command
from connector.app.cli.output import TerminalTable, out, print_audit, print_request
from connector.app.cli.session import connector
from connector.core.errors import UserError
from connector.core.models import RequestState

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


MAX_ROWS = 2**62  # what the database's integer takes
MAX_AGE_SECONDS = 100 * 365 * 86400  # older than any store; larger would overflow the clock


def duration(option: str, text: str | None) -> timedelta | None:
    """``30m``, ``2h``, ``7d``, ``1w`` (or plain seconds) as a timedelta; one line if it is not."""
    if text is None:
        return None
    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in UNITS else "s"
    number = value[:-1] if value[-1:] in UNITS else value
    try:
        amount = float(number)
    except ValueError:
        raise UserError(f"{option}: {text!r} is not a duration (e.g. 30m, 2h, 7d)") from None
    if not math.isfinite(amount):
        raise UserError(f"{option}: {text!r} is not a duration (e.g. 30m, 2h, 7d)")
    if amount < 0:
        raise UserError(f"{option}: {text!r} must not be negative")
    seconds = amount * UNITS[unit]
    if seconds > MAX_AGE_SECONDS:
        raise UserError(f"{option}: {text!r} is longer than 100 years")
    return timedelta(seconds=seconds)


def parse_state(text: str) -> RequestState:
    try:
        return RequestState(text.strip().upper())
    except ValueError:
        valid = ", ".join(s.value for s in RequestState)
        raise UserError(f"--state: unknown state {text!r} (one of {valid})") from None


@command("list")
@click.option("--state", "states", multiple=True, metavar="STATE", help="Only this state (repeatable).")
@click.option("--route", help="Only this route.")
@click.option("--system", help="Only this ticketing system (its name under systems:).")
@click.option("--older-than", metavar="AGE", help="Only requests created at least AGE ago (30m, 2h, 7d).")
@click.option("--newer-than", metavar="AGE", help="Only requests created less than AGE ago.")
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(1, MAX_ROWS), help="At most this many."
)
@click.option("--offset", default=0, type=click.IntRange(0, MAX_ROWS), help="Skip this many (the next page).")
def list_requests(
    states: tuple[str, ...],
    route: str | None,
    system: str | None,
    older_than: str | None,
    newer_than: str | None,
    limit: int,
    offset: int,
) -> None:
    """Stored requests, newest first, one page at a time."""
    from connector.core.models import utcnow

    chosen = [parse_state(s) for s in states] or None
    now = utcnow()
    older, newer = duration("--older-than", older_than), duration("--newer-than", newer_than)
    conn = connector()
    rows = conn.store.page(
        states=chosen,
        route=route,
        system=system,
        since=now - newer if newer is not None else None,
        before=now - older if older is not None else None,
        limit=limit,
        offset=offset,
    )
    if not rows:
        out.print("No requests." if offset == 0 else f"No requests past the first {offset}.")
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
            r.approver_name or r.approver or "",
        )
    out.print(table)
    if len(rows) == limit:
        out.print(f"(more may follow: --offset {offset + limit})")


@command("show")
@click.argument("request_id", metavar="ID")
def show_request(request_id: str) -> None:
    """One request (ID: request id, unique prefix or ticket key): the call, its ticket, its
    outcome, pending deliveries and audit trail."""
    conn = connector()
    request = conn.store.resolve(request_id)
    print_request(request)
    backlog = [i for i in conn.store.outbox_for(request.id) if i["delivered_at"] is None]
    for item in backlog:
        out.print(
            f"  pending    {item['kind']} delivery, {item['attempts']} attempts: {item['last_error'] or ''}"
        )
    print_audit(conn, request.id)
