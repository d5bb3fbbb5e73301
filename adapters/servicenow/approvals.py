"""Approve with edits and votes, as ServiceNow shows them. The route's ``decision.arguments_field``
(a string column the connector owns, e.g. ``u_approved_arguments``) holds the proposed arguments
as JSON from creation; who last changed it, and when, is read from ``sys_audit`` (one batched
query). Votes are the record's ``sysapproval_approver`` rows that approved or rejected, with the
person who answered (``sys_updated_by``: a delegate acts as themself) and the group a group
approval asked."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from connector.core.arguments_text import parse_edit, proposal_text
from connector.core.models import Actor, ApprovalRequest, TicketDecision, Verdict, Vote

from .parse import latest_audit, parse_time, safe, value
from .settings import ServiceNowRouteSettings

ActorOf = Callable[[str], Actor]
ListRows = Callable[..., list[dict[str, Any]] | None]  # ServiceNowDecisions._list


def create_values(request: ApprovalRequest, route: ServiceNowRouteSettings, values: dict[str, Any]) -> None:
    """The proposal, in the arguments column, with the record (so it exists from the first moment)."""
    column = route.decision.arguments_field
    if column:
        values[column] = proposal_text(request.arguments, route.decision.arguments_max_length)


def votes_of(rows: Sequence[Mapping[str, Any]], decision: Any, actor_of: ActorOf) -> list[Vote]:
    """Every approver row that approved or rejected, oldest first. The id carries the row's state,
    so a person who changes their answer casts a new vote (the newest counts)."""
    votes = []
    for row in sorted(rows, key=lambda r: (value(r, "sys_updated_on"), value(r, "sys_id"))):
        state = value(row, "state")
        if state in decision.approved_values:
            verdict = Verdict.APPROVED
        elif state in decision.rejected_values:
            verdict = Verdict.REJECTED
        else:
            continue
        who = value(row, "sys_updated_by")
        if not who:
            continue
        when = value(row, "sys_updated_on")
        votes.append(
            Vote(
                id=f"{value(row, 'sys_id')}:{state}:{value(row, 'sys_mod_count')}",
                actor=actor_of(who),
                verdict=verdict,
                at=parse_time(when) if when else None,
                group=value(row, "group.name") or value(row, "group"),
            )
        )
    return votes


def attach_edits(
    list_rows: ListRows,
    route: ServiceNowRouteSettings,
    records: Sequence[Mapping[str, Any]],
    out: dict[str, TicketDecision],
    actor_of: Callable[[Mapping[str, Any]], dict[str, Actor]],
) -> None:
    """Add to each decision the arguments its column holds and who last changed them."""
    column = route.decision.arguments_field
    if not column:
        return
    edits: dict[str, tuple[dict[str, Any] | None, str | None]] = {}
    held: dict[str, str] = {}  # what the column holds now, per record
    for record in records:
        sys_id = value(record, "sys_id")
        if sys_id in out:
            held[sys_id] = value(record, column)
            edits[sys_id] = parse_edit(held[sys_id], f"{route.ticket.table}.{column}")
    wanted = [sid for sid, (args, problem) in edits.items() if args is not None]
    authors: dict[str, Mapping[str, Any]] = {}
    ids = [i for i in wanted if safe(i)]
    rows = (
        list_rows(
            "sys_audit",
            f"tablename={route.ticket.table}^documentkeyIN{','.join(ids)}^fieldname={column}"
            "^ORDERBYsys_created_on",
            ["documentkey", "fieldname", "newvalue", "user", "sys_created_on", "record_checkpoint"],
        )
        if ids
        else []
    )
    by_doc: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows or []:
        by_doc[value(row, "documentkey")].append(row)
    for sys_id in ids:
        # the newest row that wrote exactly what the column holds now: a later write the audit
        # does not show (or one in the same second) names nobody, and an unattributed edit is
        # refused, rather than credited to whoever wrote the column before
        author = latest_audit(by_doc.get(sys_id, []), column, held[sys_id])
        if author is not None:
            authors[sys_id] = author
    people = actor_of(authors)
    for sys_id, (args, problem) in edits.items():
        audit = authors.get(sys_id)
        when = value(audit, "sys_created_on") if audit else ""
        out[sys_id] = out[sys_id].model_copy(
            update={
                "edited_arguments": args,
                "edit_problem": problem,
                "edit_needs_author": True,
                "edited_by": people.get(sys_id),
                "edited_at": parse_time(when) if when else None,
            }
        )
