"""Exit codes: what a script can tell from ``$?`` without reading the output. Zero only when the
command did what was asked (for a decision: the call ran, or the rejection was recorded); each
way a call can end without running has its own code (the README's "Command line" table)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from connector.core.models import ApprovalRequest

OK = 0  # the call ran / the command succeeded
CHECK_FAILED = 1  # check-config or audit verify found a problem
BAD_INPUT = 2  # usage, config, unknown id, invalid --edit
SYSTEM = 3  # the store or a ticketing system cannot be reached
CALL_FAILED = 4  # the call failed, or whether it ran is in doubt
REFUSED = 5  # the decision did not count (approver not allowed, digest mismatch, invalid edit)
TAMPERED = 6  # the stored call or its ticket no longer matches what was approved
EXPIRED = 7  # no decision before the deadline
NOT_RUN = 8  # decided, but nothing ran (rejected, shadow, window closed, denied)
INTERRUPTED = 130  # Ctrl-C

_BY_STATE = {
    "SUCCEEDED": OK,
    "FAILED": CALL_FAILED,
    "IN_DOUBT": CALL_FAILED,
    "EXECUTING": CALL_FAILED,
    "TAMPERED": TAMPERED,
    "EXPIRED": EXPIRED,
    "REJECTED": NOT_RUN,
    "SHADOW": NOT_RUN,
    "WINDOW_CLOSED": NOT_RUN,
    "DENIED": NOT_RUN,
    "APPROVED": NOT_RUN,  # approved, waiting for its change window: it has not run yet
}


def for_request(request: ApprovalRequest, refused: bool = False, rejection_ok: bool = False) -> int:
    """The code for where a decided request ended: ``refused`` when the decision was recorded as
    not counting (the request still waits); ``rejection_ok`` for ``reject``, whose success is a
    recorded rejection."""
    state = request.state.value
    if rejection_ok and state == "REJECTED":
        return OK
    if state in ("TICKETED", "SUBMITTED"):
        return REFUSED if refused else CALL_FAILED
    return _BY_STATE.get(state, CALL_FAILED)


def leave(code: int) -> None:
    """End the command with ``code`` (nothing happens for 0)."""
    if code:
        raise click.exceptions.Exit(code)
