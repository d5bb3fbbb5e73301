"""JiraAdapter: approval issues in Jira Cloud or Data Center. It translates between the connector's
records and Jira's REST v2; it owns no state machine and no loop (the service and scheduler do)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from connector.core.adapter import AdapterContext, TicketAdapter
from connector.core.arguments_text import proposal_text
from connector.core.errors import (
    AdapterError,
    AmbiguousCreate,
    BadRequestError,
    ConfigError,
    UnavailableError,
)
from connector.core.http import RetryPolicy
from connector.core.models import (
    Actor,
    ApprovalRequest,
    CheckResult,
    OutcomeReport,
    PendingTicket,
    PollResult,
    Question,
    TicketDecision,
    TicketRef,
    Verdict,
    Vote,
)
from connector.core.templates import TemplateRenderError, render, ticket_context

from . import check as checks
from . import jql, timing
from . import parse as p
from . import poll as polling
from .approvals import edit_update, jsm_votes, plain_votes, with_groups
from .client import JiraClient
from .hooks import JiraWebhooks
from .identity import JiraDirectory
from .outcome import JiraOutcome
from .questions import comment_questions
from .render import build_description, build_summary
from .settings import JiraRouteSettings, JiraSystemSettings, TicketSettings

log = logging.getLogger(__name__)

ISSUE_FIELDS = ["status", "labels", "comment", "resolution"]
SEALED = [p.SEAL_PROPERTY]  # the entity property read back with every decision
TEXTAREA_LIMIT = 32767  # what a multi-line text field keeps (longer arguments: no edit possible)


class JiraAdapter(JiraWebhooks, TicketAdapter):
    """One configured Jira instance (``type: jira``)."""

    kind = "jira"
    seals_tickets = True
    system_settings = JiraSystemSettings
    route_settings = JiraRouteSettings

    settings: JiraSystemSettings
    routes: dict[str, JiraRouteSettings]

    def __init__(
        self,
        name: str,
        settings: JiraSystemSettings,
        routes: Mapping[str, JiraRouteSettings],
        context: AdapterContext,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        super().__init__(name, settings, routes, context)
        self.client = JiraClient(settings, name, context, policy=policy, sleep=sleep)
        self.sleep = sleep
        self._field_index: dict[str, str] | None = None
        self._identities: frozenset[str] | None = None
        self.ambiguous_grace = settings.create_grace_seconds  # a lost create answer blocks re-creating
        self.directory = JiraDirectory(self.client, settings.identity_cache_seconds)
        self.outcome = JiraOutcome(self)

    # --- helpers ----------------------------------------------------------------------------------
    def route(self, name: str) -> JiraRouteSettings:
        try:
            return self.routes[name]
        except KeyError:
            raise ConfigError(f"{self.name}: route {name!r} is not configured for this system") from None

    def ticket_settings(self, name: str) -> TicketSettings:
        ticket = self.route(name).ticket
        if ticket is None:
            raise BadRequestError(
                f"{self.name}: route {name!r} has no ticket settings (ticket.project ...)", system=self.name
            )
        return ticket

    def field_id(self, key: str) -> str:
        """customfield ids pass through; display names are resolved once through GET /field."""
        if key.startswith("customfield_") or key in ("summary", "description", "labels", "priority"):
            return key
        if self._field_index is None:
            index: dict[str, str] = {}
            for field in self.client.fields():
                index.setdefault(str(field.get("name", "")).lower(), str(field["id"]))
                index.setdefault(str(field["id"]).lower(), str(field["id"]))
            self._field_index = index
        try:
            return self._field_index[key.lower()]
        except KeyError:
            raise BadRequestError(f"{self.name}: no Jira field named {key!r}", system=self.name) from None

    def _user_ref(self, who: str) -> dict[str, str]:
        return {"accountId": who} if self.client.is_cloud else {"name": who}

    def issue_url(self, key: str) -> str:
        return f"{self.settings.url}/browse/{key}"

    def _ref(self, issue: Mapping[str, Any]) -> TicketRef:
        key = str(issue["key"])
        return TicketRef(system=self.name, key=key, id=str(issue.get("id") or ""), url=self.issue_url(key))

    # --- tickets ----------------------------------------------------------------------------------
    def issue_fields(self, request: ApprovalRequest) -> dict[str, Any]:
        """The create body's ``fields`` (REST v2: description is wiki markup, not ADF)."""
        t = self.ticket_settings(request.route)
        try:
            fields: dict[str, Any] = {
                "project": {"key": t.project},
                "issuetype": {"id": t.issue_type} if t.issue_type.isdigit() else {"name": t.issue_type},
                "summary": build_summary(request, t.summary),
                "description": build_description(request, t.description),
            }
            labels = [self.settings.label, p.request_label(request.id), p.route_label(request.route)]
            fields["labels"] = labels + [lb for lb in t.labels if lb not in labels]
            if t.priority:
                fields["priority"] = {"id": t.priority} if t.priority.isdigit() else {"name": t.priority}
            if t.components:
                fields["components"] = [{"id": c} if c.isdigit() else {"name": c} for c in t.components]
            if t.assignee:
                fields["assignee"] = self._user_ref(t.assignee)
            if t.reporter:
                fields["reporter"] = self._user_ref(t.reporter)
            context = ticket_context(request)
            for key, value in t.fields.items():
                fields[self.field_id(key)] = _render_value(value, context)
        except TemplateRenderError as exc:
            raise BadRequestError(f"{self.name}: route {request.route!r}: {exc}", system=self.name) from None
        if self.settings.request_id_field:
            fields[self.field_id(self.settings.request_id_field)] = request.id
        arguments_field = self.route(request.route).decision.arguments_field
        proposal = proposal_text(request.arguments, TEXTAREA_LIMIT) if arguments_field else ""
        if arguments_field and proposal:  # the proposal, where an approver may edit it
            fields[self.field_id(arguments_field)] = proposal
        return fields

    def issue_fields_read(self, routes: Sequence[JiraRouteSettings]) -> list[str]:
        """What a decision read asks of an issue: the arguments fields of these routes too."""
        extra = [self.field_id(r.decision.arguments_field) for r in routes if r.decision.arguments_field]
        return ISSUE_FIELDS + sorted(set(extra) - set(ISSUE_FIELDS))

    def create_ticket(self, request: ApprovalRequest) -> TicketRef:
        """One POST. After a lost answer the issue may exist but not be searchable yet: look a few
        times, then say so (AmbiguousCreate) and let the core hold off re-creating, on every
        replica, for ``create_grace`` seconds."""
        fields = self.issue_fields(request)
        sealed = [p.seal_property(request.id, request.ticket_seal)]  # set with the issue, atomically
        try:
            created = self.client.create_issue(fields, sealed)
        except UnavailableError as exc:
            found = self._find_with_patience(request)
            if found is not None:
                return found
            raise AmbiguousCreate(
                f"{self.name}: the create for request {request.id} may have landed ({exc}); "
                "not creating a second issue until it can be looked up",
                system=self.name,
            ) from None
        return self._ref(created)

    def create_grace(self) -> float:
        return self.ambiguous_grace

    def _find_with_patience(self, request: ApprovalRequest) -> TicketRef | None:
        policy = self.client.retry
        for attempt in range(max(1, policy.attempts)):
            try:
                found = self.find_ticket(request)
            except UnavailableError:
                found = None
            if found is not None:
                return found
            wait = policy.delay(attempt, None)
            if wait is None:
                break
            self.sleep(wait)
        return None

    def find_ticket(self, request: ApprovalRequest) -> TicketRef | None:
        """Only to recover a lost create answer: an issue in the route's project that the
        connector's own account created and that carries the request label (or the configured
        request-id field), each re-checked on the answer; the oldest wins if several."""
        project = self.ticket_settings(request.route).project
        label = p.request_label(request.id)
        carries = f"labels = {jql.quote(label)}"
        fields = ["labels", "creator", "reporter"]
        field_id = None
        if self.settings.request_id_field:
            field_id = self.field_id(self.settings.request_id_field)
            clause = (
                f"cf[{field_id.removeprefix('customfield_')}]"
                if field_id.startswith("customfield_")
                else field_id
            )
            carries = f"({carries} OR {clause} ~ {jql.quote(jql.quote(request.id))})"
            fields.append(field_id)
        own = self.service_identities()
        matches = []
        for issue in self.client.search(f"project = {jql.quote(project)} AND {carries}", fields):
            f = issue.get("fields") or {}
            if not (label in (f.get("labels") or []) or (field_id and f.get(field_id) == request.id)):
                continue  # the query said so, the answer does not: not this request's issue
            creator = p.created_by(issue)
            if creator is None or not (creator.names() & own):
                continue  # someone else's issue carrying the label (a decoy) is never ours
            matches.append(issue)
        if not matches:
            return None
        oldest = min(matches, key=lambda i: int(i["id"]) if str(i.get("id", "")).isdigit() else 0)
        return self._ref(oldest)

    # --- decisions --------------------------------------------------------------------------------
    def _decide(
        self, issue: Mapping[str, Any], route: JiraRouteSettings, route_name: str, request_id: str
    ) -> TicketDecision:
        """The decision the issue shows, who made it, and the seal it carries for the request."""
        status = p.status_of(issue)
        key = str(issue.get("key") or issue.get("id"))
        histories = p.histories_of(issue)
        votes: list[Vote] | None = None
        if route.decision.mode == "jsm":
            approvals = self.client.jsm_approvals(key)
            decision = p.decision_from_approvals(approvals, status, route.decision)
            votes = jsm_votes(approvals)
        else:
            if p.verdict_for(status, route.decision) is not Verdict.PENDING and (
                p.change_into(histories, status) is None and not p.changelog_complete(issue)
            ):
                histories = self.client.changelog(key)  # search/issue expand can be truncated
            decision = p.decision_from_issue(issue, route.decision, histories, self._known_identities())
            if route_name in self.context.vote_routes:
                votes = plain_votes(issue, route.decision, histories)
        groups = route.decision.fetch_groups or self.context.needs_groups(route_name)
        if decision.actor is not None and groups:
            decision = decision.model_copy(update={"actor": self.directory.with_groups(decision.actor)})
        if votes is not None and route_name in self.context.vote_routes:
            decision.votes = with_groups(votes, self.directory.with_groups) if groups else votes
        decision = decision.model_copy(update=self._edit(issue, route, key, histories))
        return decision.model_copy(
            update={"ticket_id": str(issue.get("id") or ""), "shown_seal": p.shown_seal(issue, request_id)}
        )

    def _edit(
        self, issue: Mapping[str, Any], route: JiraRouteSettings, key: str, histories: list[Any]
    ) -> dict[str, Any]:
        """The arguments field's edit and its changelog author (the full changelog if cut)."""
        if not route.decision.arguments_field:
            return {}
        field = self.field_id(route.decision.arguments_field)
        update = edit_update(issue, field, route.decision.arguments_field, histories)
        if update and update["edited_by"] is None and not p.changelog_complete(issue):
            update = edit_update(issue, field, route.decision.arguments_field, self.client.changelog(key))
        return update

    def read_decision(self, ticket: TicketRef, request: ApprovalRequest) -> TicketDecision:
        """One GET: status, changelog, the seal property, and the transitions the report will
        need (kept for it, so the outcome costs one POST)."""
        route = self.route(request.route)
        fields = self.issue_fields_read([route])
        issue = self.client.issue(
            ticket.id or ticket.key, fields, expand="changelog,transitions", properties=SEALED
        )
        self.outcome.remember_transitions(issue)
        return self._decide(issue, route, request.route, request.id)

    def poll(self, pending: Sequence[PendingTicket], cursor: str | None) -> PollResult:
        """One search for all waiting tickets of this system (see poll.py)."""
        return polling.poll(self, pending, cursor)

    def _known_identities(self) -> frozenset[str]:
        return self._identities or frozenset({self.settings.service_account} - {None})

    def votes_problem(self, route: str) -> str | None:
        return None  # vote comments (plain) or the JSM approval's approvers

    def accepts_edits(self, route: str) -> bool:
        """Approve-with-edits needs the route's ``decision.arguments_field``."""
        settings = self.routes.get(route)
        return settings is not None and settings.decision.arguments_field is not None

    def service_identities(self) -> frozenset[str]:
        """The connector account's names (config and GET /myself, cached). Raises when nothing is
        known: an unknown bot identity must not let the bot's own changes count."""
        if self._identities is not None:
            return self._identities
        configured = {self.settings.service_account} - {None}
        try:
            me = self.client.myself()
        except AdapterError:
            if configured:
                return frozenset(configured)  # type: ignore[arg-type]
            raise
        actor = p.actor_from_user(me)
        names = set(configured) | (set(actor.names()) if actor else set())
        self._identities = frozenset(names)  # type: ignore[arg-type]
        return self._identities

    def resolve_identity(self, name: str) -> Actor | None:
        return self.directory.resolve(name)

    def questions(
        self, ticket: TicketRef, request: ApprovalRequest, since: datetime | None
    ) -> list[Question]:
        return comment_questions(self, ticket, request, since)

    # --- outcome ----------------------------------------------------------------------------------
    def report(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> None:
        self.outcome.report(ticket, report, attempt)

    # --- timing -----------------------------------------------------------------------------------
    def escalate(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> str:
        return self.outcome.escalate(ticket, report, attempt)

    def reopen(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> None:
        self.outcome.reopen(ticket, report, attempt)

    def read_window(
        self, ticket: TicketRef, request: ApprovalRequest
    ) -> tuple[datetime | None, datetime | None]:
        return timing.read_window(self, ticket, request)

    def timing_problem(self, feature: str, route: str) -> str | None:
        return timing.problem(self, feature, route) or super().timing_problem(feature, route)

    # --- operations -------------------------------------------------------------------------------
    def check(self, live: bool) -> list[CheckResult]:
        return checks.run(self, live)

    def call_budget(self) -> float:
        return self.client.call_budget()

    def close(self) -> None:
        self.client.close()


def _render_value(value: Any, context: dict[str, Any]) -> Any:
    """Custom-field values: strings are templates; lists and objects are rendered leaf by leaf."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, list):
        return [_render_value(v, context) for v in value]
    if isinstance(value, dict):
        return {k: _render_value(v, context) for k, v in value.items()}
    return value
