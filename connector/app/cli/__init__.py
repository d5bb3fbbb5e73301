"""``approval-connector``: every user error prints one clear line and exits non-zero.

One module per job: ``desk`` (approve, reject, review), ``inspection`` (requests list / show),
``jobs`` (poll, serve), ``check`` (check-config), ``audit``, ``webhooks``, ``demo``; ``output``
prints requests and audit rows, ``session`` holds the one Connector a command uses. This module
is the command table and the entry point that turns errors into exit codes."""

from __future__ import annotations

import io
import logging
import sys

import click
import typer

from connector.app.cli.audit import audit_export, audit_verify
from connector.app.cli.check import check_config
from connector.app.cli.conversations import conversations_app
from connector.app.cli.demo import demo_command
from connector.app.cli.desk import approve, decide, reject, review
from connector.app.cli.inspection import list_requests, show_request
from connector.app.cli.interrupts import Interrupted
from connector.app.cli.jobs import poll, serve
from connector.app.cli.mcp_proxy import mcp_proxy
from connector.app.cli.output import err
from connector.app.cli.session import STATE, close
from connector.app.cli.webhooks import webhooks_register
from connector.core.errors import AdapterError, ConnectorError, UserError

__all__ = ["app", "decide", "main"]

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

app.command("approve")(approve)
app.command("reject")(reject)
app.command("review")(review)
requests_app.command("list")(list_requests)
requests_app.command("show")(show_request)
app.command("poll")(poll)
app.command("check-config")(check_config)
audit_app.command("verify")(audit_verify)
audit_app.command("export")(audit_export)
app.command("serve")(serve)
webhooks_app.command("register")(webhooks_register)
app.command("demo")(demo_command)
app.command("mcp-proxy")(mcp_proxy)


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


def main(argv: list[str] | None = None) -> None:
    try:
        code = app(args=argv, prog_name="approval-connector", standalone_mode=False)
    except Interrupted as exc:
        err.print(str(exc))
        code = 130
    except (click.exceptions.Abort, typer.Abort):
        err.print("aborted")
        code = 130
    except (click.ClickException, typer.TyperException) as exc:
        code = getattr(exc, "exit_code", 2)
        shown = io.StringIO()  # usage errors: click's message and usage hint, which echo the input
        exc.show(file=shown)
        err.print(shown.getvalue().rstrip("\n"))
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
        err.print("interrupted")
        code = 130
    finally:
        close()
    sys.exit(code if isinstance(code, int) else 0)
