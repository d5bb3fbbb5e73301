"""Seed use case 02, CRM record update and compliance gate: in a group chat, a sales agent looks
up an opportunity and proposes a stage change with its rationale to the ticket-backed gatekeeper
(a UserProxyAgent); the account executive approves on the ticket; the update runs once against
the example's SQLite CRM; the group chat is resumed with the outcome."""

from __future__ import annotations

from pathlib import Path

from connector.demo.examples import Example

from . import crm

EXAMPLE = Example(
    name="crm-update",
    title="CRM stage change",
    factory="examples.crm_update.team:build_team",
    task="Acme Corp sent the signed order form for OPP-1042 this morning. Update the CRM accordingly.",
    requester="sam.sales@example.com",
    rationale="Sales asked to record the signed order form for the Acme renewal.",
    configs={"local": "connector.yaml", "jira": "jira.yaml"},
    approvers={"local": "ae.morgan", "jira": "alice"},
    effect=crm.rows,
    world={crm.CRM_ENV: "crm.db"},
    prepare=crm.seed,
    folder=Path(__file__).parent,
)
