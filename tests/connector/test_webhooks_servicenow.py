"""``serve`` receiving ServiceNow's signed outbound notifications over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import requests

from adapters.servicenow.simulator import ServiceNowSimulator, seeded_demo
from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState
from connector.demo.tools import apply_change
from tests.adapters.servicenow.sn_testlib import ENV
from tests.adapters.servicenow.test_end_to_end import CHANGE, CONFIG
from tests.conftest import agent_calls
from tests.connector.service_harness import RunningService, wait_until


@pytest.fixture
def sim() -> Iterator[ServiceNowSimulator]:
    simulator = seeded_demo("http://127.0.0.1")
    with simulator.serve():
        yield simulator


def connect(sim: ServiceNowSimulator, workdir) -> Connector:
    text = CONFIG.format(db=workdir / "connector.db", base=sim.base_url, approvers='"change.manager"')
    text = text.replace("store:", "scheduler: {poll_interval: 1h}\nstore:", 1)
    return Connector.from_config(parse_config(text, "sn-webhooks.yaml"), env=ENV)


def propose(conn: Connector):
    asyncio.run(agent_calls(conn.gate(apply_change), "apply_change", CHANGE))
    [request] = conn.store.list()
    return request


def test_signed_notification_on_approval_runs_the_change_once(sim, workdir):
    conn = connect(sim, workdir)
    request = propose(conn)
    with RunningService(conn) as service:
        sim.set_webhook(f"{service.url}/webhooks/servicenow", ENV["SN_WEBHOOK_SECRET"])
        sim.approve(request.ticket.key, "change.manager", "go ahead")
        wait_until(lambda: conn.store.get(request.id).state is RequestState.SUCCEEDED)
        wait_until(lambda: sim.record(request.ticket.key)["state"] == "3")
        assert any(w["status"] == 202 for w in sim.webhooks_sent)
        # the same notification again (a business-rule retry) changes nothing
        last = sim.webhooks_sent[-1]
        again = requests.post(last["url"], data=last["body"], headers=last["headers"], timeout=10)
        assert again.status_code in (200, 401)  # duplicate, or too old to be accepted
    assert conn.store.get(request.id).state is RequestState.SUCCEEDED
    claims = [r for r in conn.store.audit.rows(conn.store.engine, request.id) if r["event"] == "claimed"]
    assert len(claims) == 1
    conn.close()


def test_forged_notification_changes_nothing(sim, workdir):
    conn = connect(sim, workdir)
    request = propose(conn)
    with RunningService(conn) as service:
        sim.set_webhook(f"{service.url}/webhooks/servicenow", "not-the-shared-secret")
        wait_until(lambda: service.get("/healthz").json()["status"] == "ok")  # start-up poll done
        sim.approve(request.ticket.key, "change.manager")  # signed with the wrong secret
        wait_until(lambda: sim.webhooks_sent)
        assert sim.webhooks_sent[-1]["status"] == 401
    assert conn.store.get(request.id).state is RequestState.TICKETED  # only the next poll will see it
    conn.close()
