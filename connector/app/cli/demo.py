"""``demo``: an agent drafts the refund e-mail, the gated call files a ticket, a human decides.
Where the ticket lives is the ``--system``'s demo environment, found through its adapter package;
this module narrates, asks the human (or follows ``--approve`` / ``--reject`` / ``--edit``), and
runs the same steps whatever the system."""

from __future__ import annotations

import json
import sys
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from connector.app.cli import codes
from connector.app.cli.desk import refusal_of
from connector.app.cli.edits import changed, check_values, edit_from_option, parse_changes
from connector.app.cli.interrupts import Interrupted, finishing, run_interruptible
from connector.app.cli.options import command
from connector.app.cli.output import out, print_audit
from connector.app.cli.prompts import ask_decision, edit_arguments
from connector.app.cli.session import STATE
from connector.core.errors import UserError
from connector.core.models import ApprovalRequest, RequestState, Verdict

if TYPE_CHECKING:  # imported when the demo runs: they bring AutoGen's agents and the adapters
    from collections.abc import Callable

    from connector.demo import DemoRun
    from connector.demo.environment import DemoEnvironment


@dataclass(frozen=True)
class Plan:
    """What the human will do, from the options; ``verdict`` None: ask in the terminal."""

    verdict: Verdict | None = None
    reason: str = ""
    edit: str | None = None  # the --edit JSON, already known to parse


@command("demo")
@click.option("--approve", "approve_", is_flag=True, help="Approve without asking.")
@click.option("--reject", "reject_", metavar="REASON", help="Reject with this reason.")
@click.option("--edit", metavar="JSON", help="Approve with these argument changes.")
@click.option(
    "--as",
    "as_",
    metavar="NAME",
    help="Who decides (default: demo-approver; alice in Jira; change.manager in ServiceNow).",
)
@click.option("--model", default="replay", help="'replay' (scripted, offline) or openai:<model>.")
@click.option("--system", help="local (default), jira or servicenow (simulated).")
@click.option("--framework", default="autogen", help="The agent's framework: autogen or maf.")
@click.option("--mcp", is_flag=True, help="The agent pays through an MCP server's tool (AutoGen).")
@click.option("--example", metavar="NAME", help="Play a shipped example instead ('list' names them).")
def demo_command(
    approve_: bool,
    reject_: str | None,
    edit: str | None,
    as_: str | None,
    model: str,
    system: str | None,
    framework: str,
    mcp: bool,
    example: str | None,
) -> None:
    """An agent drafts the refund e-mail, the gated send_email files a ticket, a human decides.
    Exits 0 when the call ran (or the rejection was recorded); see the exit codes in the README."""
    from connector.demo.environment import find_demo

    if example is not None and example.strip().lower() == "list":
        from connector.app.cli.demo_examples import list_examples

        codes.leave(list_examples())
        return
    chosen = [x for x in (approve_, reject_ is not None, edit is not None) if x]
    if len(chosen) > 1:
        raise UserError("choose one of --approve, --reject REASON, --edit JSON")
    plan = Plan()
    if approve_:
        plan = Plan(Verdict.APPROVED)
    elif reject_ is not None:
        if not reject_.strip():
            raise UserError("--reject needs a reason")
        plan = Plan(Verdict.REJECTED, reason=reject_)
    elif edit is not None:
        parse_changes(edit)
        plan = Plan(Verdict.APPROVED, edit=edit)
    elif not sys.stdin.isatty():
        raise UserError("no terminal to ask in: pass --approve, --reject REASON or --edit JSON")
    if example is not None:
        from connector.app.cli.demo_examples import play_example

        codes.leave(play_example(example, system, plan, model, framework, mcp, as_))
        return
    make_run = demo_run(framework, mcp, model)
    with find_demo(system or "local")(STATE.config) as env:
        if plan.edit is not None and not edits_offered(env):
            raise UserError(
                f"--edit: {env.label} has no approve-with-edits (its route sets no "
                "decision.arguments_field); use --approve or --reject here"
            )
        actor = as_ or env.approver
        users = env.driver.users()
        if users is not None and actor not in users:  # before the agent runs: no ticket is left
            raise UserError(f"--as: {actor!r} is not a user of {env.label} (its users: {', '.join(users)})")
        codes.leave(run_interruptible(narrate(make_run(env), plan, actor)))


def edits_offered(env: DemoEnvironment, route: str | None = None) -> bool:
    """Whether the human can approve with edits here: the system must take edits on the route
    (the adapter says so) and the demo's driver must be able to make them."""
    conn = env.connector
    routes = [r for r in conn.config.routes if route is None or r.name == route]
    return env.driver.supports_edits and any(
        r.system in conn.adapters and conn.adapters[r.system].accepts_edits(r.name) for r in routes
    )


