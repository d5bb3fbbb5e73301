"""``check-config``: the configuration validated offline, or with ``--live`` against each system
(what is checked lives in ``connector.app.check``; this module prints it)."""

from __future__ import annotations

import click

from connector.app.check import run_checks
from connector.app.cli import codes
from connector.app.cli.options import command
from connector.app.cli.output import TerminalTable, err, out
from connector.app.cli.session import connector


@command("check-config")
@click.option("--live", is_flag=True, help="Also check each system against the live instance.")
def check_config(live: bool) -> None:
    """Validate the configuration (offline, or with --live against Jira / ServiceNow)."""
    conn = connector()
    rows = run_checks(conn, live)
    table = TerminalTable(box=None, padding=(0, 2), header_style="bold")
    for col in ("", "system / route", "item", "detail"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(row.mark, row.system, row.item, row.detail)
    out.print(table)
    source = getattr(conn.config, "_source", "")
    failed = sum(row.failed for row in rows)
    if failed:
        err.print(f"{failed} problem(s) in {source}")
        codes.leave(codes.CHECK_FAILED)
    out.print(f"{source}: configuration OK" + ("" if live else " (offline; --live checks the systems)"))
