"""examples/crm_update: the seed's gatekeeper in a group chat. Two processes: the sales agent
looks the opportunity up and proposes the stage change, the gatekeeper files it and the team stops;
the account executive approves in another process, where the update runs once against the
example's SQLite CRM and the group chat is resumed. Also on Jira, rejected and revised."""

from __future__ import annotations

import re
import sqlite3

from connector.demo.examples import run_example
from tests.examples.conftest import config_for, example, ok


def stage(world, opportunity="OPP-1042"):
    with sqlite3.connect(world / "crm.db") as db:
        return db.execute("SELECT stage FROM opportunities WHERE id = ?", (opportunity,)).fetchone()[0]


def test_gatekeeper_files_the_change_and_the_account_executive_approves_in_another_process(world):
    config = config_for("crm_update", "connector.yaml", world)
    started = ok(example("crm_update", "start", "--config", str(config), cwd=world))
    assert "[sales_agent] calls lookup_opportunity(" in started
    assert "[approval_gatekeeper] Approval requested in LOCAL-1" in started
    assert "Waiting for approval: LOCAL-1 (update_opportunity_stage)" in started
    conversation = re.search(r"conversation (crm-update-\w+): waiting", started).group(1)
    assert stage(world) == "Negotiation"

    refused = example(
        "crm_update", "approve", "LOCAL-1", "--as", "sam.sales", "--config", str(config), cwd=world
    )
    assert refused.returncode == 5 and "not an allowed approver" in refused.stdout + refused.stderr
    assert stage(world) == "Negotiation"

    approved = ok(
        example("crm_update", "approve", "LOCAL-1", "--as", "ae.morgan", "--config", str(config), cwd=world)
    )
    assert "Approved by ae.morgan" in approved and "stage Negotiation -> Closed Won" in approved
    assert stage(world) == "Closed Won"
    shown = ok(
        example("crm_update", "conversations", "show", conversation, "--config", str(config), cwd=world)
    )
    assert "[done]" in shown
    assert "[approval_gatekeeper] TextMessage: APPROVED: ae.morgan approved update_opportunity_stage" in shown
    assert "[sales_agent] TextMessage: The CRM is updated as approved. TERMINATE" in shown


def test_on_jira_a_rejection_is_revised_by_the_sales_agent(world):
    run = run_example(
        "crm-update", "jira", ("reject", "No PO yet: Commit, not Closed Won."), folder=world / "jira"
    )
    assert run.status == "done" and run.tickets == ["OPS-1", "OPS-2"]
    assert "CRM: OPP-1042 Acme renewal 2026: Commit" in run.effect
