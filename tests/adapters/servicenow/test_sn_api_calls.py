"""ServiceNow API calls per approval, counted from the simulator's request log, through a real
Connector built from the shipped config/servicenow-change-triage.yaml (only its URLs and database
path changed). An approval costs 5 calls including its creation: POST the record, one read that
says who approved, and one PATCH per state of the close path (Implement, Review, Closed; the
change model refuses jumps), the work note riding with the first. On the poll path that read is
the sys_audit query (the poll's list page is shared); on the webhook path the hint is never
trusted, so the record is read again — with its sys_audit rows, in one Batch API call. The
approver's sys_user and group rows (once per person, cached) are shared."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.servicenow.simulator import ServiceNowSimulator
from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState
from connector.demo.tools import apply_change
from tests.adapters.intake import deliver_webhooks
from tests.adapters.jira.test_jira_end_to_end import REPO
from tests.adapters.servicenow.sn_testlib import BASE, ENV
from tests.adapters.servicenow.test_end_to_end import CHANGE, changes
from tests.conftest import agent_calls

HOOK = "https://connector.example.com/webhooks/servicenow"
RECORD = re.compile(r"/change_request/[0-9a-f]{32}$")
SHARED = re.compile(r"^GET .*/table/(change_request|sys_user|sys_user_grmember)$")


@pytest.fixture
def conn(rsps, sim: ServiceNowSimulator, workdir: Path) -> Iterator[Connector]:
    sim.set_webhook(HOOK, ENV["SN_WEBHOOK_SECRET"])
    text = (REPO / "config" / "servicenow-change-triage.yaml").read_text()
    text = text.replace("https://example.service-now.com", BASE)
    text = text.replace("sqlite:///approval-connector.db", f"sqlite:///{workdir / 'connector.db'}")
    connector = Connector.from_config(parse_config(text, "servicenow-change-triage.yaml"), env=ENV)
    yield connector
    connector.close()


async def one_approval(conn: Connector, sim: ServiceNowSimulator, path: str) -> tuple[list[str], list[str]]:
    start = len(sim.calls)
    known = {r.id for r in conn.store.list()}
    await agent_calls(conn.gate(apply_change, agent="triage-agent"), "apply_change", CHANGE)
    [request] = [r for r in conn.store.list() if r.id not in known]
    sent = len(sim.webhooks_sent)
    sim.approve(request.ticket.key, "change.manager")
    if path == "webhook":
        await deliver_webhooks(conn, "servicenow", sim.webhooks_sent[sent:])
    else:
        await conn.poll_once()
    await conn.process_outbox()
    assert conn.store.get(request.id).state is RequestState.SUCCEEDED
    assert sim.record(request.ticket.key)["state"] == "3"
    calls = [RECORD.sub("/change_request/{id}", f"{m} {p}") for m, p, _ in sim.calls[start:]]
    return [c for c in calls if not SHARED.match(c)], [c for c in calls if SHARED.match(c)]


CLOSE = ["PATCH /api/now/table/change_request/{id}"] * 3  # Implement (with the work note), Review, Closed


async def test_poll_path_costs_five_calls_per_approval_including_creation(conn, sim, workdir):
    for n in range(2):
        own, shared = await one_approval(conn, sim, "poll")
        assert own == ["POST /api/now/table/change_request", "GET /api/now/table/sys_audit", *CLOSE]
        if n == 0:  # the approver's user and groups, once per person
            assert sorted(shared) == [
                "GET /api/now/table/change_request",
                "GET /api/now/table/sys_user",
                "GET /api/now/table/sys_user_grmember",
            ]
        else:
            assert shared == ["GET /api/now/table/change_request"]  # the one poll query
    assert len(changes(workdir)) == 2


async def test_webhook_path_costs_five_calls_per_approval_including_creation(conn, sim, workdir):
    for n in range(2):
        items = len(sim.batch_items)
        own, shared = await one_approval(conn, sim, "webhook")
        assert own == ["POST /api/now/table/change_request", "POST /api/now/v1/batch", *CLOSE]
        # the one batch re-read the record by its sys_id and its sys_audit rows (who approved)
        read = [f"{m} {RECORD.sub('/change_request/{id}', p)} {s}" for m, p, s in sim.batch_items[items:]]
        assert read == [
            "GET /api/now/table/change_request/{id} 200",
            "GET /api/now/table/sys_audit 200",
        ]
        if n == 1:  # the approver's user and groups were looked up with the first approval
            assert shared == [] and len(own) + len(shared) <= 5
    assert sim.call_count("GET", "/table/sys_user$") == 1 and len(changes(workdir)) == 2


async def test_webhook_path_without_the_batch_api_reads_one_call_at_a_time(conn, sim, workdir):
    sim.inject_fault(
        400, body={"error": {"message": "Requested URI does not represent any resource"}}, path="/v1/batch$"
    )
    for n in range(2):
        own, _shared = await one_approval(conn, sim, "webhook")
        assert own == [
            "POST /api/now/table/change_request",
            *(["POST /api/now/v1/batch"] if n == 0 else []),  # refused once, then not asked again
            "GET /api/now/table/change_request/{id}",
            "GET /api/now/table/sys_audit",
            *CLOSE,
        ]
    assert len(changes(workdir)) == 2
