"""ServiceNow as a ticketing system: one record per request (correlation field = request id, seal
column = the ticket seal), decisions read from the record's approval/state columns (with the
actor from sys_audit) or from its sysapproval_approver rows (``decide``), found by one query per
poll (``poll``), outcomes written as journal entries and state moves (``outcome``)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import requests

from connector.core.adapter import AdapterContext, TicketAdapter
from connector.core.errors import (
    AdapterError,
    AmbiguousCreate,
    BadRequestError,
    ConfigError,
    WebhookRejected,
)
from connector.core.models import (
    Actor,
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

from . import approvals, render, reread, timing
from . import webhook as hooks
from .client import ServiceNowClient
from .decide import ServiceNowDecisions, safe
from .outcome import ServiceNowOutcome
from .parse import compact_seal, value
from .poll import ServiceNowPoll
from .settings import OutcomeSettings, ServiceNowRouteSettings, ServiceNowSystemSettings

log = logging.getLogger(__name__)

_TABLE_IN_URL = re.compile(r"/([a-z][a-z0-9_]*)\.do\?sys_id=([0-9A-Za-z]+)")


class ServiceNowAdapter(TicketAdapter):
    """Translate between the connector and the ServiceNow Table API."""

    kind = "servicenow"
    seals_tickets = True
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
        now: Callable[[], float] | None = None,  # seconds; default: connector.core.clock
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
        self.decisions = ServiceNowDecisions(self)
        self.polling = ServiceNowPoll(self)
        self.outcome = ServiceNowOutcome(self)

    # --- helpers ---------------------------------------------------------------------------------------
    def route(self, name: str) -> ServiceNowRouteSettings:
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

    def table_of(self, ticket: TicketRef) -> str:
        match = _TABLE_IN_URL.search(ticket.url)
        if match:
            return match.group(1)
        tables = {r.ticket.table for r in self.routes.values()}
        if len(tables) == 1:
            return next(iter(tables))
        raise ConfigError(f"{self.name}: cannot tell which table ticket {ticket.key} is in")

    def outcome_for(self, table: str, report: OutcomeReport) -> OutcomeSettings:
        """The outcome settings of the report's route; for a report that names none, those every
        route on the table agrees on (checked here, loudly)."""
        if report.route:
            return self.route(report.route).outcome
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
        if not request_id or not safe(request_id) or len(request_id) > 60:
            raise BadRequestError(
                f"{self.name}: request id {request_id!r} cannot be stored in a correlation field"
            )
        return route.ticket.correlation_prefix + request_id

    @staticmethod
    def record_fields(route: ServiceNowRouteSettings) -> list[str]:
        """What every decision read asks of a record (the seal column included)."""
        d, t = route.decision, route.ticket
        fields = ["sys_id", "number", t.correlation_field, t.seal_field]
        fields += ["sys_updated_on", "sys_updated_by", "sys_mod_count"]
        for name in (d.approval_field, d.state_field, d.arguments_field):
            if name and name not in fields:
                fields.append(name)
        return fields

    def needs_groups(self, route: ServiceNowRouteSettings, route_name: str) -> bool:
        """Groups cost one more query (cached per person): only when the route names a group."""
        return route.needs_groups or self.context.needs_groups(route_name)

    # --- tickets ---------------------------------------------------------------------------------------
    def create_ticket(self, request: ApprovalRequest) -> TicketRef:
        """Exactly one record per request: POST once (the core looks the record up first on a
        retry), and after a failed POST look again before giving up. The request id and the seal
        are written with the record, and the answer must show both kept."""
        route = self.route(request.route)
        ticket = route.ticket
        try:
            values = render.record_values(request, ticket)
        except TemplateRenderError as exc:
            raise BadRequestError(f"{self.name}: route {request.route}: {exc}", system=self.name) from None
        expected = self._correlation(route, request.id)
        values[ticket.correlation_field] = expected
        values[ticket.seal_field] = compact_seal(request.ticket_seal)
        timing.create_values(request, route, values)
        approvals.create_values(request, route, values)
        shown = ["sys_id", "number", ticket.correlation_field, ticket.seal_field]
        template = timing.uses_template(request, route)
        try:
            if template:  # a pre-approved standard change, from its template (Change Management API)
                record = self.client.create_standard(template, values)
            else:
                record = self.client.create(ticket.table, values, shown)
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
        for column, what, wanted in (
            (ticket.correlation_field, "the request id", expected),
            (ticket.seal_field, "the ticket seal (76 characters)", values[ticket.seal_field]),
        ):
            if value(record, column) != wanted:
                raise BadRequestError(
                    f"{self.name}: record {value(record, 'number')} was created but {ticket.table}."
                    f"{column} did not keep {what}; does the column exist, and is it long enough? "
                    f"(run check-config --live)",
                    system=self.name,
                )
        return self._ref(ticket.table, record)

    def find_ticket(self, request: ApprovalRequest) -> TicketRef | None:
        """Only to recover a lost create answer: a record of the configured table that the
        connector's account created and that carries the request's correlation value, both
        re-checked on the answer (a misspelt column is silently dropped from a query)."""
        route = self.route(request.route)
        ticket = route.ticket
        expected = self._correlation(route, request.id)
        mine = self.settings.service_account.user_name
        rows = self.client.list(
            ticket.table,
            f"{ticket.correlation_field}={expected}^sys_created_by={mine}^ORDERBYsys_created_on",
            ["sys_id", "number", ticket.correlation_field, "sys_created_by", "sys_created_on"],
            limit=20,
            max_pages=1,
        )
        matches = [
            r
            for r in rows
            if value(r, ticket.correlation_field) == expected and value(r, "sys_created_by") == mine
        ]
        if len(matches) > 1:
            log.warning(
                "%s: %d records carry request %s; using the oldest", self.name, len(matches), request.id
            )
        return self._ref(ticket.table, matches[0]) if matches else None

    def read_decision(self, ticket: TicketRef, request: ApprovalRequest) -> TicketDecision:
        """The record by its stored sys_id and who decided, read together in one call."""
        route = self.route(request.route)
        record, rows = reread.record_and_rows(self, route, ticket.id)
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
        decided = self.decisions.decide(route, [record], self.needs_groups(route, request.route), rows)
        return decided[ticket.id]

    def poll(self, pending: Sequence[PendingTicket], cursor: str | None) -> PollResult:
        return self.polling.poll(pending, cursor)

    def resolve_identity(self, name: str) -> Actor | None:
        return self.decisions.resolve(name)

    # --- outcomes --------------------------------------------------------------------------------------
    def report(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> None:
        self.outcome.report(ticket, report, attempt)

    def questions(
        self, ticket: TicketRef, request: ApprovalRequest, since: datetime | None
    ) -> list[Question]:
        """Work notes and comments on the record since ``since`` by anyone but the connector's own
        account, authors resolved like approvers (sys_user, groups when the route needs them)."""
        route = self.route(request.route)
        return self.decisions.questions(ticket, since, self.needs_groups(route, request.route))

    # --- timing ----------------------------------------------------------------------------------------
    def read_window(
        self, ticket: TicketRef, request: ApprovalRequest
    ) -> tuple[datetime | None, datetime | None]:
        return timing.read_window(self, ticket, request)

    def escalate(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> str:
        return timing.escalate(self, ticket, report, attempt)

    def reopen(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> None:
        timing.reopen(self, ticket, report, attempt)

    def timing_problem(self, feature: str, route: str) -> str | None:
        return timing.problem(self, feature, route) or super().timing_problem(feature, route)

    def votes_problem(self, route: str) -> str | None:
        if self.route(route).decision.source != "approvers":
            return "set decision.source: approvers (votes are the record's sysapproval_approver rows)"
        return None

    def accepts_edits(self, route: str) -> bool:
        """Approve-with-edits needs the route's ``decision.arguments_field``."""
        settings = self.routes.get(route)
        return settings is not None and settings.decision.arguments_field is not None

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
        except ConfigError:  # the operator's misconfiguration, not the sender's fault
            raise WebhookRejected("webhook secret not configured", status=503) from None

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

    def call_budget(self) -> float:
        return self.client.call_budget()

    def close(self) -> None:
        self.client.close()
