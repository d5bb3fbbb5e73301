"""``demo``: an agent drafts the refund e-mail, the gated call files a ticket, a human decides."""

from __future__ import annotations

import sys

import typer

from connector.app.cli.output import out
from connector.app.cli.session import STATE
from connector.core.errors import UserError


def demo_command(
    approve_: bool = typer.Option(False, "--approve", help="Approve without asking."),
    reject_: str | None = typer.Option(None, "--reject", metavar="REASON", help="Reject with this reason."),
    edit: str | None = typer.Option(
        None, "--edit", metavar="JSON", help="Approve with these argument changes."
    ),
    as_: str | None = typer.Option(
        None,
        "--as",
        help="Who decides (default: demo-approver; alice in Jira; change.manager in ServiceNow).",
    ),
    model: str = typer.Option("replay", "--model", help="'replay' (scripted, offline) or openai:<model>."),
    system: str = typer.Option("local", "--system", help="local, jira or servicenow (simulated)."),
) -> None:
    """An agent drafts the refund e-mail, the gated send_email files a ticket, a human decides."""
    from connector.demo import run_demo

    chosen = [x for x in (approve_, reject_ is not None, edit is not None) if x]
    if len(chosen) > 1:
        raise UserError("choose one of --approve, --reject REASON, --edit JSON")
    decision: tuple[str, str] | None = None
    if approve_:
        decision = ("approve", "")
    elif reject_ is not None:
        if not reject_.strip():
            raise UserError("--reject needs a reason")
        decision = ("reject", reject_)
    elif edit is not None:
        decision = ("edit", edit)
    elif not sys.stdin.isatty():
        raise UserError("no terminal to ask in: pass --approve, --reject REASON or --edit JSON")
    actor = as_ or {"jira": "alice", "servicenow": "change.manager"}.get(system, "demo-approver")
    run_demo(STATE.config, decision=decision, actor=actor, model=model, system=system, console=out)
