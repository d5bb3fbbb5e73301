"""Microsoft Agent Framework agents through the ticket gate, with a scripted chat client (no
network): the gated tool answers "pending" at once and the run stops there; the decision, taken
in another process, runs the stored call once and resumes the agent's session — or the
workflow from its checkpoint, the paused call answered with the real result — and the agent
hears it."""

from __future__ import annotations

import json

from agent_framework import Agent, tool

from connector.agents.maf.gate import awaiting_approval
from connector.core.models import RequestState, Verdict
from connector.demo.maf import send_email
from connector.testing.maf_client import ScriptedChatClient
from tests.agents.harness import CONFIG, cli_args, connector, finished, spawn, step_messages
from tests.agents.maf_agents import EMAIL, FACTORIES, REVISED
from tests.conftest import sent_mail


def write_config(workdir):
    path = workdir / "maf.yaml"
    text = CONFIG.format(url=f"sqlite:///{workdir / 'maf.db'}", lease="2s")
    path.write_text(text.replace("connector.demo.tools:send_email", "connector.demo.maf:send_email"))
    return path


def test_session_and_workflow_wait_in_one_process_and_resume_in_another(workdir):
    config = write_config(workdir)
    out, _ = finished(spawn("-m", "tests.agents.maf_proc", str(config), "session,workflow", cwd=workdir))
    started = json.loads(out.strip().splitlines()[-1])
    tickets = {}
    for kind, run in started.items():
        assert run["status"] == "waiting", run
        assert run["stop_reason"].startswith("Waiting for approval: LOCAL-"), run
        [tickets[kind]] = run["waiting_on"]
    assert sent_mail(workdir) == []  # nothing ran before the decision

    conn = connector(config)
    try:
        heard = [m["text"] for m in step_messages(conn, "maf-session", 1)]
        assert any("Status: pending human approval" in text for text in heard)
        assert heard[-1].startswith("result of call_1: Approval requested in")  # the run stopped there
    finally:
        conn.close()

    out, _ = finished(spawn(*cli_args(config, "approve", tickets["session"], "--as", "alice"), cwd=workdir))
    assert "executed" in out
    conn = connector(config)
    conn.adapters["desk"].decide(tickets["workflow"], Verdict.APPROVED, "carol")  # a lead, in the desk
    conn.close()
    finished(spawn(*cli_args(config, "poll", "--once"), cwd=workdir))

    conn = connector(config)
    try:
        mails = sent_mail(workdir)
        assert [m["to"] for m in mails] == ["jane@example.com", "jane@example.com"]  # each ran once
        for kind in FACTORIES:
            record = conn.store.conversation(f"maf-{kind}")
            assert (record.status, record.version, record.awaiting) == ("done", 2, []), (kind, record)
            request = conn.store.resolve(tickets[kind])
            rows = [r["event"] for r in conn.store.audit.rows(conn.store.engine, request.id)]
            assert rows.count("conversation_resumed") == 1 and rows.count("succeeded") == 1
        session = step_messages(conn, "maf-session", 2)
        assert session[0]["source"] == "approval_gatekeeper"
        assert session[0]["text"].startswith(f"APPROVED: alice approved send_email in {tickets['session']}")
        assert session[-1]["text"].startswith("Heard: APPROVED: alice approved send_email")
        sent = next(m for m in mails if m["message_id"] in session[-1]["text"])
        assert sent["subject"] == EMAIL["subject"]
        [output] = step_messages(conn, "maf-workflow", 2)  # the tool's own result, in place
        assert output["text"].startswith("Reported: sent to jane@example.com as <")
    finally:
        conn.close()


async def test_a_rejected_call_resumes_the_session_which_proposes_a_revision(workdir):
    config = write_config(workdir)
    conn = connector(config)
    try:
        conversation = conn.maf_conversation(FACTORIES["session"], "maf-revise", requester="jane@example.com")
        first = await conversation.run("Send Jane the refund e-mail.")
        [waiting] = first.waiting_on
        conn.adapters["desk"].decide(waiting.ticket.key, Verdict.REJECTED, "alice", "add the order number")
        await conn.poll_once()
        await conn.process_outbox()
        [revision] = conn.store.conversation("maf-revise").awaiting
        assert conn.store.get(revision).arguments["body"] == REVISED["body"]
        assert conn.store.link(revision).revision_of == waiting.id
        conn.adapters["desk"].decide(conn.store.get(revision).ticket.key, Verdict.APPROVED, "alice")
        await conn.poll_once()
        await conn.process_outbox()
        record = conn.store.conversation("maf-revise")
        assert (record.status, record.version) == ("done", 3)
        assert [m["body"] for m in sent_mail(workdir)] == [REVISED["body"]]
    finally:
        conn.close()


async def test_the_stop_middleware_lets_other_calls_of_the_same_turn_run(connector, workdir):
    looked_up = []

    @tool
    def lookup(name: str) -> str:
        """Read-only look-up."""
        looked_up.append(name)
        return f"{name}@example.com"

    turns = [("calls", [("c1", "lookup", {"name": "jane"}), ("c2", "send_email", EMAIL)]), ("text", "never")]
    client = ScriptedChatClient(turns)
    agent = Agent(
        client=client,
        name="support",
        tools=[lookup, connector.gate(send_email)],
        middleware=[awaiting_approval()],
    )
    response = await agent.run("mail jane", session=agent.create_session())
    [request] = connector.store.list()
    assert looked_up == ["jane"] and len(client.seen) == 1  # the model was not called again
    assert response.text == "" and request.state is RequestState.TICKETED and request.call_id == "c2"
    assert sent_mail(workdir) == []
