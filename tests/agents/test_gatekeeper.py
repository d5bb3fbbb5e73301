"""The seed's gatekeeper in a group chat, on each ticketing system: the sales agent proposes a CRM
change, the ticket-backed UserProxyAgent files it (with the proposer's rationale and the last
messages) and the team ends its run with a stop reason that names the ticket instead of blocking;
the approver asks the agent a question on the ticket and gets its answer there; the approval runs
the stored call once and resumes the group chat with the outcome. With an opt-in bounded wait the
team keeps running through a short approval."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from autogen_agentchat.messages import BaseChatMessage

from connector.core.models import RequestState, Verdict
from tests.agents import teams
from tests.agents.harness import step_messages
from tests.agents.systems import ticketing
from tests.connector.service_harness import wait_until


def crm_changes(workdir):
    path = workdir / "changes.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("kind", ["local", "jira", "servicenow"])
def test_gatekeeper_group_chat_pauses_on_a_ticket_and_resumes_with_the_decision(workdir, kind):
    with ticketing(kind, workdir, "update_crm_record") as system:
        app = system.connector("app")
        try:
            conversation = app.conversation(teams.GATEKEEPER_CHAT, "deal-7", requester="sam@example.com")
            run = asyncio.run(conversation.run("Opportunity OPP-7 signed: move it to Closed Won."))
        finally:
            app.close()
        assert run.status == "waiting"
        [request] = run.waiting_on
        key = request.ticket.key
        assert run.stop_reason == f"Waiting for approval: {key} (update_crm_record)"
        chat = [m for m in run.messages if isinstance(m, BaseChatMessage)]
        assert [m.source for m in chat] == ["user", "sales_agent", "approval_gatekeeper"]
        assert chat[-1].to_text().startswith(f"Approval requested in {key}")
        assert request.tool_name == "update_crm_record" and request.arguments == teams.PROPOSAL["arguments"]
        assert request.agent == "sales_agent"
        assert "The signed order form arrived today." in request.rationale
        assert "[sales_agent] I propose this change:" in request.rationale  # the last messages
        assert crm_changes(workdir) == []

        deciding = system.connector("decider")  # the process that handles the decision
        try:
            system.ask(deciding, key, "@agent when was the order form signed?")
            asyncio.run(deciding.service.poll_once())
            answers = [c for c in system.comments(deciding, key) if "Answer from the agent" in c]
            assert len(answers) == 1 and "signed the order form on Monday" in answers[0]
            assert deciding.store.get(request.id).state is RequestState.TICKETED

            asyncio.run(system.decide(deciding, key, approve=True))
            assert deciding.store.get(request.id).state is RequestState.SUCCEEDED
            record = deciding.store.conversation("deal-7")
            assert record.status == "done" and record.version == 3
            resumed = step_messages(deciding, "deal-7", 3)
            assert resumed[0]["source"] == "approval_gatekeeper" and resumed[0]["text"].startswith(
                "APPROVED:"
            )
            assert resumed[1]["source"] == "sales_agent"
            assert resumed[1]["text"] == "Gatekeeper says SUCCEEDED; wrapping up. TERMINATE"
        finally:
            deciding.close()
        assert crm_changes(workdir) == [{"kind": "crm", **teams.PROPOSAL["arguments"]}]


def test_gatekeeper_with_a_bounded_wait_keeps_the_team_running(workdir):
    with ticketing("local", workdir, "update_crm_record") as system:
        app = system.connector("app")
        approver = system.connector("approver")

        def approve_when_ticketed():
            ticket = wait_until(lambda: approver.store.list([RequestState.TICKETED]), timeout=20)
            approver.adapters["desk"].decide(ticket[0].ticket.key, Verdict.APPROVED, "alice")

        human = threading.Thread(target=approve_when_ticketed, daemon=True)
        human.start()
        try:
            conversation = app.conversation(teams.GATEKEEPER_CHAT, "deal-8", options={"wait": 20})
            run = asyncio.run(conversation.run("Move OPP-7 to Closed Won."))
        finally:
            human.join(20)
            app.close()
            approver.close()
        assert run.status == "done" and run.waiting_on == []
        said = [(m.source, m.to_text()) for m in run.messages if isinstance(m, BaseChatMessage)]
        assert said[2][0] == "approval_gatekeeper" and said[2][1].startswith(
            "APPROVED: alice approved update_crm_record"
        )
        assert said[-1] == ("sales_agent", "Change applied; all done. TERMINATE")
        assert len(crm_changes(workdir)) == 1
