"""Tools the demo and the example configs gate. They have real, checkable effects (a line in a
local mailbox / change log file) and real argument schemas, but reach no network."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Literal

from autogen_core import CancellationToken
from autogen_core.tools import BaseTool
from pydantic import BaseModel, Field

from connector.core.models import utcnow

MAILBOX_ENV = "APPROVAL_CONNECTOR_DEMO_MAILBOX"
CHANGELOG_ENV = "APPROVAL_CONNECTOR_DEMO_CHANGELOG"


def _append(path_env: str, default: str, record: dict) -> None:
    path = Path(os.environ.get(path_env, default))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def read_jsonl(path_env: str, default: str) -> list[dict]:
    path = Path(os.environ.get(path_env, default))
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def mailbox() -> list[dict]:
    return read_jsonl(MAILBOX_ENV, "approval-connector-mailbox.jsonl")


class SendEmailArgs(BaseModel):
    to: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", description="Recipient e-mail address")
    subject: str = Field(min_length=1, max_length=200, description="Subject line")
    body: str = Field(min_length=1, max_length=20000, description="Plain-text body")
    cc: list[str] = Field(default_factory=list, description="Copy recipients")


class SendEmailTool(BaseTool[SendEmailArgs, str]):
    """Delivers to the local demo mailbox file (APPROVAL_CONNECTOR_DEMO_MAILBOX)."""

    def __init__(self) -> None:
        super().__init__(SendEmailArgs, str, "send_email", "Send an e-mail to a customer.")

    async def run(self, args: SendEmailArgs, cancellation_token: CancellationToken) -> str:
        return deliver_email(args)


def deliver_email(args: SendEmailArgs) -> str:
    """The e-mail, into the demo mailbox (the AutoGen and the MAF send_email both deliver here)."""
    message_id = f"<{uuid.uuid4().hex[:12]}@demo.invalid>"
    record = {"message_id": message_id, "sent_at": utcnow().isoformat(), **args.model_dump()}
    _append(MAILBOX_ENV, "approval-connector-mailbox.jsonl", record)
    return f"sent to {args.to} as {message_id}"


class UpdateCrmArgs(BaseModel):
    record_id: str = Field(pattern=r"^[A-Za-z0-9-]{3,40}$", description="CRM record id")
    field: Literal["stage", "owner", "note", "amount"] = Field(description="Field to change")
    value: str = Field(min_length=1, max_length=2000, description="New value")


class UpdateCrmTool(BaseTool[UpdateCrmArgs, str]):
    """Writes the change to the demo change log (APPROVAL_CONNECTOR_DEMO_CHANGELOG)."""

    def __init__(self) -> None:
        super().__init__(UpdateCrmArgs, str, "update_crm_record", "Update one field of a CRM record.")

    async def run(self, args: UpdateCrmArgs, cancellation_token: CancellationToken) -> str:
        _append(CHANGELOG_ENV, "approval-connector-changes.jsonl", {"kind": "crm", **args.model_dump()})
        return f"record {args.record_id}: {args.field} set"


class ApplyChangeArgs(BaseModel):
    summary: str = Field(min_length=5, max_length=160, description="One-line summary of the change")
    plan: str = Field(min_length=10, max_length=8000, description="Implementation plan, step by step")
    category: Literal["software", "access", "network", "hardware", "other"] = "software"
    risk: Literal["low", "moderate", "high"] = "moderate"
    configuration_item: str = Field(default="", max_length=100, description="Affected CI name")
    requested_for: str = Field(default="", max_length=100, description="User the change is for")


class ApplyChangeTool(BaseTool[ApplyChangeArgs, str]):
    """Records the provisioning step in the demo change log (stands in for automation)."""

    def __init__(self) -> None:
        super().__init__(ApplyChangeArgs, str, "apply_change", "Carry out an approved IT change.")

    async def run(self, args: ApplyChangeArgs, cancellation_token: CancellationToken) -> str:
        _append(CHANGELOG_ENV, "approval-connector-changes.jsonl", {"kind": "change", **args.model_dump()})
        return f"change applied: {args.summary}"


send_email = SendEmailTool()
update_crm_record = UpdateCrmTool()
apply_change = ApplyChangeTool()