def demo_run(framework: str, mcp: bool, model: str) -> Callable[[DemoEnvironment], DemoRun]:
    """How the agent side is played: AutoGen, AutoGen with an MCP server's tool, or MAF."""
    if framework not in ("autogen", "maf"):
        raise UserError(f"--framework: {framework!r} is not autogen or maf")
    if framework == "maf":
        if mcp:
            raise UserError("--mcp shows an MCP server's tools in AutoGen; leave out --framework maf")
        if model != "replay":
            raise UserError("--framework maf scripts its model offline: leave out --model")
        from connector.demo.maf import MafDemoRun

        return MafDemoRun
    from connector.demo import DemoRun, model_client

    client = model_client(model)  # a bad --model is one line before any system is started
    if mcp:
        from connector.demo.mcp import McpDemoRun

        return lambda env: McpDemoRun(env, model)
    return lambda env: DemoRun(env, client)


async def narrate(run: DemoRun, plan: Plan, actor: str) -> int:
    """The demo's story; returns its exit code (0 when the call ran or the rejection was recorded)."""
    env = run.env
    await run.start()
    try:
        return await play(run, env, plan, actor)
    finally:
        await run.close()


async def play(run: DemoRun, env: DemoEnvironment, plan: Plan, actor: str) -> int:
    if plan.edit is not None:  # before the agent runs: no ticket is left behind for a misspelt key
        try:
            check_values(run.tool, parse_changes(plan.edit))
        except UserError as exc:
            raise UserError(f"--edit: {exc}; nothing was run") from None
    out.rule(f"1. {run.step}")
    out.print(f"task: {run.task}")
    lines, request = await run.propose()
    for line in lines:
        out.print(line)
    if request is None:
        raise UserError(f"the model did not call {run.tool.name}; nothing to approve")
    if request.state is not RequestState.TICKETED or request.ticket is None:
        out.print(f"request {request.id} is {request.state.value}: {request.outcome().message()}")
        return codes.for_request(request)
    ticket, driver = request.ticket, env.driver
    out.rule(f"2. Ticket {ticket.key} waits on {env.label}")
    out.print(driver.describe(ticket))
    out.rule("3. A human decides")
    verdict, reason, edited = human_choice(run, request, plan)
    with finishing(f"the decision on {ticket.key}") as interrupted:
        after = await run.human_decides(request, verdict, actor, reason, edited)
    if interrupted():
        raise Interrupted(f"interrupted after the decision on {ticket.key}: {after.outcome().message()}")
    refusal = refusal_of(env.connector, after) if after.state is RequestState.TICKETED else None
    if refusal:
        out.print(f"outcome: refused: {refusal}; nothing ran and {ticket.key} still waits")
    else:
        out.print(f"outcome: {after.outcome().message()}")
    effect = run.effect(after)
    if effect:
        out.print(effect)
    out.print(f"{driver.noun} {ticket.key} is now {driver.status(ticket)}; comments:")
    for text in driver.comments(ticket):
        out.print(textwrap.indent(text, "  "))
    out.rule("4. The agent is resumed with the outcome")
    out.print(f"agent: {await run.resume(after)}")
    out.rule("5. Audit trail of this request")
    print_audit(env.connector, request.id)
    problems = await env.connector.service.verify_audit()
    out.print("audit chain intact" if not problems else f"audit chain problems: {problems}")
    rejected = plan.verdict is Verdict.REJECTED or verdict is Verdict.REJECTED
    return codes.for_request(after, refused=refusal is not None, rejection_ok=rejected)


def human_choice(
    run: DemoRun, request: ApprovalRequest, plan: Plan
) -> tuple[Verdict, str, dict[str, Any] | None]:
    """The verdict, reason and edited arguments: from the options, or asked in the terminal."""
    if plan.verdict is None:
        keys = "are" if edits_offered(run.env, request.route) else "ar"
        assert request.ticket is not None
        answer = ask_decision(
            request.ticket.key, keys, edit=lambda: edit_arguments(run.tool, request.arguments)
        )
        verdict = Verdict.REJECTED if answer.key == "r" else Verdict.APPROVED
        return verdict, answer.reason, answer.edited
    if plan.edit is None:
        return plan.verdict, plan.reason, None
    try:
        edited = edit_from_option(run.tool, request.arguments, plan.edit)
    except UserError as exc:
        assert request.ticket is not None
        raise UserError(f"{exc}; {request.ticket.key} still waits on {run.env.label}") from None
    out.print(f"approving with edits: {json.dumps(changed(request.arguments, edited))}")
    return Verdict.APPROVED, "", edited
