"""Seed use case 05 and the design card's IT change-request triage: an agent reads a request in
plain language, checks it against the IT policy, classifies it (standard / normal / emergency,
risk, configuration item), proposes an implementation plan and files it as a ServiceNow
change_request (or a Jira Change); the change manager approves — or asks a question first, which
the agent answers on the ticket; the provisioning step runs once, the outcome becomes a work note,
and the agent is resumed to summarise what was done."""

from __future__ import annotations

from pathlib import Path

from connector.demo.examples import Example

from .tools import LOG_ENV, provisioned


def _jobs() -> list[str]:
    lines = [
        f"provisioning: {j['job']} {j['software']} on {j['configuration_item']} for {j['requested_for']} "
        f"({j['change_type']} change, risk {j['risk']})"
        for j in provisioned()
    ]
    return lines or ["provisioning: nothing ran"]


EXAMPLE = Example(
    name="change-triage",
    title="IT change triage",
    factory="examples.change_triage.team:build_team",
    task="Please install Docker Desktop on laptop LT-2291 for j.doe.",
    requester="j.doe@example.com",
    rationale="j.doe asked the IT service desk for Docker Desktop on their laptop.",
    configs={"servicenow": "servicenow.yaml", "jira": "jira.yaml"},
    approvers={"servicenow": "change.manager", "jira": "alice"},
    effect=_jobs,
    world={LOG_ENV: "provisioning.jsonl"},
    folder=Path(__file__).parent,
)
