"""``requests resolve``: a human settles an IN_DOUBT request after checking the target system
(did the e-mail go out? is the change in place?). Exactly one finding: ``--ran``,
``--did-not-run`` (with ``--rerun``: run it again here, once), or ``--failed REASON``; who checked
is required. The service audits it and the ticket is told."""

from __future__ import annotations

import asyncio

import click

from connector.app.cli import codes
from connector.app.cli.options import command
from connector.app.cli.output import show_outcome
from connector.app.cli.session import connector
from connector.core.errors import UserError


@command("resolve")
@click.argument("request_id", metavar="ID")
@click.option("--ran", is_flag=True, help="It did run (you checked the target system).")
@click.option("--result", metavar="TEXT", help="With --ran: what it returned or did, if known.")
@click.option("--did-not-run", "did_not_run", is_flag=True, help="It did not run (nothing happened).")
@click.option("--rerun", is_flag=True, help="With --did-not-run: run it again now, here, once.")
@click.option("--failed", metavar="REASON", help="It ran and failed, or cannot be done: why.")
@click.option("--as", "as_", metavar="NAME", required=True, help="Who checked (recorded in the audit trail).")
def resolve_request(
    request_id: str,
    ran: bool,
    result: str | None,
    did_not_run: bool,
    rerun: bool,
    failed: str | None,
    as_: str,
) -> None:
    """Record what became of an IN_DOUBT request (ID: request id, unique prefix or ticket key).
    Exits 0 if the call ran (--ran, or a --rerun that succeeded), 8 for --did-not-run, 4 for
    --failed or a rerun that failed."""
    chosen = [
        name
        for name, given in (("--ran", ran), ("--did-not-run", did_not_run), ("--failed", failed))
        if given is not None and given is not False
    ]
    if len(chosen) != 1:
        raise UserError("say what you found: exactly one of --ran, --did-not-run or --failed REASON")
    if result is not None and not ran:
        raise UserError("--result goes with --ran")
    if rerun and not did_not_run:
        raise UserError("--rerun goes with --did-not-run")
    if failed is not None and not failed.strip():
        raise UserError("--failed needs a reason")
    conn = connector()
    request = conn.store.resolve(request_id)
    outcome = "ran" if ran else "did-not-run" if did_not_run else "failed"
    text = (result if ran else failed if failed is not None else "") or ""

    async def settle() -> object:
        after = await conn.service.resolve(request.id, outcome, as_, text=text, rerun=rerun)
        await conn.process_outbox()  # the ticket hears it now (the scheduler retries if it cannot)
        return after

    asyncio.run(settle())
    after = conn.store.get(request.id)
    show_outcome(after)
    if outcome == "did-not-run" and not rerun:
        codes.leave(codes.NOT_RUN)
    codes.leave(codes.for_request(after))
