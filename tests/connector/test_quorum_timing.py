"""Votes and the timing of a decision: an approval that went stale (``valid_for``) re-opens the
ticket, and the votes cast before that stay on the ticket but no longer count; the fresh decision
needs fresh votes."""

from __future__ import annotations

import asyncio
import time

from connector.core.models import RequestState
from tests.conftest import sent_mail
from tests.connector.test_timing_flows import cycle, submit
from tests.connector.timing_systems import timing_system


def votes(conn, request_id: str) -> list[tuple[str, bool]]:
    rows = conn.store.audit.rows(conn.store.engine, request_id)
    return [(r["details"]["voter"], r["details"]["counted"]) for r in rows if r["event"] == "vote"]


def test_votes_from_before_a_reopen_do_not_count_again(workdir):
    with timing_system("jira", workdir, "    valid_for: 3s\n    quorum: 2\n") as system:
        text = system.config.read_text()
        system.config.write_text(text.replace("approvers: [alice@example.com]", "approvers: [alice, carol]"))
        conn = system.connector()
        try:
            request = asyncio.run(submit(conn))
            key = request.ticket.key
            system.sim.comment(key, "/approve", actor="alice")
            system.sim.transition(key, "Approve", actor="carol")  # the second vote: the move to Approved
            time.sleep(3.3)  # the connector was down: both votes are older than valid_for now
            asyncio.run(cycle(conn))
            asyncio.run(cycle(conn))
            assert conn.store.get(request.id).state is RequestState.TICKETED  # re-opened
            assert system.sim.status_of(key) == "Awaiting Approval"
            system.sim.transition(key, "Approve", actor="carol")  # fresh; alice's comment is old
            asyncio.run(cycle(conn))
            assert conn.store.get(request.id).state is RequestState.TICKETED
            assert sent_mail(workdir) == []
            system.sim.comment(key, "/approve", actor="alice")  # alice approves again
            asyncio.run(cycle(conn))
            asyncio.run(cycle(conn))
            assert conn.store.get(request.id).state is RequestState.SUCCEEDED
            assert len(sent_mail(workdir)) == 1
            assert conn.store.audit.verify(conn.store.engine) == []
        finally:
            conn.close()
