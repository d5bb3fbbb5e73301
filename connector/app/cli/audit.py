"""``audit verify`` and ``audit export``: the hash-chained trail, checked or written out."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from connector.app.cli import codes
from connector.app.cli.options import command
from connector.app.cli.output import err, out
from connector.app.cli.session import connector
from connector.core.errors import UserError


@command("verify")
def audit_verify() -> None:
    """Recompute the hash chain; exits 1 and names the rows if anything was altered or removed."""
    conn = connector()
    problems = asyncio.run(conn.service.verify_audit())
    if problems:
        for problem in problems:
            err.print(f"audit: {problem}")
        codes.leave(codes.CHECK_FAILED)
    out.print("audit trail intact")


@command("export")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="File to write (default: stdout).")
@click.option("--request", "request_id", metavar="ID", help="Only this request.")
def audit_export(output: Path | None, request_id: str | None) -> None:
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
