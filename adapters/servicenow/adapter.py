"""ServiceNow as a ticketing system: one record per request (correlation field = request id),
decisions read from the record's approval/state columns (with the actor from sys_audit) or from
its sysapproval_approver rows, outcomes written as journal entries, records moved on by state."""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import requests

from connector.core.adapter import AdapterContext, TicketAdapter
from connector.core.errors import (
    AdapterError,
    AmbiguousCreate,
    BadRequestError,
    ConfigError,
    ConflictError,
    WebhookRejected,
)
from connector.core.models import (
    ApprovalRequest,
    CheckResult,
    DecisionEvent,
    OutcomeReport,
    PendingTicket,
    PollResult,
    Question,
    TicketDecision,
    TicketRef,
    Verdict,
)
from connector.core.templates import TemplateRenderError

from . import render
from . import webhook as hooks
from .client import ServiceNowClient
from .cursor import NEW_TICKET_MARGIN, PollCursor
from .parse import (
    actor_from_user,
    approver_verdict,
    format_time,
    latest_audit,
    parse_time,
    record_verdict,
    value,
)
from .settings import (
    OutcomeSettings,
    ServiceNowRouteSettings,
    ServiceNowSystemSettings,
)

log = logging.getLogger(__name__)

MAX_IDS_IN_QUERY = 40  # keeps the URL well under 2048 characters
_SAFE_VALUE = re.compile(r"^[^\^,\r\n]*$")
_TABLE_IN_URL = re.compile(r"/([a-z][a-z0-9_]*)\.do\?sys_id=([0-9A-Za-z]+)")
APPROVER_FIELDS = [
    "sys_id",
    "sysapproval",
    "approver",
    "state",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
]


def _safe(text: str) -> bool:
    """Whether a value can go into an encoded query without changing its meaning."""
    return bool(_SAFE_VALUE.match(text))


