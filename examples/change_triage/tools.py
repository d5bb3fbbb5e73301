"""The triage agent's tools. ``lookup_policy`` and ``lookup_device`` read the policy file; only
``provision_software`` changes anything (it stands in for the provisioning automation: one line
in ``EXAMPLE_PROVISIONING_LOG``), and it only runs as an approved change."""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import yaml
from autogen_core import CancellationToken
from autogen_core.tools import BaseTool
from pydantic import BaseModel, Field

POLICY = Path(__file__).with_name("policy.yaml")
LOG_ENV = "EXAMPLE_PROVISIONING_LOG"


def _policy() -> dict:
    return yaml.safe_load(POLICY.read_text(encoding="utf-8"))


def lookup_policy(software: str) -> str:
    """What the IT policy says about installing a piece of software."""
    policy = _policy()
    if software in policy["forbidden"]:
        return f"{software}: forbidden by policy"
    entry = policy["software"].get(software)
    if entry is None:
        return f"{software}: not in the catalogue; a normal change with security review is needed"
    return f"{software}: {json.dumps(entry)}"


def lookup_device(asset_tag: str) -> str:
    """The configuration item (laptop) by asset tag: model, OS, owner, virtualization."""
    device = _policy()["devices"].get(asset_tag)
    return f"{asset_tag}: {json.dumps(device)}" if device else f"no device {asset_tag} in the CMDB"


class ProvisionArgs(BaseModel):
    software: str = Field(min_length=1, max_length=100, description="What to install")
    configuration_item: str = Field(pattern=r"^[A-Z]{2}-\d{3,6}$", description="Asset tag of the device")
    requested_for: str = Field(min_length=1, max_length=100, description="User the change is for")
    change_type: Literal["standard", "normal", "emergency"] = Field(description="ITIL change type")
    risk: Literal["low", "moderate", "high"]
    classification: str = Field(max_length=500, description="Why this type and risk, per the policy")
    plan: str = Field(min_length=10, max_length=4000, description="Implementation plan, step by step")
    backout_plan: str = Field(min_length=5, max_length=2000, description="How to undo it")


class ProvisionSoftware(BaseTool[ProvisionArgs, str]):
    """Runs the provisioning job for an approved change."""

    def __init__(self) -> None:
        super().__init__(
            ProvisionArgs,
            str,
            "provision_software",
            "Install software on a managed device (needs an approved change).",
        )

    async def run(self, args: ProvisionArgs, cancellation_token: CancellationToken) -> str:
        job = f"PRV-{uuid.uuid4().hex[:6].upper()}"
        record = {"job": job, "at": datetime.now(timezone.utc).isoformat(), **args.model_dump()}
        path = Path(os.environ.get(LOG_ENV, "example-provisioning.jsonl"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        return f"job {job}: {args.software} installed on {args.configuration_item} for {args.requested_for}"


provision_software = ProvisionSoftware()


def provisioned() -> list[dict]:
    path = Path(os.environ.get(LOG_ENV, "example-provisioning.jsonl"))
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
