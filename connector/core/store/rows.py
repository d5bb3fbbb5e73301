"""Requests as rows, and the statements of the hot path built once: converting a request to a
row and back, and the conditional UPDATE of each kind of transition (cached by its shape)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import bindparam, insert, or_, update

from connector.core.models import ApprovalRequest, TicketRef

from .schema import aware, requests_table

_INSERT_REQUEST = insert(requests_table)
_transition_statements: dict[tuple[Any, ...], Any] = {}


def _transition_statement(
    from_states: tuple[str, ...],
    keys: tuple[str, ...],
    claimed: bool,
    audited: bool,
    windowed: bool = False,
    full: bool = False,
    headed: bool = False,
) -> Any:
    """The conditional UPDATE of one kind of transition, built once and cached: the values come
    as parameters, so each call only binds them. ``windowed``: only inside the request's change
    window (if it has one) at ``b_now``. ``full``: it returns the whole row as updated (the caller
    need not read it back). ``headed``: the caller knows the audit head (``b_old_rseq``,
    ``b_prev``) and sets the new one (``b_rseq``, ``b_hash``) in this UPDATE, which only moves the
    request while its head is still the known one."""
    key = (from_states, keys, claimed, audited, windowed, full, headed)
    statement = _transition_statements.get(key)
    if statement is None:
        c = requests_table.c
        # the states as constants of the statement, not an expanding IN: prepared.py runs it
        states = [bindparam(f"s_{i}", state) for i, state in enumerate(from_states)]
        where = [c.id == bindparam("b_id"), c.state.in_(states)]
        if claimed:
            where.append(c.claimed_by == bindparam("b_held_by"))
        if windowed:
            now = bindparam("b_now")
            where += [
                or_(c.not_before.is_(None), c.not_before <= now),
                or_(c.not_after.is_(None), c.not_after > now),
            ]
        values: dict[str, Any] = {k: bindparam(f"v_{k}") for k in keys}
        if headed:
            where += [c.audit_rseq == bindparam("b_old_rseq"), c.audit_hash == bindparam("b_prev")]
            values.update(audit_rseq=bindparam("b_rseq"), audit_hash=bindparam("b_hash"), audit_dirty=True)
        elif audited:
            values.update(audit_rseq=c.audit_rseq + bindparam("b_n"), audit_dirty=True)
        statement = update(requests_table).where(*where).values(**values)
        if full:
            statement = statement.returning(*requests_table.c)
        elif audited and not headed:
            statement = statement.returning(c.audit_rseq, c.audit_hash)
        _transition_statements[key] = statement
    return statement


def _to_row(request: ApprovalRequest) -> dict[str, Any]:
    data = request.model_dump()
    data["arguments"] = json.dumps(request.arguments, sort_keys=True)
    data["approved_arguments"] = (
        json.dumps(request.approved_arguments, sort_keys=True)
        if request.approved_arguments is not None
        else None
    )
    data["mode"] = request.mode.value
    data["state"] = request.state.value
    ticket = data.pop("ticket")
    data["ticket_system"] = ticket["system"] if ticket else None
    data["ticket_key"] = ticket["key"] if ticket else None
    data["ticket_id"] = ticket["id"] if ticket else None
    data["ticket_url"] = ticket["url"] if ticket else None
    return data


def _from_row(row: Any) -> ApprovalRequest:
    data = dict(row)
    for internal in ("refused_signature", "audit_rseq", "audit_hash", "audit_dirty"):
        data.pop(internal, None)
    data["arguments"] = json.loads(data["arguments"])
    if data.get("approved_arguments"):
        data["approved_arguments"] = json.loads(data["approved_arguments"])
    key = data.pop("ticket_key")
    system = data.pop("ticket_system")
    ticket_id = data.pop("ticket_id")
    url = data.pop("ticket_url")
    data["ticket"] = TicketRef(system=system, key=key, id=ticket_id or "", url=url or "") if key else None
    for name in (
        "deadline",
        "created_at",
        "updated_at",
        "decided_at",
        "lease_until",
        "not_before",
        "not_after",
        "waiting_since",
        "nudge_at",
    ):
        data[name] = aware(data.get(name))
    return ApprovalRequest.model_validate(data)
