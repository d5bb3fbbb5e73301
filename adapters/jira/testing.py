"""A Jira user, as a TicketDriver: acts through the simulator's human-side helpers (a workflow
transition as that user, a comment) and reads the issue as the simulator stores it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connector.core.models import TicketRef
from connector.testing.driver import EditsNotSupported, TicketDriver
from connector.testing.systems import SimulatedSystem

from .simulator import JiraSimulator


class JiraDriver(TicketDriver):
    """``approve`` / ``reject`` are the names of the workflow's transitions out of the waiting
    status (the seeded demo project's by default). With ``arguments_field`` (the route's
    ``decision.arguments_field``) a person can approve with edits: edit the field, then approve."""

    noun = "issue"

    def __init__(
        self,
        sim: JiraSimulator,
        approve: str = "Approve",
        reject: str = "Reject",
        arguments_field: str | None = None,
    ) -> None:
        self.sim = sim
        self.approve_transition = approve
        self.reject_transition = reject
        self.arguments_field = arguments_field  # the route's decision.arguments_field, if any
        self.supports_edits = arguments_field is not None  # type: ignore[misc]

    def edit_arguments(self, ticket: TicketRef, actor: str, arguments: Any) -> None:
        """Rewrite the arguments field as ``actor`` (JSON for a dict, else the text as given)."""
        if self.arguments_field is None:
            raise EditsNotSupported("JiraDriver: the route has no decision.arguments_field")
        text = json.dumps(arguments, indent=2) if isinstance(arguments, dict) else str(arguments)
        self.sim.edit_field(ticket.key, self.arguments_field, text, actor=actor)

    def approve(self, ticket: TicketRef, actor: str, edited: dict[str, Any] | None = None) -> None:
        """With ``edited``: edit the arguments field, then approve (as the same person)."""
        self.refuse_edits(edited)
        if edited is not None:
            self.edit_arguments(ticket, actor, edited)
        self.sim.transition(ticket.key, self.approve_transition, actor=actor)

    def vote(self, ticket: TicketRef, actor: str, approve: bool = True) -> None:
        """A quorum route's vote: the vote comment (``/approve`` or ``/reject``)."""
        self.sim.comment(ticket.key, "/approve" if approve else "/reject", actor=actor)

    def reject(self, ticket: TicketRef, actor: str, reason: str) -> None:
        if reason:  # Jira's reject transition has no reason field: people say why in a comment
            self.sim.comment(ticket.key, reason, actor=actor)
        self.sim.transition(ticket.key, self.reject_transition, actor=actor)

    def users(self) -> list[str] | None:
        return sorted(self.sim.users)

    def comment(self, ticket: TicketRef, actor: str, text: str) -> None:
        self.sim.comment(ticket.key, text, actor=actor)

    def status(self, ticket: TicketRef) -> str:
        return self.sim.status_of(ticket.key)

    def describe(self, ticket: TicketRef) -> str:
        issue = self.sim.issue(ticket.key)
        head = f"{ticket.key}  [{self.status(ticket)}]  {issue.fields.get('summary')}"
        return f"{head}\n{issue.fields.get('description')}"

    def comments(self, ticket: TicketRef) -> list[str]:
        return self.sim.comment_bodies(ticket.key)


class JiraKitSystem(SimulatedSystem):
    """The seeded Jira simulator for users' tests: project OPS (Awaiting Approval → Approved /
    Rejected → Done / Failed / Cancelled), alice approves (group change-approvers), bob asks,
    mallory is an outsider; the connector is svc-approval. A config with ``pat_env`` (or
    ``deployment: datacenter``) gets a Data Center simulator."""

    kind = "jira"
    approver = "alice"
    requester = "bob"
    in_process_url = "https://jira.simulated.test"

    def make_simulator(self, base_url: str) -> JiraSimulator:
        auth = self.system.get("auth") or {}
        deployment = self.system.get("deployment", "auto")
        if deployment not in ("cloud", "datacenter"):
            deployment = "datacenter" if auth.get("pat_env") else "cloud"
        return JiraSimulator.seeded_demo(base_url, deployment)

    def make_driver(self) -> JiraDriver:
        return JiraDriver(self.sim)

    def credentials(self, system: Mapping[str, Any]) -> dict[str, str]:
        demo = self.sim.demo_env()
        auth, hook = system.get("auth") or {}, system.get("webhook") or {}
        values = {
            auth.get("email_env"): demo["JIRA_EMAIL"],
            auth.get("token_env"): demo["JIRA_API_TOKEN"],
            auth.get("pat_env"): demo["JIRA_PAT"],
            hook.get("secret_env"): demo["JIRA_WEBHOOK_SECRET"],
        }
        return {name: value for name, value in values.items() if name}

    def own_account(self) -> str:
        bot = self.sim.user("svc-approval")
        return bot.account_id if self.sim.deployment == "cloud" else bot.name

    def point_webhooks_at(self, url: str, secret: str | None) -> None:
        self.sim.register_webhook(url, secret)


KIT_SYSTEM = JiraKitSystem
