"""Deciding on the local desk from the terminal: ``approve``, ``reject`` and the ``review`` loop.
The CLI acts as the human on the desk's ticket; the service then reads that decision back like
any other system's, and an approved call runs here, once."""

from __future__ import annotations

from typing import Any, Protocol, cast

import click

from connector.app.cli import codes
from connector.app.cli.edits import edit_from_option
from connector.app.cli.interrupts import Interrupted, finishing, run_interruptible
from connector.app.cli.options import command
from connector.app.cli.output import err, out, print_request, show_outcome
from connector.app.cli.prompts import ask_decision, edit_arguments
from connector.app.cli.session import connector, default_actor
from connector.app.runtime import Connector
from connector.core.errors import UserError
from connector.core.models import ApprovalRequest, RequestState, Verdict


class LocalDesk(Protocol):
    """What an adapter declaring ``decides_locally`` offers: a human's decision, taken here."""

    def decide(
        self,
        key: str,
        verdict: Verdict,
        actor: str,
        reason: str = "",
        edited_arguments: dict[str, Any] | None = None,
    ) -> None: ...


def desk_for(conn: Connector, request: ApprovalRequest) -> LocalDesk:
    """The desk a request waits on; a clear error when it waits in a system decided elsewhere."""
    adapter = conn.adapters.get(request.system)
    if adapter is None or not adapter.decides_locally:
        kind = type(adapter).__name__ if adapter else "an unconfigured system"
        raise UserError(
            f"request {request.id[:12]} is decided in {request.system} ({kind}), not on the local desk"
        )
    return cast(LocalDesk, adapter)


def decidable(conn: Connector, request: ApprovalRequest) -> LocalDesk:
    """The desk on which a pending request can be decided; UserError if it is not pending or not
    on a desk decided here."""
    if request.state is not RequestState.TICKETED or request.ticket is None:
        raise UserError(
            f"request {request.id[:12]} is {request.state.value}; only pending requests can be decided"
        )
    return desk_for(conn, request)


async def decide(
    conn: Connector,
    request: ApprovalRequest,
    verdict: Verdict,
    actor: str,
    reason: str = "",
    edited: dict[str, Any] | None = None,
) -> ApprovalRequest:
    """Decide on the local desk as a human would, then let the service read it back and act."""
    desk = decidable(conn, request)
    assert request.ticket is not None
    key = request.ticket.key
    with finishing(f"the decision on {key}") as interrupted:
        desk.decide(key, verdict, actor, reason, edited)
        after = await conn.service.refresh(request.id)
        await conn.process_outbox()
        after = conn.store.get(after.id)
    if interrupted():
        raise Interrupted(f"interrupted after the decision on {key}: {after.outcome().message()}")
    return after


def refusal_of(conn: Connector, request: ApprovalRequest) -> str | None:
    """Why the latest decision on a still-waiting request did not count (its audit row), if so."""
    for row in reversed(list(conn.store.audit.rows(conn.store.engine, request.id))):
        if row["event"] == "decision_refused":
            return str(row["details"].get("reason") or "the decision did not count")
        if row["event"] in ("ticketed", "decided"):
            return None
    return None


def report(conn: Connector, after: ApprovalRequest, rejection_ok: bool = False) -> int:
    """Print where a decided request ended (the refusal itself when the decision did not count)
    and return its exit code."""
    refusal = refusal_of(conn, after) if after.state is RequestState.TICKETED else None
    if refusal:
        key = after.ticket.key if after.ticket else after.id[:12]
        err.print(f"{key}: refused: {refusal}; nothing ran and the request still waits")
    else:
        show_outcome(after)
    return codes.for_request(after, refused=refusal is not None, rejection_ok=rejection_ok)


REQUEST_ID = click.argument("request_id", metavar="ID")


@command("approve")
@REQUEST_ID
@click.option("--as", "as_", metavar="NAME", help="Who approves (default: your login name).")
@click.option("--edit", metavar="JSON", help="JSON object of argument changes to approve.")
def approve(request_id: str, as_: str | None, edit: str | None) -> None:
    """Approve a pending request (ID: request id, unique prefix or ticket key) on the local desk;
    the call runs here, once. Exits 0 only if it ran (see the exit codes in the README)."""
    conn = connector()
    request = conn.store.resolve(request_id)
    decidable(conn, request)
    edited = None
    if edit is not None:
        edited = edit_from_option(conn.registry.require(request.tool_name), request.arguments, edit)
    after = run_interruptible(decide(conn, request, Verdict.APPROVED, as_ or default_actor(), "", edited))
    codes.leave(report(conn, after))


@command("reject")
@REQUEST_ID
@click.option("--reason", "-r", required=True, help="Why (the agent hears it).")
@click.option("--as", "as_", metavar="NAME", help="Who rejects (default: your login name).")
def reject(request_id: str, reason: str, as_: str | None) -> None:
    """Reject a pending request on the local desk; nothing runs. Exits 0 when the rejection was
    recorded."""
    if not reason.strip():
        raise UserError("--reason must not be empty")
    conn = connector()
    request = conn.store.resolve(request_id)
    after = run_interruptible(decide(conn, request, Verdict.REJECTED, as_ or default_actor(), reason))
    codes.leave(report(conn, after, rejection_ok=True))


async def review_one(conn: Connector, request: ApprovalRequest, actor: str) -> str:
    """Show one request and take a decision: 'approved', 'rejected', 'skipped' or 'quit'."""
    print_request(request)
    answer = ask_decision(
        request.ticket.key if request.ticket else request.id[:12],
        "aresq",
        edit=lambda: edit_arguments(conn.registry.require(request.tool_name), request.arguments),
    )
    if answer.key == "s":
        return "skipped"
    if answer.key == "q":
        return "quit"
    verdict = Verdict.REJECTED if answer.key == "r" else Verdict.APPROVED
    after = await decide(conn, request, verdict, actor, answer.reason, answer.edited)
    report(conn, after)
    return "rejected" if verdict is Verdict.REJECTED else "approved"


def desk_pending(conn: Connector, seen: set[str]) -> tuple[ApprovalRequest | None, int]:
    """The oldest request waiting on a local desk that this review has not shown yet, and how
    many are left to review (counted by index: a long queue is not loaded to show one)."""
    desks = sorted(name for name, adapter in conn.adapters.items() if adapter.decides_locally)
    total = sum(w.count for desk in desks for w in conn.store.waiting_routes(desk).values())
    waiting = RequestState.TICKETED
    found = [r for desk in desks for r in conn.store.list([waiting], desk, len(seen) + 1) if r.id not in seen]
    oldest = min(found, key=lambda r: (r.created_at, r.id), default=None)
    skipped = sum(1 for request_id in seen if conn.store.get(request_id).state is waiting)
    return oldest, total - skipped


@command("review")
@click.option("--as", "as_", metavar="NAME", help="Who decides (default: your login name).")
def review(as_: str | None) -> None:
    """Interactive loop over requests waiting on the local desk."""
    conn = connector()
    actor = as_ or default_actor()

    async def loop() -> None:
        seen: set[str] = set()
        while True:
            request, left = desk_pending(conn, seen)
            if request is None:
                out.print("No requests waiting on the local desk.")
                return
            out.print(f"\n{left} waiting. Reviewing as {actor}.\n")
            answer = await review_one(conn, request, actor)
            seen.add(request.id)
            if answer == "quit":
                return

    run_interruptible(loop())
