"""Local desk adapter. A ticket here behaves like a Jira issue: a human (``approval-connector
review`` / ``approve`` / ``reject``) moves it to approved or rejected, the connector reads that
decision back through the adapter like any other system, and reports the outcome as a comment."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from connector.core.adapter import AdapterContext, RouteSettings, SystemSettings, TicketAdapter
from connector.core.errors import ConfigError, ConflictError, NotFoundError, UserError
from connector.core.models import (
    Actor,
    ApprovalRequest,
    CheckResult,
    DecisionEvent,
    Mode,
    OutcomeReport,
    PendingTicket,
    PollResult,
    Question,
    ReportKind,
    TicketDecision,
    TicketRef,
    Verdict,
    utcnow,
)
from connector.core.store import aware
from connector.core.store.engine import writing
from connector.core.templates import argument_rows, render, template_problem, ticket_context

from .tables import (
    _COMMENTS,
    _DECIDE,
    _INSERT_COMMENT,
    _INSERT_TICKET,
    _NOTED,
    _OPEN_AGAIN,
    _SET_STATUS,
    _TICKET,
    _TICKET_OF_REQUEST,
    APPROVED,
    CLOSED,
    DONE,
    FAILED,
    OPEN,
    PRE_APPROVED,
    REJECTED,
    _insert_note,
    _meta,
    comments,
    tickets,
)

SERVICE_ACCOUNT = "approval-connector"

_FINAL_STATUS = {
    ReportKind.SUCCEEDED: DONE,
    ReportKind.FAILED: FAILED,
    ReportKind.IN_DOUBT: FAILED,
    ReportKind.REJECTED: CLOSED,
    ReportKind.EXPIRED: CLOSED,
    ReportKind.SHADOW: CLOSED,
    ReportKind.WINDOW_CLOSED: CLOSED,
}


class LocalSystemSettings(SystemSettings):
    key_prefix: str = Field(default="LOCAL", pattern=r"^[A-Z][A-Z0-9]*$")
    groups: dict[str, list[str]] = Field(
        default_factory=dict, description="group name -> member names, for 'group:NAME' approvers"
    )


class LocalTicketSettings(RouteSettings):
    summary: str = "Approve {{ tool }} requested by {{ request.agent or 'an agent' }}"
    description: str = ""

    @field_validator("summary", "description")
    @classmethod
    def _parses(cls, value: str) -> str:
        problem = template_problem(value)
        if problem:
            raise ValueError(f"invalid template: {problem}")
        return value


class _NothingToSet(RouteSettings):
    """The desk's decisions (approve / reject) and outcomes (done / failed / closed) are fixed;
    any key here is a mistake and is reported as an unknown key."""


class LocalEscalation(RouteSettings):
    assignee: str = Field(min_length=1, description="who the ticket is assigned to when escalated")


class LocalRouteSettings(RouteSettings):
    ticket: LocalTicketSettings = Field(default_factory=LocalTicketSettings)
    decision: _NothingToSet = Field(default_factory=_NothingToSet)
    outcome: _NothingToSet = Field(default_factory=_NothingToSet)
    escalation: LocalEscalation | None = None


class LocalDeskAdapter(TicketAdapter):
    kind = "local"
    decides_locally = True  # approve / reject / review on the command line call decide() below
    seals_tickets = True
    system_settings = LocalSystemSettings
    route_settings = LocalRouteSettings

    def __init__(
        self,
        name: str,
        settings: LocalSystemSettings,
        routes: Mapping[str, LocalRouteSettings],
        context: AdapterContext,
    ) -> None:
        super().__init__(name, settings, routes, context)
        if context.engine is None:
            raise UserError("the local desk needs the connector's database")
        self.engine = context.engine
        self.prefix = settings.key_prefix
        _meta.create_all(self.engine)

    # --- keys -------------------------------------------------------------------------------------
    def key_of(self, seq: int) -> str:
        return f"{self.prefix}-{seq}"

    def _seq_of(self, key: str) -> int:
        prefix, _, number = key.rpartition("-")
        if prefix != self.prefix or not number.isdigit():
            raise NotFoundError(f"{key!r} is not a ticket of the local desk {self.name}", system=self.name)
        return int(number)

    def _ref(self, seq: int) -> TicketRef:
        return TicketRef(system=self.name, key=self.key_of(seq), id=str(seq))

    # --- tickets ------------------------------------------------------------------------------------
    def _text(self, request: ApprovalRequest) -> tuple[str, str]:
        route = self.routes.get(request.route) or LocalRouteSettings()
        context = ticket_context(request)
        summary = render(route.ticket.summary, context).strip()[:250]
        lines = [
            f"Tool: {request.tool_name}",
            f"Request: {request.id}",
            f"Arguments digest (SHA-256): {request.arguments_digest}",
        ]
        if request.mode is Mode.STANDARD:
            lines.append(
                "A pre-approved standard change: it runs without a human decision; this is its record."
            )
        if request.agent:
            lines.append(f"Agent: {request.agent}")
        if request.rationale:
            lines.append(f"Rationale: {request.rationale}")
        lines.append("Arguments:")
        lines.extend(f"  {name}: {value}" for name, value in argument_rows(request.arguments))
        if route.ticket.description:
            lines.extend(["", render(route.ticket.description, context)])
        return summary, "\n".join(lines)

    def create_ticket(self, request: ApprovalRequest) -> TicketRef:
        summary, description = self._text(request)
        now = utcnow()
        row = {
            "system": self.name,
            "request_id": request.id,
            "route": request.route,
            "summary": summary,
            "description": description,
            "status": PRE_APPROVED if request.mode is Mode.STANDARD else OPEN,
            "seal": request.ticket_seal,
            "created_at": now,
            "updated_at": now,
        }
        try:
            with writing(self.engine) as conn:
                seq = conn.execute(_INSERT_TICKET, row).inserted_primary_key[0]
        except IntegrityError:
            pass  # already created for this request (a retried create): return the existing one
        else:
            return self._ref(seq)  # the new ticket's number, from the INSERT itself
        found = self.find_ticket(request)
        assert found is not None
        return found

    def find_ticket(self, request: ApprovalRequest) -> TicketRef | None:
        with self.engine.connect() as conn:
            row = conn.execute(_TICKET_OF_REQUEST, {"b_request_id": request.id}).mappings().first()
        return self._ref(row["seq"]) if row else None

    def ticket(self, key: str) -> dict[str, Any]:
        """One ticket with its comments, for the CLI."""
        seq = self._seq_of(key)
        with self.engine.connect() as conn:
            row = conn.execute(_TICKET, {"b_seq": seq}).mappings().first()
            if row is None or row["system"] != self.name:
                raise NotFoundError(f"no ticket {key} on the local desk {self.name}", system=self.name)
            notes = conn.execute(_COMMENTS, {"b_seq": seq}).mappings()
            data = dict(row)
            data["comments"] = [dict(n) for n in notes]
        data["key"] = key
        return data

    def _actor(self, name: str) -> Actor:
        """A desk identity is a name, case and surrounding spaces aside (the desk trusts --as)."""
        name = name.strip()
        ident = name.casefold()
        groups = frozenset(
            g
            for g, members in self.settings.groups.items()
            if ident in {m.strip().casefold() for m in members}
        )
        return Actor(id=ident, display=name, aliases=frozenset({name, ident}), groups=groups)

    def resolve_identity(self, name: str) -> Actor | None:
        return self._actor(name) if name.strip() else None

    def _decision_of(self, row: Any) -> TicketDecision:
        status = row["status"]
        verdict = {OPEN: Verdict.PENDING, APPROVED: Verdict.APPROVED, REJECTED: Verdict.REJECTED}.get(
            status, Verdict.UNKNOWN
        )
        actor = self._actor(row["decided_by"]) if row["decided_by"] else None
        edited = json.loads(row["edited_arguments"]) if row["edited_arguments"] else None
        return TicketDecision(
            verdict=verdict,
            actor=actor,
            status=status,
            reason=row["reason"] or "",
            decided_at=aware(row["decided_at"]),
            edited_arguments=edited,
            ticket_id=str(row["seq"]),
            shown_seal=row["seal"] or None,
        )

    def poll(self, pending: Sequence[PendingTicket], cursor: str | None) -> PollResult:
        """One query: decided tickets among the waiting ones."""
        waiting = {int(p.ticket.id or self._seq_of(p.ticket.key)): p for p in pending}
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(tickets).where(
                        tickets.c.system == self.name,
                        tickets.c.status != OPEN,  # decided, or moved somewhere unmapped (UNKNOWN)
                        tickets.c.seq.in_(list(waiting)),
                    )
                )
                .mappings()
                .all()
            )
        events = [
            DecisionEvent(
                system=self.name,
                ticket_key=self.key_of(row["seq"]),
                request_id=row["request_id"],
                decision=self._decision_of(row),
                source="poll",
            )
            for row in rows
        ]
        return PollResult(events=events, cursor=cursor)

    def read_decision(self, ticket: TicketRef, request: ApprovalRequest) -> TicketDecision:
        with self.engine.connect() as conn:
            row = conn.execute(_TICKET, {"b_seq": self._seq_of(ticket.key)}).mappings().first()
        if row is None:
            raise NotFoundError(f"ticket {ticket.key} not found on the local desk", system=self.name)
        return self._decision_of(row)

    def _note(self, conn: Any, seq: int, report: OutcomeReport) -> None:
        """The connector's comment carrying ``report`` (once: its id is the comment's marker)."""
        body = report.text + (f"\nFor: {', '.join(report.mentions)}" if report.mentions else "")
        note = {
            "ticket_seq": seq,
            "author": SERVICE_ACCOUNT,
            "marker": report.report_id,
            "body": body,
            "created_at": utcnow(),
        }
        once = _insert_note(conn)
        if once is not None:
            conn.execute(once, note)  # a second one with this marker is a no-op
        elif conn.execute(_NOTED, {"b_marker": report.report_id}).first() is None:
            conn.execute(_INSERT_COMMENT, note)

    def report(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> None:
        seq = self._seq_of(ticket.key)
        now = utcnow()
        with writing(self.engine) as conn:
            self._note(conn, seq, report)
            if report.kind in (ReportKind.UNAUTHORIZED, ReportKind.INVALID_EDIT):
                # the decision did not count: open the ticket again for an allowed approver
                self._open_again(conn, seq, [APPROVED, REJECTED])
            if report.final and report.kind in _FINAL_STATUS:
                final = {"b_seq": seq, "b_status": _FINAL_STATUS[report.kind], "b_now": now}
                conn.execute(_SET_STATUS, final)

    def escalate(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> str:
        """Assign the ticket to the route's ``escalation.assignee`` and say why (once)."""
        escalation = self.routes[report.route].escalation if report.route in self.routes else None
        if escalation is None:
            raise ConfigError(f"{self.name}: route {report.route!r} has no escalation.assignee")
        seq, note = self._seq_of(ticket.key), f"{report.text}\nAssigned to {escalation.assignee}."
        with writing(self.engine) as conn:
            assigned = {"assignee": escalation.assignee, "updated_at": utcnow()}
            conn.execute(update(tickets).where(tickets.c.seq == seq).values(**assigned))
            self._note(conn, seq, report.model_copy(update={"text": note}))
        return f"assigned to {escalation.assignee}"

    def reopen(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> None:
        """The decision no longer counts: the ticket is open again for a fresh one."""
        with writing(self.engine) as conn:
            self._note(conn, self._seq_of(ticket.key), report)
            self._open_again(conn, self._seq_of(ticket.key), [APPROVED])

    @staticmethod
    def _open_again(conn: Any, seq: int, decided: list[str]) -> None:
        """The ticket's decision is forgotten: it is open for a (fresh) one."""
        conn.execute(_OPEN_AGAIN, {"b_seq": seq, "b_decided": decided, "b_now": utcnow()})

    def timing_problem(self, feature: str, route: str) -> str | None:
        if feature == "escalate" and (route not in self.routes or self.routes[route].escalation is None):
            return "set escalation.assignee: who the ticket goes to"
        return super().timing_problem(feature, route)

    def service_identities(self) -> frozenset[str]:
        return frozenset({SERVICE_ACCOUNT})

    def questions(
        self, ticket: TicketRef, request: ApprovalRequest, since: datetime | None
    ) -> list[Question]:
        """People's comments on the ticket (never the connector's own), oldest first."""
        c = comments.c
        query = select(comments).where(
            c.ticket_seq == self._seq_of(ticket.key), c.author != SERVICE_ACCOUNT, c.marker.is_(None)
        )
        if since is not None:
            query = query.where(c.created_at >= since)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(c.id)).mappings().all()
        return [
            Question(
                id=str(row["id"]),
                actor=self._actor(row["author"]),
                text=row["body"],
                asked_at=aware(row["created_at"]),
            )
            for row in rows
        ]

    # --- the human side: what the CLI does instead of clicking in Jira -----------------------------
    def decide(
        self,
        key: str,
        verdict: Verdict,
        actor: str,
        reason: str = "",
        edited_arguments: dict[str, Any] | None = None,
    ) -> None:
        """Move an open ticket to approved or rejected, as a person would in a ticketing system."""
        verdict = Verdict(verdict) if verdict in set(Verdict) else Verdict.UNKNOWN  # "approved" as text too
        if verdict not in (Verdict.APPROVED, Verdict.REJECTED):
            raise UserError("a decision is approve or reject")
        if not actor.strip():
            raise UserError("say who decides (--as NAME)")
        seq = self._seq_of(key)
        status = APPROVED if verdict is Verdict.APPROVED else REJECTED
        now = utcnow()
        with writing(self.engine) as conn:
            decision = {
                "b_seq": seq,
                "b_system": self.name,
                "b_status": status,
                "b_by": actor.strip(),
                "b_now": now,
                "b_reason": reason or None,
                "b_edited": json.dumps(edited_arguments) if edited_arguments is not None else None,
            }
            result = conn.execute(_DECIDE, decision)
            if result.rowcount != 1:
                row = conn.execute(select(tickets.c.status).where(tickets.c.seq == seq)).first()
                if row is None:
                    raise NotFoundError(f"no ticket {key} on the local desk", system=self.name)
                raise ConflictError(
                    f"ticket {key} is already {row[0]}; only open tickets can be decided", system=self.name
                )

    def comment(self, key: str, actor: str, text: str) -> None:
        """A person's comment on a ticket, e.g. a question for the waiting agent (the connector's
        own comments come from report())."""
        if not actor.strip():
            raise UserError("say who comments (--as NAME)")
        if not text.strip():
            raise UserError("the comment is empty")
        seq = self._seq_of(key)
        with writing(self.engine) as conn:
            row = conn.execute(select(tickets.c.system).where(tickets.c.seq == seq)).first()
            if row is None or row[0] != self.name:
                raise NotFoundError(f"no ticket {key} on the local desk {self.name}", system=self.name)
            note = {"ticket_seq": seq, "author": actor.strip(), "body": text, "created_at": utcnow()}
            conn.execute(_INSERT_COMMENT, note)

    def check(self, live: bool) -> list[CheckResult]:
        with self.engine.connect() as conn:
            conn.execute(select(tickets.c.seq).limit(1))
        return [
            CheckResult(
                system=self.name, item="local desk tables", ok=True, detail="in the connector database"
            )
        ]
