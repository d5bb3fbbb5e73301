"""``approval-connector``: every user error prints one clear line and exits non-zero."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
import typer
from rich.console import Console
from rich.table import Table

from connector.app.cli_conversations import conversations_app
from connector.app.runtime import Connector
from connector.core.errors import AdapterError, ConnectorError, UserError
from connector.core.models import ApprovalRequest, RequestState, Verdict

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Human approval for AutoGen tool calls, decided in Jira, ServiceNow or the local desk.",
    pretty_exceptions_enable=False,
)
requests_app = typer.Typer(no_args_is_help=True, help="Inspect stored approval requests.")
audit_app = typer.Typer(no_args_is_help=True, help="Verify or export the hash-chained audit trail.")
webhooks_app = typer.Typer(no_args_is_help=True, help="Set up ticket webhooks.")
app.add_typer(requests_app, name="requests")
app.add_typer(audit_app, name="audit")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(conversations_app, name="conversations")

# markup off: arguments, ticket text and error messages are written by models and users, and a
# stray "[/b]" in them must print as is, not be read as rich markup (or crash the command)
out = Console(highlight=False, markup=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


class _State:
    config: str | None = None
    connector: Connector | None = None


STATE = _State()


@app.callback()
def _options(
    config: str | None = typer.Option(
        None,
        "--config",
        "-c",
        help="Config file (default: $APPROVAL_CONNECTOR_CONFIG, then config/connector.yaml, "
        "then built-in defaults).",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every event."),
) -> None:
    STATE.config = config
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:  # AutoGen warns about token counting on every tool message
        logging.getLogger("autogen_core").setLevel(logging.ERROR)


def connector() -> Connector:
    if STATE.connector is None:
        if STATE.config is not None and not Path(STATE.config).exists():
            raise UserError(f"config file not found: {STATE.config}")
        STATE.connector = Connector.from_config(STATE.config)
    return STATE.connector


def default_actor() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "reviewer"


# ================================================================================= decisions ====
def parse_edit(text: str, original: dict[str, Any]) -> dict[str, Any]:
    """``--edit`` takes a JSON object; its keys replace the proposed arguments' values."""
    try:
        changes = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"--edit: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(changes, dict):
        raise UserError("--edit: give a JSON object of argument names to new values")
    return {**original, **changes}


def desk_for(conn: Connector, request: ApprovalRequest) -> Any:
    adapter = conn.adapters.get(request.system)
    if adapter is None or not hasattr(adapter, "decide"):
        kind = type(adapter).__name__ if adapter else "an unconfigured system"
        raise UserError(
            f"request {request.id[:12]} is decided in {request.system} ({kind}), not on the local desk"
        )
    return adapter


async def decide(
    conn: Connector,
    request: ApprovalRequest,
    verdict: Verdict,
    actor: str,
    reason: str = "",
    edited: dict[str, Any] | None = None,
) -> ApprovalRequest:
    """Decide on the local desk as a human would, then let the service read it back and act."""
    if request.state is not RequestState.TICKETED or request.ticket is None:
        raise UserError(
            f"request {request.id[:12]} is {request.state.value}; only pending requests can be decided"
        )
    if edited is not None:
        conn.registry.require(request.tool_name).validate(edited)
    desk = desk_for(conn, request)
    desk.decide(request.ticket.key, verdict, actor, reason, edited)
    after = await conn.service.refresh(request.id)
    await conn.process_outbox()
    return conn.store.get(after.id)


def show_outcome(request: ApprovalRequest) -> None:
    out.print(f"{request.ticket.key if request.ticket else request.id[:12]}: {request.outcome().message()}")


@app.command()
def approve(
    request_id: str = typer.Argument(..., help="Request id (or unique prefix) or ticket key."),
    as_: str = typer.Option(None, "--as", help="Who approves (default: your login name)."),
    edit: str | None = typer.Option(None, "--edit", help="JSON object of argument changes to approve."),
) -> None:
    """Approve a pending request on the local desk; the call runs here, once."""
    conn = connector()
    request = conn.store.resolve(request_id)
    edited = parse_edit(edit, request.arguments) if edit is not None else None
    after = asyncio.run(decide(conn, request, Verdict.APPROVED, as_ or default_actor(), "", edited))
    show_outcome(after)
    if after.state is RequestState.TICKETED:
        raise typer.Exit(1)