class ServiceNowAdapter(TicketAdapter):
    """Translate between the connector and the ServiceNow Table API."""

    kind = "servicenow"
    system_settings = ServiceNowSystemSettings
    route_settings = ServiceNowRouteSettings

    settings: ServiceNowSystemSettings
    routes: dict[str, ServiceNowRouteSettings]  # type: ignore[assignment]

    def __init__(
        self,
        name: str,
        settings: ServiceNowSystemSettings,
        routes: Mapping[str, Any],
        context: AdapterContext,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], Any] = time.sleep,
        now: Callable[[], float] = time.time,
    ) -> None:
        parsed = {
            key: r if isinstance(r, ServiceNowRouteSettings) else ServiceNowRouteSettings.model_validate(r)
            for key, r in routes.items()
        }
        if not isinstance(settings, ServiceNowSystemSettings):
            settings = ServiceNowSystemSettings.model_validate(settings)
        super().__init__(name, settings, parsed, context)
        self.client = ServiceNowClient(name, settings, context, session=session, sleep=sleep)
        self.now = now

    # --- helpers ---------------------------------------------------------------------------------------
    def _route(self, name: str) -> ServiceNowRouteSettings:
        route = self.routes.get(name)
        if route is None:
            known = ", ".join(sorted(self.routes)) or "none"
            raise ConfigError(
                f"{self.name}: route {name!r} is not configured for this system (known: {known})"
            )
        return route

    def _ref(self, table: str, record: Mapping[str, Any]) -> TicketRef:
        sys_id = value(record, "sys_id")
        return TicketRef(
            system=self.name,
            key=value(record, "number") or sys_id,
            id=sys_id,
            url=f"{self.settings.instance_url}/{table}.do?sys_id={sys_id}",
        )

    def _table_of(self, ticket: TicketRef) -> str:
        match = _TABLE_IN_URL.search(ticket.url)
        if match:
            return match.group(1)
        tables = {r.ticket.table for r in self.routes.values()}
        if len(tables) == 1:
            return next(iter(tables))
        raise ConfigError(f"{self.name}: cannot tell which table ticket {ticket.key} is in")

    def _outcome_for(self, table: str, report: OutcomeReport) -> OutcomeSettings:
        """The outcome settings of the report's route. Until the core names the route on the
        report, routes sharing a table must agree on them (checked here, loudly)."""
        route_name = getattr(report, "route", None)
        if route_name:
            return self._route(route_name).outcome
        candidates = {
            r.outcome.model_dump_json(): r.outcome for r in self.routes.values() if r.ticket.table == table
        }
        if len(candidates) == 1:
            return next(iter(candidates.values()))
        if not candidates:
            return OutcomeSettings()
        raise ConfigError(
            f"{self.name}: routes on table {table} have different outcome settings and the report "
            f"does not say which route it belongs to"
        )

    def _correlation(self, route: ServiceNowRouteSettings, request_id: str) -> str:
        if not request_id or not _safe(request_id) or len(request_id) > 60:
            raise BadRequestError(
                f"{self.name}: request id {request_id!r} cannot be stored in a correlation field"
            )
        return route.ticket.correlation_prefix + request_id

    # --- tickets ---------------------------------------------------------------------------------------
    def create_ticket(self, request: ApprovalRequest) -> TicketRef:
        """Exactly one record per request: POST once (the core looks the record up first on a
        retry), and after a failed POST look again before giving up."""
        route = self._route(request.route)
        ticket = route.ticket
        try:
            values = render.record_values(request, ticket)
        except TemplateRenderError as exc:
            raise BadRequestError(f"{self.name}: route {request.route}: {exc}", system=self.name) from None
        expected = self._correlation(route, request.id)
        values[ticket.correlation_field] = expected
        try:
            record = self.client.create(ticket.table, values, ["sys_id", "number", ticket.correlation_field])
        except AdapterError as exc:
            if not exc.transient:
                raise
            try:  # the POST may have landed before the answer was lost
                found = self.find_ticket(request)
            except AdapterError:
                found = None
            if found is not None:
                return found
            raise AmbiguousCreate(
                f"{self.name}: the create for request {request.id} may have landed ({exc})", system=self.name
            ) from None
        if value(record, ticket.correlation_field) != expected:
            raise BadRequestError(
                f"{self.name}: record {value(record, 'number')} was created but {ticket.table}."
                f"{ticket.correlation_field} did not keep the request id; does the column exist? "
                f"(run check-config --live)",
                system=self.name,
            )
        return self._ref(ticket.table, record)

    def find_ticket(self, request: ApprovalRequest) -> TicketRef | None:
        route = self._route(request.route)
        ticket = route.ticket
        expected = self._correlation(route, request.id)
        rows = self.client.list(
            ticket.table,
            f"{ticket.correlation_field}={expected}^ORDERBYsys_created_on",
            ["sys_id", "number", ticket.correlation_field, "sys_created_on"],
            limit=20,
            max_pages=1,
        )
        # A misspelt column is silently dropped from the query: trust only rows that match.
        matches = [r for r in rows if value(r, ticket.correlation_field) == expected]
        if len(matches) > 1:
            log.warning(
                "%s: %d records carry request %s; using the oldest", self.name, len(matches), request.id
            )
        return self._ref(ticket.table, matches[0]) if matches else None

    def read_decision(self, ticket: TicketRef, request: ApprovalRequest) -> TicketDecision:
        route = self._route(request.route)
        table = route.ticket.table
        fields = self._record_fields(route)
        record = self.client.get(table, ticket.id, fields)
        if value(record, "sys_id") != ticket.id:
            raise BadRequestError(
                f"{self.name}: asked for {ticket.key}, got another record", system=self.name
            )
        expected = route.ticket.correlation_prefix + request.id
        if value(record, route.ticket.correlation_field) != expected:
            return TicketDecision(
                verdict=Verdict.UNKNOWN,
                status=f"{route.ticket.correlation_field} no longer names request {request.id}",
                reason="the record's correlation id was changed; not trusting it",
                ticket_id=value(record, "sys_id"),
            )
        return self._decide(route, [record], request.route)[ticket.id]

    # --- decisions -------------------------------------------------------------------------------------
    @staticmethod
    def _record_fields(route: ServiceNowRouteSettings) -> list[str]:
        d = route.decision
        fields = [
            "sys_id",
            "number",
            route.ticket.correlation_field,
            "sys_updated_on",
            "sys_updated_by",
            "sys_mod_count",
        ]
        for name in (d.approval_field, d.state_field):
            if name and name not in fields:
                fields.append(name)
        return fields

    def _needs_groups(self, route: ServiceNowRouteSettings, route_name: str) -> bool:
        """Groups cost one more query: only when the route's approvers name a group."""
        if route.needs_groups:
            return True
        ask = getattr(self.context, "needs_groups", None)  # the core knows the route's approvers
        return bool(ask(route_name)) if callable(ask) else False

    def _decide(
        self, route: ServiceNowRouteSettings, records: Sequence[Mapping[str, Any]], route_name: str = ""
    ) -> dict[str, TicketDecision]:
        """Decisions for several records with a fixed number of batched reads (audit or approver
        rows, then users, groups and rejection reasons)."""
        if route.decision.source == "approvers":
            votes = self._approver_votes(route, [value(r, "sys_id") for r in records])
        else:
            votes = self._record_votes(route, records)
        names = {v.user for v in votes.values() if v.user}
        users = self._users(names)
        wanted = self._needs_groups(route, route_name)
        groups = self._groups({value(u, "sys_id") for u in users.values()}) if wanted else {}
        reasons = self._reasons(
            [(sid, v) for sid, v in votes.items() if v.verdict is Verdict.REJECTED and v.user]
        )
        out: dict[str, TicketDecision] = {}
        for sys_id, vote in votes.items():
            verdict, reason = vote.verdict, reasons.get(sys_id, "")
            actor = None
            if vote.user:
                user = users.get(vote.user)
                actor = actor_from_user(
                    vote.user, user, groups.get(value(user, "sys_id"), ()) if user else ()
                )
            elif verdict is Verdict.APPROVED:
                # Nothing says who approved: fail closed rather than guess from sys_updated_by.
                verdict, reason = Verdict.UNKNOWN, "approved, but ServiceNow shows no record of who approved"
            out[sys_id] = TicketDecision(
                verdict=verdict,
                actor=actor,
                status=vote.status,
                reason=reason,
                decided_at=parse_time(vote.when) if vote.when else None,
                ticket_id=sys_id,
            )
        return out

    def _record_votes(
        self, route: ServiceNowRouteSettings, records: Sequence[Mapping[str, Any]]
    ) -> dict[str, _Vote]:
        d = route.decision
        votes: dict[str, _Vote] = {}
        wanted: dict[str, tuple[str, str]] = {}  # sys_id -> (field, value) whose audit names the actor
        for record in records:
            sys_id = value(record, "sys_id")
            verdict, status = record_verdict(record, d)
            votes[sys_id] = _Vote(verdict, status)
            if verdict in (Verdict.APPROVED, Verdict.REJECTED):
                approval = value(record, d.approval_field) if d.uses_approval else ""
                if d.uses_approval and (verdict is Verdict.APPROVED or approval in d.rejected_values):
                    wanted[sys_id] = (d.approval_field or "approval", approval)
                else:
                    wanted[sys_id] = (d.state_field, value(record, d.state_field))
        if wanted:
            ids = [i for i in wanted if _safe(i)]
            fields = sorted({f for f, _ in wanted.values()})
            rows = self.client.list(
                "sys_audit",
                f"tablename={route.ticket.table}^documentkeyIN{','.join(ids)}^fieldnameIN{','.join(fields)}"
                f"^ORDERBYsys_created_on",
                ["documentkey", "fieldname", "newvalue", "user", "sys_created_on", "record_checkpoint"],
            )
            by_doc: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
            for row in rows:
                by_doc[value(row, "documentkey")].append(row)
            for sys_id, (field_name, new) in wanted.items():
                audit = latest_audit(by_doc.get(sys_id, []), field_name, new)
                if audit is not None:
                    votes[sys_id].user = value(audit, "user")
                    votes[sys_id].when = value(audit, "sys_created_on")
        return votes

    def _approver_votes(self, route: ServiceNowRouteSettings, sys_ids: list[str]) -> dict[str, _Vote]:
        ids = [i for i in sys_ids if i and _safe(i)]
        rows = (
            self.client.list(
                "sysapproval_approver", f"sysapprovalIN{','.join(ids)}^ORDERBYsys_updated_on", APPROVER_FIELDS
            )
            if ids
            else []
        )
        by_doc: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for row in rows:
            by_doc[value(row, "sysapproval")].append(row)
        votes: dict[str, _Vote] = {}
        for sys_id in sys_ids:
            vote = approver_verdict(by_doc.get(sys_id, []), route.decision)
            v = _Vote(vote.verdict, vote.status)
            if vote.row is not None and vote.verdict in (Verdict.APPROVED, Verdict.REJECTED):
                # Who acted: the row's last updater (a delegate may act for the approver).
                v.user = value(vote.row, "sys_updated_by")
                v.when = value(vote.row, "sys_updated_on")
                v.row_id = value(vote.row, "sys_id")
            votes[sys_id] = v
        return votes

    def _users(self, names: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        wanted = sorted(n for n in names if n and _safe(n))
        if not wanted:
            return {}
        rows = self.client.list(
            "sys_user", f"user_nameIN{','.join(wanted)}", ["sys_id", "user_name", "email", "name"]
        )
        return {value(r, "user_name"): r for r in rows if value(r, "user_name") in wanted}

    def _groups(self, user_ids: Iterable[str]) -> dict[str, set[str]]:
        wanted = sorted(i for i in user_ids if i and _safe(i))
        if not wanted:
            return {}
        rows = self.client.list(
            "sys_user_grmember", f"userIN{','.join(wanted)}", ["user", "group", "group.name"]
        )
        out: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            user = value(row, "user")
            if user in wanted:
                out[user] |= {value(row, "group"), value(row, "group.name")} - {""}
        return out

    def _reasons(self, rejected: list[tuple[str, _Vote]]) -> dict[str, str]:
        """The rejecting person's newest comment on the record or their approver row."""
        if not rejected:
            return {}
        rows_of: dict[str, set[str]] = defaultdict(set)  # record -> its approver rows (comments live there)
        for sid, vote in rejected:
            rows_of[sid] |= {vote.row_id} - {""}
        without_rows = [sid for sid, v in rejected if not v.row_id and _safe(sid)]
        if without_rows:  # decided by record columns: find the rejecting approver rows too
            for row in self.client.list(
                "sysapproval_approver",
                f"sysapprovalIN{','.join(without_rows)}^stateINrejected",
                ["sys_id", "sysapproval"],
            ):
                rows_of[value(row, "sysapproval")].add(value(row, "sys_id"))
        element_ids = {sid for sid, _ in rejected} | {r for ids in rows_of.values() for r in ids}
        ids = sorted(i for i in element_ids if _safe(i))
        rows = self.client.list(
            "sys_journal_field",
            f"element_idIN{','.join(ids)}^elementINcomments,work_notes^ORDERBYDESCsys_created_on",
            ["element_id", "element", "value", "sys_created_by", "sys_created_on"],
            limit=50,
            max_pages=1,
        )
        out: dict[str, str] = {}
        for sys_id, vote in rejected:
            mine = [
                r
                for r in rows
                if value(r, "element_id") in {sys_id, *rows_of[sys_id]}
                and value(r, "sys_created_by") == vote.user
            ]
            if mine:
                newest = max(mine, key=lambda r: value(r, "sys_created_on"))
                out[sys_id] = value(newest, "value").strip()[:1000]
        return out

    # --- polling ---------------------------------------------------------------------------------------
    def poll(self, pending: Sequence[PendingTicket], cursor: str | None) -> PollResult:
        """One list query per (table, decision mapping) — normally one per system — then batched
        reads for the records that look decided. Events carry decisions read from the API."""
        state = PollCursor.load(cursor)
        if not pending:
            return PollResult(events=[], cursor=state.dump())
        overlap = self.settings.poll_overlap_seconds
        groups: dict[str, list[PendingTicket]] = defaultdict(list)
        for item in pending:
            route = self._route(item.route)
            key = f"{route.ticket.model_dump_json(exclude={'fields'})}|{route.decision.model_dump_json()}"
            groups[key].append(item)
        events: list[DecisionEvent] = []
        newest_seen: list[str] = []
        floors: list[str] = []
        for items in groups.values():
            window = self._window(state, items, overlap)
            if window.floor:
                floors.append(window.floor)
            events += self._poll_group(items, state, window, newest_seen)
        for stamp in newest_seen:
            state.advance(stamp)
        if state.newest is None and floors:
            state.newest = min(floors)  # nothing seen yet: do not slide back to "ever" next time
        state.known = {p.ticket.id for p in pending}
        state.prune(overlap)
        return PollResult(events=events, cursor=state.dump())

    def _window(self, state: PollCursor, items: list[PendingTicket], overlap: float) -> _Window:
        """What the query covers: changes since the cursor (minus the overlap), plus — by sys_id,
        so clock skew cannot hide them — tickets that earlier polls did not look for."""
        since = state.since(overlap)
        new = [p for p in items if p.ticket.id not in state.known] if since else list(items)
        if not new:
            return _Window(since, [], None)
        ids = [p.ticket.id for p in new]
        if len(ids) <= MAX_IDS_IN_QUERY and all(i and _safe(i) for i in ids):
            return _Window(since, ids, None)
        floor = format_time(min(p.created_at for p in new) - NEW_TICKET_MARGIN)
        since = min(since, floor) if since else floor
        return _Window(since, [], floor)

    def _poll_group(
        self, items: list[PendingTicket], state: PollCursor, window: _Window, newest_seen: list[str]
    ) -> list[DecisionEvent]:
        route = self._route(items[0].route)
        t, d = route.ticket, route.decision
        by_id = {p.ticket.id: p for p in items}
        by_corr = {t.correlation_prefix + p.request_id: p for p in items}
        # Everything not known to be waiting: decisions, and values nobody mapped (which must
        # surface as UNKNOWN instead of waiting forever).
        waiting = ",".join(d.pending_values)
        records: list[Mapping[str, Any]] = []
        if d.source == "approvers":
            corr = f"sysapproval.{t.correlation_field}"
            corr_q = (
                f"{corr}STARTSWITH{t.correlation_prefix}" if t.correlation_prefix else f"{corr}ISNOTEMPTY"
            )
            rows = self.client.list(
                "sysapproval_approver",
                f"{corr_q}{window.clause('sysapproval')}^stateNOT IN{waiting}^ORDERBYsys_updated_on",
                APPROVER_FIELDS,
            )
            candidates: dict[str, dict[str, str]] = {}
            for row in rows:
                newest_seen.append(value(row, "sys_updated_on"))
                ticket_id = value(row, "sysapproval")
                # Re-check locally what the query asked: a dropped query part must not widen the result.
                if ticket_id not in by_id or not window.covers(row, ticket_id):
                    continue
                if not state.is_seen(value(row, "sys_id"), value(row, "sys_mod_count")):
                    candidates[ticket_id] = {"sys_id": ticket_id}
                state.mark(value(row, "sys_id"), value(row, "sys_mod_count"), value(row, "sys_updated_on"))
            records = list(candidates.values())
        else:
            corr_q = (
                f"{t.correlation_field}STARTSWITH{t.correlation_prefix}"
                if t.correlation_prefix
                else f"{t.correlation_field}ISNOTEMPTY"
            )
            ors = []
            if d.uses_approval:
                ors.append(f"{d.approval_field}NOT IN{waiting}")
            if d.uses_state:
                ors.append(f"{d.state_field}NOT IN{','.join(d.pending_states)}")
            rows = self.client.list(
                t.table,
                f"{corr_q}{window.clause('sys_id')}^{'^OR'.join(ors)}^ORDERBYsys_updated_on",
                self._record_fields(route),
            )
            for row in rows:
                newest_seen.append(value(row, "sys_updated_on"))
                sys_id = value(row, "sys_id")
                known = sys_id in by_id or value(row, t.correlation_field) in by_corr
                if not known or not window.covers(row, sys_id):
                    continue
                if state.is_seen(sys_id, value(row, "sys_mod_count")):
                    continue
                state.mark(sys_id, value(row, "sys_mod_count"), value(row, "sys_updated_on"))
                records.append(row)
        if not records:
            return []
        decisions = self._decide(route, records, items[0].route)
        service = {n.lower() for n in self.service_identities()}
        events = []
        for record in records:
            sys_id = value(record, "sys_id")
            item = by_id.get(sys_id) or by_corr.get(value(record, t.correlation_field))
            decision = decisions.get(sys_id)
            if item is None or decision is None or decision.verdict is Verdict.PENDING:
                continue
            if decision.actor is not None and {n.lower() for n in decision.actor.names()} & service:
                continue  # the connector's own write (e.g. it cancelled an expired record)
            events.append(
                DecisionEvent(
                    system=self.name,
                    ticket_key=item.ticket.key,
                    request_id=item.request_id,
                    decision=decision,
                    source="poll",
                )
            )
        return events

    # --- outcomes --------------------------------------------------------------------------------------
    def report(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> None:
        """Journal entry with a hidden marker (looked for before any retry), then the configured
        state path, one step at a time from wherever the record is."""
        table = self._table_of(ticket)
        outcome = self._outcome_for(table, report)
        posted = attempt > 0 and self._marker_present(table, ticket, outcome.journal_field, report.report_id)
        if not posted:
            note = {outcome.journal_field: render.outcome_note(report)}
            self.client.update(table, ticket.id, note, ["sys_id"], appends=True)
        if report.final:
            self._move_on(table, ticket, outcome, report)

    def _marker_present(self, table: str, ticket: TicketRef, element: str, report_id: str) -> bool:
        needle = f"{render.MARKER_PREFIX}{report_id}"
        query = f"element_id={ticket.id}^element={element}"
        if _safe(needle):
            query += f"^valueLIKE{needle}"
        rows = self.client.list(
            "sys_journal_field", query, ["sys_id", "element_id", "value", "sys_created_by"]
        )
        mine = self.settings.service_account.user_name
        return any(
            needle in value(r, "value")
            and value(r, "sys_created_by") == mine
            and value(r, "element_id") == ticket.id
            for r in rows
        )

    def _move_on(
        self, table: str, ticket: TicketRef, outcome: OutcomeSettings, report: OutcomeReport
    ) -> None:
        transition = outcome.transitions.get(report.kind)
        if transition is None or not (transition.path or transition.fields):
            return
        extra = render.transition_fields(transition, report)
        field = outcome.state_field
        current = value(self.client.get(table, ticket.id, ["sys_id", field]), field)
        path = transition.path
        remaining = path[path.index(current) + 1 :] if current in path else list(path)
        if path and not remaining:
            return  # already there (an earlier attempt got through)
        if not path:
            self.client.update(table, ticket.id, extra, ["sys_id"])
            return
        for i, target in enumerate(remaining):
            body = {field: target, **(extra if i == len(remaining) - 1 else {})}
            answer = self.client.update(table, ticket.id, body, ["sys_id", field])
            if value(answer, field) != target:
                raise ConflictError(
                    f"{self.name}: {ticket.key} stayed in {field}={value(answer, field)!r} instead of "
                    f"{target!r}; a workflow or business rule on the instance refused the move",
                    system=self.name,
                )

    def questions(
        self, ticket: TicketRef, request: ApprovalRequest, since: datetime | None
    ) -> list[Question]:
        """Work notes and comments on the record since ``since`` by anyone but the connector's own
        account, authors resolved like approvers (sys_user, groups when the route needs them)."""
        route = self._route(request.route)
        if not _safe(ticket.id):
            return []
        query = f"element_id={ticket.id}^elementINwork_notes,comments"
        if since is not None:
            query += f"^sys_created_on>={format_time(since)}"
        rows = self.client.list(
            "sys_journal_field",
            query + "^ORDERBYsys_created_on",
            ["sys_id", "element_id", "element", "value", "sys_created_by", "sys_created_on"],
        )
        own = {n.lower() for n in self.service_identities()}
        rows = [
            r
            for r in rows
            if value(r, "element_id") == ticket.id and value(r, "sys_created_by").lower() not in own | {""}
        ]
        users = self._users({value(r, "sys_created_by") for r in rows})
        wanted = self._needs_groups(route, request.route)
        groups = self._groups({value(u, "sys_id") for u in users.values()}) if wanted else {}
        found = []
        for row in rows:
            name = value(row, "sys_created_by")
            user = users.get(name)
            actor = actor_from_user(name, user, groups.get(value(user, "sys_id"), ()) if user else ())
            when = value(row, "sys_created_on")
            found.append(
                Question(
                    id=value(row, "sys_id"),
                    actor=actor,
                    text=value(row, "value"),
                    asked_at=parse_time(when) if when else None,
                )
            )
        return found

    def service_identities(self) -> frozenset[str]:
        account = self.settings.service_account
        return frozenset({account.user_name, account.sys_id} - {""})

    # --- webhooks --------------------------------------------------------------------------------------
    def _webhook_secret(self) -> str:
        hook = self.settings.webhook
        if hook is None:
            raise WebhookRejected(f"system {self.name!r} does not accept webhooks", status=404)
        try:
            return self.context.secret(hook.secret_env, f"systems.{self.name}.webhook.secret_env")
        except ConfigError:
            raise WebhookRejected("webhook secret is not configured", status=503) from None

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        secret = self._webhook_secret()
        assert self.settings.webhook is not None
        hooks.verify(self.settings.webhook, secret, headers, body, now=self.now)

    def webhook_delivery_id(self, headers: Mapping[str, str], body: bytes) -> str | None:
        return hooks.delivery_id(body)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[DecisionEvent]:
        try:
            return hooks.parse(
                self.name,
                body,
                [r.ticket.correlation_prefix for r in self.routes.values()],
                sorted({r.ticket.correlation_field for r in self.routes.values()}),
            )
        except WebhookRejected:
            raise
        except Exception:  # a body we did not foresee must not become a 500
            raise WebhookRejected("unreadable delivery", status=400) from None

    def webhook_setup(self, public_url: str) -> str:
        from .setup_script import business_rule_script

        return business_rule_script(self, public_url)

    # --- operations ------------------------------------------------------------------------------------
    def check(self, live: bool) -> list[CheckResult]:
        from .check import run_checks

        return run_checks(self, live)

    def close(self) -> None:
        self.client.close()


class _Window:
    """The part of one poll query that limits it in time (and to newly pending tickets)."""

    def __init__(self, since: str | None, ids: list[str], floor: str | None) -> None:
        self.since = since
        self.ids = ids
        self.floor = floor

    def clause(self, id_field: str) -> str:
        parts = []
        if self.since:
            parts.append(f"sys_updated_on>={self.since}")
        if self.ids:
            parts.append(f"{id_field}IN{','.join(self.ids)}")
        return ("^" + "^OR".join(parts)) if parts else ""

    def covers(self, row: Mapping[str, Any], ticket_id: str) -> bool:
        if ticket_id in self.ids:
            return True
        return bool(self.since) and value(row, "sys_updated_on") >= (self.since or "")


class _Vote:
    """A verdict and, once looked up, who made it and when."""

    __slots__ = ("verdict", "status", "user", "when", "row_id")

    def __init__(self, verdict: Verdict, status: str) -> None:
        self.verdict = verdict
        self.status = status
        self.user = ""
        self.when = ""
        self.row_id = ""
