"""``audit verify`` and ``audit export``: the hash-chained trail, checked or written out."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer

from connector.app.cli.output import err, out
from connector.app.cli.session import connector
from connector.core.errors import UserError


def audit_verify() -> None:
    """Recompute the hash chain; exits 1 and names the rows if anything was altered or removed."""
    conn = connector()
    problems = asyncio.run(conn.service.verify_audit())
    if problems:
        for problem in problems:
            err.print(f"audit: {problem}")
        raise typer.Exit(1)
    out.print("audit trail intact")


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
