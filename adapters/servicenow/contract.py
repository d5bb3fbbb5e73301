"""ServiceNow under the contract and attack suites: the seeded simulator served on loopback (real
HTTP, signed notifications), acted on through its users as people in the instance would."""

from __future__ import annotations

from connector.app.runtime import Connector
from connector.core.models import TicketRef
from connector.testing.contract import SimulatedContractSystem, fill

from .simulator import ServiceNowSimulator, seeded_demo
from .testing import ServiceNowDriver

PREFIX = "agent-action:"
SECRET = "contract-webhook-secret-for-the-suite"
CONFIG = """
store: {url: "${store_url}"}
systems:
  servicenow:
    type: servicenow
    instance_url: ${url}
    auth: {type: basic, user_env: SN_USER, password_env: SN_PASSWORD}
    service_account: {user_name: svc_connector}
    webhook: {secret_env: SN_WEBHOOK_SECRET}
    retry: {attempts: 2, base_delay: 0.01, max_delay: 0.05}
"""
ROUTE = """    ticket:
      fields: {short_description: "Send customer e-mail to {{ args.to }}", type: normal, category: Other}
    decision:
      approved_states: ["-2"]
      rejected_states: ["4"]
      pending_states: ["-5", "-4", "-3"]
      arguments_field: u_approved_arguments
    outcome:
      transitions:
        succeeded: {path: ["-1", "0", "3"], fields: {close_code: successful, close_notes: "{{ text }}"}}
        failed: {path: ["-1", "0", "3"], fields: {close_code: unsuccessful, close_notes: "{{ text }}"}}
        rejected: {path: ["4"]}
        expired: {path: ["4"]}
"""


class ServiceNowContract(SimulatedContractSystem):
    kind = "servicenow"
    name = "servicenow"
    approver = "change.manager"
    other = "outsider"
    connector_account = "svc_connector"
    approver_spellings = ("Change.Manager", " change.manager ", "casey.manager@example.com")
    edits_on_ticket = True
    votes_possible = True

    def make_simulator(self) -> ServiceNowSimulator:
        return seeded_demo("http://127.0.0.1")

    def make_driver(self) -> ServiceNowDriver:
        return ServiceNowDriver(self.sim, arguments_field="u_approved_arguments")

    def config_text(self, store_url: str, approvers: list[str]) -> str:
        return fill(CONFIG, store_url=store_url, url=self.url) + self.route_yaml(
            "servicenow", approvers, ROUTE
        )

    def env(self) -> dict[str, str]:
        return {"SN_USER": "svc_connector", "SN_PASSWORD": "svc-password", "SN_WEBHOOK_SECRET": SECRET}

    def lose_next_create_answer(self, conn: Connector) -> None:
        self.sim.lose_answer("POST", "/table/change_request$")

    def tickets_carrying(self, request_id: str) -> int:
        return sum(1 for r in self.sim.records() if r.get("correlation_id") == PREFIX + request_id)

    def set_unmapped_status(self, ticket: TicketRef, actor: str) -> None:
        self.sim.update(ticket.key, actor, approval="cancelled")  # a value the mapping lists nowhere

    def create_decoy(self, request_id: str, actor: str) -> TicketRef:
        row = self.sim.insert(
            "change_request",
            {"short_description": "Please approve", "correlation_id": PREFIX + request_id, "type": "normal"},
            actor,
        )
        return TicketRef(system=self.name, key=row["number"], id=row["sys_id"])

    def reopen(self, ticket: TicketRef, actor: str) -> None:
        self.sim.update(ticket.key, actor, approval="requested")

    def tamper_seal(self, ticket: TicketRef, actor: str) -> None:
        self.sim.update(ticket.key, actor, correlation_display="acr1" + "A" * 72)

    def edit_description(self, ticket: TicketRef, actor: str, text: str) -> None:
        self.sim.update(ticket.key, actor, description=text)

    def point_webhooks_at(self, url: str) -> None:
        self.sim.set_webhook(url, SECRET)

    def votes_config(self, text: str) -> str:
        start = text.index("    decision:\n")
        end = text.index("    outcome:\n")
        return (
            text[:start]
            + "    decision: {source: approvers, arguments_field: u_approved_arguments}\n"
            + text[end:]
        )

    def add_person(self, name: str, group: str) -> str:
        try:
            self.sim.group_row(group)
        except KeyError:
            self.sim.add_group(group)
        self.sim.add_user(name, name=name.title(), roles=["itil"], groups=[group])
        return name

    def vote(self, ticket: TicketRef, actor: str, approve: bool = True) -> None:
        self.driver.vote(ticket, actor, approve)  # type: ignore[attr-defined]
