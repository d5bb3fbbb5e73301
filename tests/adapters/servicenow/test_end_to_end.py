"""End to end through the core: a real AssistantAgent (scripted model) calls a gated tool, the
change_request appears in the ServiceNow simulator, a person decides there, the connector polls,
runs the call exactly once and reports back on the record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from adapters.servicenow.simulator import ServiceNowSimulator, seeded_demo
from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState
from connector.demo.tools import apply_change
from tests.adapters.servicenow.sn_testlib import BASE, ENV
from tests.conftest import agent_calls

CONFIG = """
store:
  url: sqlite:///{db}
systems:
  servicenow:
    type: servicenow
    instance_url: {base}
    auth: {{type: basic, user_env: SN_USER, password_env: SN_PASSWORD}}
    service_account: {{user_name: svc_connector}}
    webhook: {{secret_env: SN_WEBHOOK_SECRET}}
    retry: {{attempts: 4, base_delay: 0.01, max_delay: 0.05, max_inline_wait: 1}}
tools:
  apply_change: {{import: "connector.demo.tools:apply_change"}}
routes:
  - name: change-triage
    tools: [apply_change]
    system: servicenow
    approvers: [{approvers}]
    ticket:
      fields:
        short_description: "[agent] {{{{ args.summary }}}}"
        type: normal
        category: "{{{{ {{'software': 'Software', 'network': 'Network'}}.get(args.category, 'Other') }}}}"
        risk: "{{{{ {{'low': '4', 'moderate': '3', 'high': '2'}}[args.risk] }}}}"
        implementation_plan: "{{{{ args.plan }}}}"
    decision:
      approved_states: ["-2"]
      rejected_states: ["4"]
      pending_states: ["-5", "-4", "-3"]
    outcome:
      transitions:
        succeeded:
          path: ["-1", "0", "3"]
          fields: {{close_code: successful, close_notes: "{{{{ text }}}}"}}
        failed:
          path: ["-1", "0", "3"]
          fields: {{close_code: unsuccessful, close_notes: "{{{{ text }}}}"}}
        rejected: {{path: ["4"]}}
        expired: {{path: ["4"]}}
"""

CHANGE = {
    "summary": "Restart payments-api pods in prod-eu",
    "plan": "kubectl rollout restart deploy/payments-api -n prod-eu",
    "category": "software",
    "risk": "moderate",
}


@pytest.fixture
def sim() -> Iterator[ServiceNowSimulator]:
    simulator = seeded_demo(BASE)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        simulator.install(mock)
        yield simulator


def connect(workdir: Path, approvers: str = '"change.manager", "group:CAB Approval"') -> Connector:
    text = CONFIG.format(db=workdir / "connector.db", base=BASE, approvers=approvers)
    return Connector.from_config(parse_config(text, "servicenow-e2e.yaml"), env=ENV)


def changes(workdir: Path) -> list[dict[str, Any]]:
    path = workdir / "changes.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def propose(conn: Connector) -> tuple[str, Any]:
    answer = await agent_calls(conn.gate(apply_change, agent="triage-agent"), "apply_change", CHANGE)
    [request] = conn.store.list()
    return answer, request


async def test_approved_change_runs_once_and_closes_the_record(
    workdir: Path, sim: ServiceNowSimulator
) -> None:
    conn = connect(workdir)
    try:
        answer, request = await propose(conn)
        assert request.state is RequestState.TICKETED and request.ticket.key in answer
        record = sim.record(request.ticket.key)
        assert record["short_description"] == "[agent] Restart payments-api pods in prod-eu"
        assert (record["type"], record["category"], record["risk"]) == ("normal", "Software", "3")
        assert record["implementation_plan"] == CHANGE["plan"]
        assert request.arguments_digest in record["description"]
        await conn.poll_once()
        assert changes(workdir) == []  # nothing runs before the decision

        sim.approve(request.ticket.key, "change.manager", "go ahead")
        await conn.poll_once()
        await conn.process_outbox()
        done = conn.store.get(request.id)
        assert done.state is RequestState.SUCCEEDED
        assert [c["summary"] for c in changes(workdir)] == [CHANGE["summary"]]
        record = sim.record(request.ticket.key)
        assert (record["state"], record["close_code"]) == ("3", "successful")
        [note] = sim.journal(request.ticket.key, "work_notes")
        assert "Executed apply_change" in note["value"] and note["sys_created_by"] == "svc_connector"

        for _ in range(2):  # more cycles, a duplicate hint: still one run, one note
            await conn.poll_once()
            await conn.process_outbox()
        assert len(changes(workdir)) == 1 and len(sim.journal(request.ticket.key, "work_notes")) == 1
    finally:
        conn.close()


async def test_rejection_runs_nothing_and_cancels(workdir: Path, sim: ServiceNowSimulator) -> None:
    conn = connect(workdir)
    try:
        _, request = await propose(conn)
        sim.reject(request.ticket.key, "change.manager", "Not during the freeze.")
        await conn.poll_once()
        await conn.process_outbox()
        rejected = conn.store.get(request.id)
        assert rejected.state is RequestState.REJECTED
        assert rejected.decision_reason == "Not during the freeze."
        assert changes(workdir) == []
        record = sim.record(request.ticket.key)
        assert record["state"] == "4"
        assert "was not run" in sim.journal(request.ticket.key, "work_notes")[-1]["value"]
    finally:
        conn.close()


async def test_429_storm_loses_nothing(workdir: Path, sim: ServiceNowSimulator) -> None:
    conn = connect(workdir)
    try:
        _, request = await propose(conn)
        sim.approve(request.ticket.key, "change.manager")
        sim.inject_fault(429, times=1000, headers={"Retry-After": "3600"})
        for _ in range(3):
            await conn.poll_once()  # each cycle is refused at once (Retry-After too long to wait)
            await conn.process_outbox()
        assert conn.store.get(request.id).state is RequestState.TICKETED and changes(workdir) == []
        sim.clear_faults()
        sim.inject_fault(429, times=3, headers={"Retry-After": "0"})  # short storm: retried inline
        await conn.poll_once()
        await conn.process_outbox()
        assert conn.store.get(request.id).state is RequestState.SUCCEEDED
        assert len(changes(workdir)) == 1 and sim.record(request.ticket.key)["state"] == "3"
        assert len(sim.journal(request.ticket.key, "work_notes")) == 1
    finally:
        conn.close()
