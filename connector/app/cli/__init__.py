"""``approval-connector``: every user error prints one clear line and exits non-zero.

One module per job: ``desk`` (approve, reject, review), ``inspection`` (requests list / show),
``resolve`` (requests resolve), ``jobs`` (poll, serve), ``check`` (check-config), ``audit``,
``webhooks``, ``demo``, ``database`` (db upgrade); ``output`` prints, ``session`` holds the one
Connector a command uses, ``codes`` the exit codes. This module is the command table and the entry
point that turns errors into exit codes. It imports only click: a command's module (and the
runtime, SQLAlchemy, AutoGen, rich) is imported when that command runs, so ``--help`` and
``--version`` start fast."""

from __future__ import annotations

import importlib
import io
import sys
from typing import Any

import click

from connector.app.cli import codes
from connector.app.cli.options import common_options, config_option, verbose_option
from connector.app.cli.session import STATE, close, configure_logging

__all__ = ["app", "decide", "main"]

# name -> (module:function, one-line help shown by --help without importing the module)
Table = dict[str, tuple[str, str]]
COMMANDS: Table = {
    "approve": ("desk:approve", "Approve a pending request on the local desk; the call runs here, once."),
    "reject": ("desk:reject", "Reject a pending request on the local desk; nothing runs."),
    "review": ("desk:review", "Interactive loop over requests waiting on the local desk."),
    "poll": ("jobs:poll", "Poll every system for decisions, run approved calls, expire, deliver."),
    "serve": ("jobs:serve", "Receive ticket webhooks and run the scheduler until stopped."),
    "check-config": ("check:check_config", "Validate the configuration (offline, or --live)."),
    "demo": ("demo:demo_command", "The whole flow on embedded defaults, or a shipped --example."),
    "mcp-proxy": ("mcp_proxy:mcp_proxy", "Expose an MCP server's tools; gated calls become tickets."),
}
GROUPS: dict[str, tuple[str, Table]] = {
    "requests": (
        "Inspect stored approval requests; settle IN_DOUBT ones.",
        {
            "list": ("inspection:list_requests", "Stored requests, newest first, paged and filtered."),
            "show": ("inspection:show_request", "One request: call, ticket, outcome, audit trail."),
            "resolve": ("resolve:resolve_request", "Record what became of an IN_DOUBT request."),
        },
    ),
    "audit": (
        "Verify or export the hash-chained audit trail.",
        {
            "verify": ("audit:audit_verify", "Recompute the hash chain; exit 1 naming broken rows."),
            "export": ("audit:audit_export", "Write the audit trail as JSON lines."),
        },
    ),
    "webhooks": (
        "Set up ticket webhooks.",
        {"register": ("webhooks:webhooks_register", "Print (or --apply) each system's webhook set-up.")},
    ),
    "conversations": (
        "Conversations that wait on approvals.",
        {
            "list": ("conversations:list_conversations", "Registered conversations, most recent first."),
            "show": ("conversations:show_conversation", "One conversation: requests, questions, runs."),
            "ask": ("conversations:ask", "Ask the waiting agent a question on a local desk ticket."),
        },
    ),
    "db": (
        "The store's schema.",
        {"upgrade": ("database:db_upgrade", "Apply the schema migrations (Alembic) up to the newest.")},
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported only when one is run (or its own --help is asked)."""

    def __init__(
        self, *args: Any, table: Table, groups: dict[str, tuple[str, Table]] | None = None, **kw: Any
    ):
        super().__init__(*args, **kw)
        self.table = table
        self.groups = groups or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.table, *self.groups]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.groups:
            text, table = self.groups[name]
            return common_options(LazyGroup(name, table=table, help=text, no_args_is_help=True))
        if name not in self.table:
            return None
        module, _, attr = self.table[name][0].partition(":")
        command = getattr(importlib.import_module(f"connector.app.cli.{module}"), attr)
        return command if isinstance(command, click.Command) else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, text) for name, (_, text) in self.table.items()]
        rows += [(name, text) for name, (text, _) in self.groups.items()]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


def _show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from connector import __version__  # not importlib.metadata: that alone costs ~40 ms

    click.echo(f"approval-connector {__version__}")
    ctx.exit(0)


@click.group(
    cls=LazyGroup,
    table=COMMANDS,
    groups=GROUPS,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Human approval for AutoGen tool calls, decided in Jira, ServiceNow or the local desk.",
)
@config_option
@verbose_option
@click.option(
    "--version",
    "-V",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the version and exit.",
)
def app() -> None:
    configure_logging(False)


def __getattr__(name: str) -> Any:
    if name == "decide":  # the desk's decide(), imported lazily with the runtime it needs
        from connector.app.cli.desk import decide

        return decide
    raise AttributeError(name)


def _system_failure(exc: BaseException) -> bool:
    """The store cannot be reached: SQLAlchemy's connection errors, without importing SQLAlchemy."""
    return any(
        c.__module__.startswith("sqlalchemy") and c.__name__ in ("OperationalError", "InterfaceError")
        for c in type(exc).__mro__
    )


def _say(message: str) -> None:
    """One line on stderr, neutralised like everything the CLI prints (it may echo model-written
    or user-typed text); plain click, so a usage error starts no faster path than ``--help``."""
    from connector.core.text import for_terminal

    click.echo(for_terminal(message), err=True)


# click >= 8.2 raises this for a command group given no subcommand (its message is the help)
_NO_ARGS_IS_HELP: tuple[type[Exception], ...] = tuple(
    c for c in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if c is not None
)


def _usage_line(exc: click.ClickException) -> str:
    """Click's error as one line like every other: what is wrong, in which command, and where
    to look (its usual four lines, usage and hint first, would push the reason off a log line)."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return f"error: {message}"
    return f"error: {ctx.command_path}: {message} (see '{ctx.command_path} --help')"


def _failure(exc: Exception) -> int:
    """The exit code for an error a command raised, after saying it in one line; re-raises what
    is not ours to explain (a bug: its traceback is the useful output)."""
    from connector.app.cli.interrupts import Interrupted
    from connector.core.errors import AdapterError, ConnectorError, StoreUnavailable, UserError

    if isinstance(exc, Interrupted):
        _say(str(exc))
        return codes.INTERRUPTED
    if isinstance(exc, StoreUnavailable):
        _say(f"error: {exc}")
        return codes.SYSTEM
    if isinstance(exc, UserError):
        _say(f"error: {exc}")
        return codes.BAD_INPUT
    if isinstance(exc, AdapterError):
        _say(f"error: {exc}")
        return codes.SYSTEM
    if isinstance(exc, ConnectorError):
        _say(f"error: {exc}")
        return codes.CHECK_FAILED
    if _system_failure(exc):
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        _say(f"error: the store cannot be reached: {detail}")
        return codes.SYSTEM
    raise exc


def main(argv: list[str] | None = None) -> None:
    STATE.config, STATE.verbose = None, False  # each run reads its own options (tests run many)
    try:
        code = app.main(args=argv, prog_name="approval-connector", standalone_mode=False)
    except click.exceptions.Abort:
        _say("aborted")
        code = codes.INTERRUPTED
    except click.ClickException as exc:
        code = exc.exit_code
        if isinstance(exc, _NO_ARGS_IS_HELP):  # a group named alone: its help, as it was asked for
            shown = io.StringIO()
            exc.show(file=shown)
            _say(shown.getvalue().rstrip("\n"))
        else:
            _say(_usage_line(exc))
    except KeyboardInterrupt:
        _say("interrupted")
        code = codes.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - mapped to a code and one line, or re-raised
        code = _failure(exc)
    finally:
        close()
    sys.exit(code if isinstance(code, int) else 0)