@app.command()
def reject(
    request_id: str = typer.Argument(..., help="Request id (or unique prefix) or ticket key."),
    reason: str = typer.Option(..., "--reason", "-r", help="Why (the agent hears it)."),
    as_: str = typer.Option(None, "--as", help="Who rejects (default: your login name)."),
) -> None:
    """Reject a pending request on the local desk; nothing runs."""
    if not reason.strip():
        raise UserError("--reason must not be empty")
    conn = connector()
    request = conn.store.resolve(request_id)
    after = asyncio.run(decide(conn, request, Verdict.REJECTED, as_ or default_actor(), reason))
    show_outcome(after)


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
        out.print(f"  deadline   {request.deadline:%Y-%m-%d %H:%M:%S UTC}")
    out.print(f"  digest     {request.arguments_digest}")
    table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
    table.add_column("argument")
    table.add_column("proposed value", overflow="fold")
    if request.approved_arguments is not None:
        table.add_column("approved value", overflow="fold")
    names = sorted(set(request.arguments) | set(request.approved_arguments or {}))
    for name in names:
        row = [name, _text(request.arguments.get(name))]
        if request.approved_arguments is not None:
            row.append(_text(request.approved_arguments.get(name)))
        table.add_row(*row)
    out.print(table)
    if request.state.terminal or request.approver:
        out.print(f"  outcome    {request.outcome().message()}")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def prompt_edit(conn: Connector, request: ApprovalRequest) -> dict[str, Any] | None:
    """Ask for each argument's new value (Enter keeps it); None if the result is invalid."""
    out.print("Edit the arguments: press Enter to keep a value; non-text values as JSON.")
    edited: dict[str, Any] = {}
    fields = list(conn.registry.require(request.tool_name).args_model.model_fields)
    order = [f for f in fields if f in request.arguments] + [a for a in request.arguments if a not in fields]
    for name in order:
        value = request.arguments[name]
        current = _text(value)
        answer = click.prompt(f"  {name}", default=current, show_default=len(current) < 60)
        if isinstance(value, str):
            edited[name] = answer
        else:
            try:
                edited[name] = json.loads(answer)
            except json.JSONDecodeError:
                err.print(f"{name}: not valid JSON; edit cancelled")
                return None
    try:
        conn.registry.require(request.tool_name).validate(edited)
    except UserError as exc:
        err.print(f"edit refused: {exc}")
        return None
    return edited


async def review_one(conn: Connector, request: ApprovalRequest, actor: str) -> str:
    """Show one request and take a decision: 'approved', 'rejected', 'skipped' or 'quit'."""
    print_request(request)
    while True:
        choice = click.prompt(
            "[a]pprove, [r]eject, [e]dit and approve, [s]kip, [q]uit",
            type=click.Choice(["a", "r", "e", "s", "q"]),
            show_choices=False,
        )
        if choice == "s":
            return "skipped"
        if choice == "q":
            return "quit"
        if choice == "a":
            after = await decide(conn, request, Verdict.APPROVED, actor)
        elif choice == "r":
            reason = click.prompt("Reason (the agent hears it)")
            after = await decide(conn, request, Verdict.REJECTED, actor, reason)
        else:
            edited = prompt_edit(conn, request)
            if edited is None:
                continue
            after = await decide(conn, request, Verdict.APPROVED, actor, "", edited)
        show_outcome(after)
        return "approved" if choice in ("a", "e") else "rejected"


def desk_pending(conn: Connector) -> list[ApprovalRequest]:
    desks = {name for name, adapter in conn.adapters.items() if hasattr(adapter, "decide")}
    return [r for r in conn.store.list([RequestState.TICKETED]) if r.system in desks]


@app.command()
def review(as_: str = typer.Option(None, "--as", help="Who decides (default: your login name).")) -> None:
    """Interactive loop over requests waiting on the local desk."""
    conn = connector()
    actor = as_ or default_actor()

    async def loop() -> None:
        seen: set[str] = set()
        while True:
            pending = [r for r in desk_pending(conn) if r.id not in seen]
            if not pending:
                out.print("No requests waiting on the local desk.")
                return
            out.print(f"\n{len(pending)} waiting. Reviewing as {actor}.\n")
            answer = await review_one(conn, pending[0], actor)
            seen.add(pending[0].id)
            if answer == "quit":
                return

    asyncio.run(loop())


# ================================================================================= inspection ====
@requests_app.command("list")
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
    table = Table(box=None, padding=(0, 2), header_style="bold")
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


@requests_app.command("show")
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


@app.command()
def poll(
    once: bool = typer.Option(False, "--once", help="Run one cycle of every job and exit."),
) -> None:
    """Poll every system for decisions, run approved calls, expire, deliver reports."""
    conn = connector()
    if once:
        counts = asyncio.run(conn.run_all_jobs_once())
        out.print(", ".join(f"{k}: {v}" for k, v in counts.items()))
        return
    from connector.app.scheduler import build_scheduler

    async def forever() -> None:
        scheduler = build_scheduler(conn)
        scheduler.start()
        out.print("Polling; Ctrl-C stops.")
        try:
            await asyncio.Event().wait()
        finally:
            scheduler.shutdown(wait=False)

    try:
        asyncio.run(forever())
    except KeyboardInterrupt:
        out.print("stopped")


