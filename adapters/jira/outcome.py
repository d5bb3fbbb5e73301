"""Writing the outcome back on the issue: one comment, marked with its report id by an invisible
comment property, in the same ``POST …/transitions`` as the configured transition. The
transitions come from the last re-read of the issue when there was one (``expand=transitions``),
so a webhook-path approval costs no separate ``GET …/transitions``."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connector.core.cache import TtlCache
from connector.core.errors import BadRequestError, ConfigError, ConflictError
from connector.core.models import OutcomeReport, ReportKind, TicketRef

from . import parse as p
from .render import carries_report, escape_wiki, report_body, report_properties
from .settings import JiraRouteSettings, TransitionSpec

if TYPE_CHECKING:
    from .adapter import JiraAdapter

log = logging.getLogger(__name__)

# How long the transitions read with a decision are used instead of asking again: the run in
# between is usually short; if the issue moved meanwhile, the POST is refused and they are re-read.
TRANSITIONS_KEPT = 900.0
_MENTIONABLE = re.compile(r"^[A-Za-z0-9:_.@\-]+$")  # ids safe inside [~...]

REPORT_TRANSITION = {
    ReportKind.SUCCEEDED: "on_success",
    ReportKind.FAILED: "on_failure",
    ReportKind.IN_DOUBT: "on_in_doubt",
    ReportKind.REJECTED: "on_rejection",
    ReportKind.EXPIRED: "on_expiry",
    ReportKind.UNAUTHORIZED: "on_unauthorized",
    ReportKind.SHADOW: "on_shadow",
    ReportKind.TAMPERED: "on_tampered",
    ReportKind.WINDOW_CLOSED: "on_window_closed",
}


class JiraOutcome:
    def __init__(self, adapter: JiraAdapter) -> None:
        self.adapter = adapter
        self.client = adapter.client
        self._transitions: TtlCache[str, list[dict[str, Any]]] = TtlCache(TRANSITIONS_KEPT)

    def remember_transitions(self, issue: Mapping[str, Any]) -> None:
        """Keep what a re-read with ``expand=transitions`` said the connector may do next."""
        transitions = issue.get("transitions")
        if isinstance(transitions, list) and issue.get("id"):
            self._transitions.put(str(issue["id"]), [t for t in transitions if isinstance(t, dict)])

    def _transitions_of(self, key: str, fresh: bool) -> list[dict[str, Any]]:
        if not fresh:
            kept = self._transitions.get_many([key]).get(key)
            if kept is not None:
                return kept
        return self.client.transitions(key)

    def find_transition(
        self, key: str, spec: TransitionSpec, *, fresh: bool = False
    ) -> dict[str, Any] | None:
        """By id, then transition name, then target status name (case-insensitive)."""
        wanted = spec.transition.strip().lower()
        transitions = self._transitions_of(key, fresh)
        for match in (
            lambda t: str(t.get("id")) == spec.transition.strip(),
            lambda t: str(t.get("name", "")).lower() == wanted,
            lambda t: str((t.get("to") or {}).get("name", "")).lower() == wanted,
        ):
            for transition in transitions:
                if match(transition):
                    return transition
        return None

    def _route_of_issue(self, key: str) -> JiraRouteSettings:
        routes = self.adapter.routes
        issue = self.client.issue(key, ["status", "labels"])
        name = p.route_from_labels((issue.get("fields") or {}).get("labels") or [])
        if name in routes:
            return routes[name]
        if len(routes) == 1:
            return next(iter(routes.values()))
        raise BadRequestError(
            f"{self.adapter.name}: issue {issue.get('key')} carries no route label; cannot pick its "
            "outcome settings",
            system=self.adapter.name,
        )

    def _delivered(self, key: str, report_id: str) -> bool:
        """Whether one of the connector's own comments already carries this report."""
        identities = self.adapter.service_identities()
        for comment in self.client.comments(key, with_properties=True):
            author = p.actor_from_user(comment.get("author"))
            if author is None or not (author.names() & identities):
                continue  # only the connector's own comments count as delivered reports
            if carries_report(comment, report_id):
                return True
        return False

    def mentions(self, report: OutcomeReport) -> str:
        """A line mentioning the people the report is for (Cloud ``[~accountid:…]``, DC
        ``[~name]``), groups by name; spellings Jira does not resolve are left out."""
        if not report.mentions:
            return ""
        shown = []
        for name in report.mentions:
            if name.lower().startswith("group:"):
                shown.append("group " + escape_wiki(name[6:].strip()))
                continue
            actor = self.adapter.resolve_identity(name)
            if actor is None:
                continue
            # Cloud mentions by accountId; Data Center by user name (the spelling, when it is one)
            handle = f"accountid:{actor.id}" if self.client.is_cloud else name.strip()
            if _MENTIONABLE.match(handle) and (self.client.is_cloud or "@" not in handle):
                shown.append(f"[~{handle}]")
        return "\n\nFor: " + ", ".join(shown) if shown else ""

    def reopen(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> None:
        """The configured ``on_reopen`` transition back to the waiting status, with the comment.
        Refused (retried later) when the workflow does not offer it now: the old approval must
        never count again, so the request waits until the issue is really back."""
        key = ticket.id or ticket.key
        spec = self.adapter.route(report.route).outcome.on_reopen
        if spec is None:
            raise ConfigError(f"{self.adapter.name}: route {report.route!r}: set outcome.on_reopen")
        posted = attempt > 0 and self._delivered(key, report.report_id)
        transition = self.find_transition(key, spec, fresh=True)
        if transition is None and self._waiting(key, report.route):
            # already back (an earlier attempt's transition landed, its answer or its record did
            # not): re-opening is done; only the comment may still be missing
            if not posted:
                self.client.add_comment(
                    key, report_body(report.text), properties=report_properties(report.report_id)
                )
            return
        if transition is None:
            raise ConflictError(
                f"{self.adapter.name}: {ticket.key}: transition {spec.transition!r} is not offered now; "
                "the approval is not counted, and re-opening is retried",
                system=self.adapter.name,
            )
        body, marker = report_body(report.text), report_properties(report.report_id)
        if posted:
            self.client.transition(key, str(transition["id"]), fields=spec.fields or None)
            return
        try:
            self.client.transition(
                key,
                str(transition["id"]),
                comment=body,
                comment_properties=marker,
                fields=spec.fields or None,
            )
        except BadRequestError:
            self.client.add_comment(key, body, properties=marker)
            self.client.transition(key, str(transition["id"]), fields=spec.fields or None)

    def _waiting(self, key: str, route: str) -> bool:
        """Whether the issue is in one of the route's waiting statuses (by name or id)."""
        status = (self.client.issue(key, ["status"]).get("fields") or {}).get("status") or {}
        seen = {str(status.get("name", "")).strip().lower(), str(status.get("id", "")).strip()}
        return bool(seen & {s.strip().lower() for s in self.adapter.route(route).decision.pending})

    def escalate(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> str:
        """Assign the issue as the route's ``escalation`` says and comment why (once)."""
        key = ticket.id or ticket.key
        escalation = self.adapter.route(report.route).escalation
        if escalation is None:
            raise ConfigError(f"{self.adapter.name}: route {report.route!r}: set escalation.assignee")
        self.client.assign(key, escalation.assignee)  # idempotent: the same assignee again
        if not (attempt > 0 and self._delivered(key, report.report_id)):
            text = f"{report.text}\nAssigned to {escalation.assignee}."
            self.client.add_comment(key, report_body(text), properties=report_properties(report.report_id))
        return f"assigned to {escalation.assignee}"

    def report(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> None:
        """Comment and, when final, the configured transition, in one POST where the screen
        allows. A retry (``attempt`` > 0) first looks for its report on the ticket: never twice."""
        key = ticket.id or ticket.key
        routes = self.adapter.routes
        route = routes[report.route] if report.route in routes else self._route_of_issue(key)
        outcome = route.outcome
        name = REPORT_TRANSITION.get(report.kind)
        spec: TransitionSpec | None = getattr(outcome, name) if (report.final and name) else None
        body, marker = report_body(report.text) + self.mentions(report), report_properties(report.report_id)
        internal = outcome.jsm_internal_comment
        if attempt > 0 and self._delivered(key, report.report_id):
            transition = self.find_transition(key, spec, fresh=True) if spec is not None else None
            if transition is not None and spec is not None:
                self.client.transition(key, str(transition["id"]), fields=spec.fields or None)
            return
        transition = self.find_transition(key, spec) if spec is not None else None
        if spec is not None and transition is None:
            log.warning(
                "%s: transition %r not available on %s; commenting only",
                self.adapter.name,
                spec.transition,
                ticket.key,
            )
        if transition is None or spec is None:
            self.client.add_comment(key, body, internal=internal, properties=marker)
            return
        fields = spec.fields or None
        if internal:  # JSM hides only comments posted with its property: comment, then move
            self.client.add_comment(key, body, internal=True, properties=marker)
            self.client.transition(key, str(transition["id"]), fields=fields)
            return
        try:
            self.client.transition(
                key, str(transition["id"]), comment=body, comment_properties=marker, fields=fields
            )
        except BadRequestError:
            # the screen refused the comment (or a field), or the issue moved since it was read —
            # on a retry, perhaps by this very report, an earlier POST whose answer never came
            # landing late: look again, then comment alone and move the issue as Jira offers now
            if not (attempt > 0 and self._delivered(key, report.report_id)):
                self.client.add_comment(key, body, properties=marker)
            again = self.find_transition(key, spec, fresh=True)
            if again is not None:
                self.client.transition(key, str(again["id"]), fields=fields)
