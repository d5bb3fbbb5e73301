"""A conversation that waits on a ticket is resumed in another process: one process runs the teams
until their gated calls defer and exits; humans approve on the local desk — with ``approval-connector
approve`` (a second process, which runs the call once and continues the conversation there), or in
the desk directly, after which ``poll --once`` (a third process) does the same — for an
AssistantAgent alone, RoundRobinGroupChat, SelectorGroupChat and Swarm."""

from __future__ import annotations

import json

from connector.core.models import Verdict
from tests.agents.harness import cli_args, connector, finished, spawn, step_messages, write_config
from tests.agents.teams import FACTORIES
from tests.conftest import sent_mail

KINDS = list(FACTORIES)


def test_each_team_type_waits_in_one_process_and_resumes_in_another(workdir):
    config = write_config(workdir)
    out, _ = finished(spawn("-m", "tests.agents.proc", str(config), ",".join(KINDS), cwd=workdir))
    tickets = {}
    for kind, started in json.loads(out.strip().splitlines()[-1]).items():
        assert started["status"] == "waiting", (kind, started)
        assert started["stop_reason"].startswith("Waiting for approval: LOCAL-"), (kind, started)
        [tickets[kind]] = started["waiting_on"]
    assert sent_mail(workdir) == []  # nothing ran before the decision

    out, _ = finished(spawn(*cli_args(config, "approve", tickets["single"], "--as", "alice"), cwd=workdir))
    assert "Approved by alice" in out and "executed" in out
    conn = connector(config)
    for kind in KINDS[1:]:
        conn.adapters["desk"].decide(tickets[kind], Verdict.APPROVED, "carol")  # a lead, in the desk
    conn.close()
    out, _ = finished(spawn(*cli_args(config, "poll", "--once"), cwd=workdir))

    conn = connector(config)
    try:
        for kind in KINDS:
            record = conn.store.conversation(f"case-{kind}")
            assert record.status == "done" and record.version == 2 and record.awaiting == [], (kind, record)
            resumed = step_messages(conn, f"case-{kind}", 2)
            first = resumed[0]
            assert first["source"] == "approval_gatekeeper"
            assert first["kind"] == ("HandoffMessage" if kind == "swarm" else "TextMessage")
            approver = "alice" if kind == "single" else "carol"
            assert first["text"].startswith(f"APPROVED: {approver} approved send_email in {tickets[kind]}")
            assert "Result: sent to jane@example.com" in first["text"]
            assert resumed[-1]["text"].endswith("TERMINATE"), (kind, resumed)
            request = conn.store.resolve(tickets[kind])
            rows = [r["event"] for r in conn.store.audit.rows(conn.store.engine, request.id)]
            assert rows.count("conversation_resumed") == 1 and rows.count("succeeded") == 1
        assert len(sent_mail(workdir)) == len(KINDS)  # each call ran exactly once
    finally:
        conn.close()

    shown = finished(spawn(*cli_args(config, "conversations", "show", tickets["swarm"]), cwd=workdir))[0]
    assert "conversation case-swarm  [done]" in shown
    assert "[approval_gatekeeper] HandoffMessage: APPROVED: carol approved send_email" in shown
    assert f"{tickets['swarm']}" in shown and "continued" in shown
