"""A ServiceNow user, as a TicketDriver: answers the record's approval as that user (the approver
row, then the platform's roll-up), comments, and reads the record and its journal."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connector.core.models import TicketRef
from connector.testing.driver import EditsNotSupported, TicketDriver
from connector.testing.systems import SimulatedSystem

from .simulator import ServiceNowSimulator, seeded_demo

JOURNALS = ("comments", "work_notes")


class ServiceNowDriver(TicketDriver):
    """ServiceNow approvers approve or reject; with ``arguments_field`` (the route's
    ``decision.arguments_field`` column) they can edit the call's arguments before approving."""

    noun = "record"

    def __init__(self, sim: ServiceNowSimulator, arguments_field: str | None = None) -> None:
        self.sim = sim
        self.arguments_field = arguments_field
        self.supports_edits = arguments_field is not None  # type: ignore[misc]

    def edit_arguments(self, ticket: TicketRef, actor: str, arguments: Any) -> None:
        """Rewrite the arguments column as ``actor`` (JSON for a dict, else the text as given)."""
        if self.arguments_field is None:
            raise EditsNotSupported("ServiceNowDriver: the route has no decision.arguments_field")
        text = json.dumps(arguments, indent=2) if isinstance(arguments, dict) else str(arguments)
        self.sim.update(ticket.key, actor, **{self.arguments_field: text})

    def approve(self, ticket: TicketRef, actor: str, edited: dict[str, Any] | None = None) -> None:
        """With ``edited``: edit the arguments column, then approve (as the same person)."""
        self.refuse_edits(edited)
        if edited is not None:
            self.edit_arguments(ticket, actor, edited)
        self.sim.approve(ticket.key, actor)

    def vote(self, ticket: TicketRef, actor: str, approve: bool = True) -> None:
        """A quorum route's vote: the person's approver row."""
        (self.sim.approve if approve else self.sim.reject)(ticket.key, actor)

    def reject(self, ticket: TicketRef, actor: str, reason: str) -> None:
        self.sim.reject(ticket.key, actor, reason)

    def users(self) -> list[str] | None:
        return sorted(row["user_name"] for row in self.sim.rows["sys_user"].values())

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
