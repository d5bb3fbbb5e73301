"""A ServiceNow user, as a TicketDriver: answers the record's approval as that user (the approver
row, then the platform's roll-up), comments, and reads the record and its journal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.core.models import TicketRef
from connector.testing.driver import TicketDriver
from connector.testing.systems import SimulatedSystem

from .simulator import ServiceNowSimulator, seeded_demo

JOURNALS = ("comments", "work_notes")


class ServiceNowDriver(TicketDriver):
    """ServiceNow approvers approve or reject; they cannot change the call's arguments."""

    noun = "record"

    def __init__(self, sim: ServiceNowSimulator) -> None:
        self.sim = sim

    def approve(self, ticket: TicketRef, actor: str, edited: dict[str, Any] | None = None) -> None:
        self.refuse_edits(edited)
        self.sim.approve(ticket.key, actor)

    def reject(self, ticket: TicketRef, actor: str, reason: str) -> None:
        self.sim.reject(ticket.key, actor, reason)

    def comment(self, ticket: TicketRef, actor: str, text: str) -> None:
        self.sim.update(ticket.key, actor, comments=text)

    def status(self, ticket: TicketRef) -> str:
        return f"in state {self.sim.record(ticket.key).get('state')}"

    def describe(self, ticket: TicketRef) -> str:
        record = self.sim.record(ticket.key)
        head = f"{ticket.key}  [state {record.get('state')}]  {record.get('short_description')}"
        return f"{head}\n{record.get('description')}"

    def comments(self, ticket: TicketRef) -> list[str]:
        return [entry["value"] for entry in self.sim.journal(ticket.key) if entry["element"] in JOURNALS]


class ServiceNowKitSystem(SimulatedSystem):
    """The seeded ServiceNow simulator for users' tests: change requests approved by
    change.manager (group CAB Approval), asked for by requester, outsider may not approve; the
    connector is svc_connector (basic auth, or the OAuth client connector-client)."""

    kind = "servicenow"
    url_key = "instance_url"
    approver = "change.manager"
    requester = "requester"
    in_process_url = "https://servicenow.simulated.test"
    webhook_secret_value = "kit-webhook-secret-for-servicenow"

    def make_simulator(self, base_url: str) -> ServiceNowSimulator:
        return seeded_demo(base_url)

    def make_driver(self) -> ServiceNowDriver:
        return ServiceNowDriver(self.sim)

    def credentials(self, system: Mapping[str, Any]) -> dict[str, str]:
        auth, hook = system.get("auth") or {}, system.get("webhook") or {}
        values = {
            auth.get("user_env"): "svc_connector",
            auth.get("password_env"): "svc-password",
            auth.get("client_id_env"): "connector-client",
            auth.get("client_secret_env"): "connector-client-secret",
            hook.get("secret_env"): self.webhook_secret_value,
        }
        return {name: value for name, value in values.items() if name}

    def own_account(self) -> dict[str, str]:
        return {"user_name": "svc_connector"}

    def point_webhooks_at(self, url: str, secret: str | None) -> None:
        self.sim.set_webhook(url, secret)


KIT_SYSTEM = ServiceNowKitSystem