@app.command("check-config")
def check_config(
    live: bool = typer.Option(False, "--live", help="Also check each system against the live instance."),
) -> None:
    """Validate the configuration (offline, or with --live against Jira / ServiceNow)."""
    conn = connector()
    results = []
    for name in conn.registry.names():
        try:
            conn.registry.require(name)
            results.append(("tools", name, True, "importable", False))
        except UserError as exc:
            results.append(("tools", name, False, str(exc), False))
    for route in conn.config.routes:
        for tool in route.tools:
            if tool not in conn.registry.names():
                results.append(
                    (
                        route.name,
                        f"tool {tool}",
                        False,
                        "not in tools: (register it in code, or add tools.<name>.import)",
                        True,
                    )
                )
    for name, adapter in conn.adapters.items():
        try:
            checks = adapter.check(live)
        except (AdapterError, ConnectorError) as exc:
            results.append((name, "connection", False, str(exc), False))
            continue
        results.extend((c.system, c.item, c.ok, c.detail, c.warning) for c in checks)
    table = Table(box=None, padding=(0, 2), header_style="bold")
    for col in ("", "system / route", "item", "detail"):
        table.add_column(col, overflow="fold")
    failed = 0
    for system, item, ok, detail, warning in results:
        mark = "ok" if ok else ("warn" if warning else "FAIL")
        failed += not ok and not warning
        table.add_row(mark, system, item, detail)
    out.print(table)
    source = getattr(conn.config, "_source", "")
    if failed:
        err.print(f"{failed} problem(s) in {source}")
        raise typer.Exit(1)
    out.print(f"{source}: configuration OK" + ("" if live else " (offline; --live checks the systems)"))


# ====================================================================================== audit ====
@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain; exits 1 and names the rows if anything was altered or removed."""
    conn = connector()
    problems = conn.store.audit.verify(conn.store.engine)
    if problems:
        for problem in problems:
            err.print(f"audit: {problem}")
        raise typer.Exit(1)
    out.print("audit trail intact")


@audit_app.command("export")
def audit_export(
    output: Path | None = typer.Option(None, "--output", "-o", help="File to write (default: stdout)."),
    request_id: str | None = typer.Option(None, "--request", help="Only this request."),
) -> None:
    """Write the audit trail as JSON lines."""
    conn = connector()
    rid = conn.store.resolve(request_id).id if request_id else None
    if output is None:
        conn.store.audit.export(conn.store.engine, sys.stdout, rid)
        return
    try:
        with output.open("w", encoding="utf-8") as handle:
            count = conn.store.audit.export(conn.store.engine, handle, rid)
    except OSError as exc:
        raise UserError(f"--output: cannot write {output}: {exc.strerror}") from None
    err.print(f"{count} audit rows written to {output}")


# ===================================================================================== service ====
@app.command()
def serve(
    host: str | None = typer.Option(None, "--host", help="Listen address (default: server.host)."),
    port: int | None = typer.Option(None, "--port", help="Listen port (default: server.port)."),
) -> None:
    """Receive ticket webhooks and run the scheduler (poll, expiry, outbox, recovery) until stopped."""
    from connector.app.server import serve as run_server

    logging.getLogger("approval_connector").setLevel(logging.INFO)
    conn = connector()
    run_server(conn, host or conn.config.server.host, port if port is not None else conn.config.server.port)


def _webhook_url(conn: Connector, public_url: str | None, system: str) -> str:
    base = (public_url or conn.config.server.public_url).rstrip("/")
    if not base:
        raise UserError("no public URL: set server.public_url in the config or pass --public-url")
    if not base.startswith(("https://", "http://")):
        raise UserError(f"public URL {base!r} must start with https:// (or http:// for tests)")
    return f"{base}/webhooks/{system}"


@webhooks_app.command("register")
def webhooks_register(
    apply: bool = typer.Option(False, "--apply", help="Create the webhooks through the APIs where possible."),
    public_url: str | None = typer.Option(None, "--public-url", help="Override server.public_url."),
    system: str | None = typer.Option(None, "--system", help="Only this system."),
) -> None:
    """Print (or with --apply, create) each system's webhook set-up."""
    conn = connector()
    names = [system] if system else list(conn.adapters)
    for name in names:
        adapter = conn.adapters.get(name)
        if adapter is None:
            raise UserError(f"--system: no system named {name!r}")
        url = _webhook_url(conn, public_url, name)
        out.rule(name)
        if apply:
            try:
                out.print(adapter.register_webhook(url))
                continue
            except UserError as exc:
                out.print(f"cannot be created through the API ({exc}); set it up by hand:")
        out.print(adapter.webhook_setup(url))


# ======================================================================================= demo ====
@app.command()
def demo(
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


# ================================================================================== entry point ===
def main(argv: list[str] | None = None) -> None:
    try:
        code = app(args=argv, prog_name="approval-connector", standalone_mode=False)
    except (click.exceptions.Abort, typer.Abort):
        err.print("aborted")
        code = 130
    except (click.ClickException, typer.TyperException) as exc:
        exc.show()  # usage errors: typer's own click prints the message and a usage hint
        code = getattr(exc, "exit_code", 2)
    except UserError as exc:
        err.print(f"error: {exc}")
        code = 2
    except AdapterError as exc:
        err.print(f"error: {exc}")
        code = 3
    except ConnectorError as exc:
        err.print(f"error: {exc}")
        code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        if STATE.connector is not None:
            STATE.connector.close()
            STATE.connector = None
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
