"""Jira under the contract and attack suites: the seeded simulator served on loopback (real HTTP,
signed webhooks), acted on through its users as people (and attackers) in Jira would."""

from __future__ import annotations

from typing import Any

from connector.app.runtime import Connector
from connector.core.models import TicketRef
from connector.testing.contract import SimulatedContractSystem, fill

from .parse import request_label
from .simulator import JiraSimulator
from .testing import JiraDriver

CONFIG = """
store: {url: "${store_url}"}
systems:
  jira:
    type: jira
    url: ${url}
    auth: {email_env: JIRA_EMAIL, token_env: JIRA_API_TOKEN}
    webhook: {secret_env: JIRA_WEBHOOK_SECRET}
    retry: {attempts: 2, base_delay: 0.01, max_delay: 0.05}
"""
ROUTE = """    ticket: {project: OPS, issue_type: Task, summary: "Customer e-mail to {{ args.to }}"}
    decision:
      pending: ["Awaiting Approval"]
      approved: [Approved]
      rejected: [Rejected]
      arguments_field: customfield_10100
    outcome:
      on_success: {transition: Mark executed, fields: {resolution: {name: Done}}}
      on_failure: Mark failed
      on_rejection: Close
      on_expiry: Cancel
"""


ARGUMENTS_FIELD = "customfield_10100"  # the seeded "Approved arguments" (multi-line text)


class JiraContract(SimulatedContractSystem):
    kind = "jira"
    name = "jira"
    approver = "alice"
    other = "mallory"
    connector_account = "svc-approval"
    approver_spellings = ("alice@example.com", " Alice@Example.com ", "Alice Approver")
    edits_on_ticket = True
    votes_possible = True

    def make_simulator(self) -> JiraSimulator:
        return JiraSimulator.seeded_demo("http://127.0.0.1")

    def make_driver(self) -> JiraDriver:
        return JiraDriver(self.sim, arguments_field=ARGUMENTS_FIELD)

    def config_text(self, store_url: str, approvers: list[str]) -> str:
        return fill(CONFIG, store_url=store_url, url=self.url) + self.route_yaml("jira", approvers, ROUTE)

    def env(self) -> dict[str, str]:
        return self.sim.demo_env()

    def lose_next_create_answer(self, conn: Connector) -> None:
        self.sim.drop_create_answers = 1

    def tickets_carrying(self, request_id: str) -> int:
        label = request_label(request_id)
        return sum(1 for issue in self.sim.issues.values() if label in (issue.fields.get("labels") or []))

    def set_unmapped_status(self, ticket: TicketRef, actor: str) -> None:
        self.sim.transition(ticket.key, "Start review", actor=actor)  # "In Review": mapped nowhere

    def create_decoy(self, request_id: str, actor: str) -> TicketRef:
        issue = self.sim.create_issue(
            "OPS", "Please approve", labels=["approval-connector", request_label(request_id)], reporter=actor
        )
        return TicketRef(system=self.name, key=issue.key, id=str(issue.id))

    def reopen(self, ticket: TicketRef, actor: str) -> None:
        self.sim.transition(ticket.key, "Reopen", actor=actor)

    def tamper_seal(self, ticket: TicketRef, actor: str) -> None:
        forged: dict[str, Any] = {"request": "someone-else", "seal": "acr1:" + "0" * 64 + ":forged"}
        self.sim.set_issue_property(ticket.key, "approval-connector", forged, actor)

    def edit_description(self, ticket: TicketRef, actor: str, text: str) -> None:
        with self.sim.lock:
            self.sim.issue(ticket.key).fields["description"] = text

    def point_webhooks_at(self, url: str) -> None:
        self.sim.register_webhook(url, self.sim.demo_env()["JIRA_WEBHOOK_SECRET"])

    def add_person(self, name: str, group: str) -> str:
        self.sim.add_user(name, name.title(), f"{name}@example.com", groups={group, "jira-software-users"})
        return name

    def vote(self, ticket: TicketRef, actor: str, approve: bool = True) -> None:
        self.driver.vote(ticket, actor, approve)  # type: ignore[attr-defined]
