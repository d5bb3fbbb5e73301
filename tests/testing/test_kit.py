"""The testing kit against the shipped example configs, unmodified: ServiceNow in-process, Jira
and ServiceNow served over real HTTP with their signed webhooks reaching the connector served by
uvicorn, the local desk from a dict config, and time moved for windows and approval validity."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import yaml

from connector.core import clock
from connector.core.models import RequestState
from tests.conftest import EMAIL, REPO, sent_mail

CHANGE = {
    "summary": "Restart the payment gateway",
    "plan": "1. drain traffic 2. restart 3. verify health",
    "category": "software",
    "risk": "low",
}


async def test_servicenow_in_process_change_runs_once_after_the_manager_approves(approval_flow, workdir):
    flow = approval_flow(REPO / "config" / "servicenow-change-triage.yaml")
    request = await flow.call("apply_change", CHANGE, requester="requester", rationale="outage")
    assert request.state is RequestState.TICKETED
    assert flow.sim().base_url == "https://servicenow.simulated.test"  # on responses, never resolved

    flow.approve(request)  # the seeded approver: change.manager
    await flow.cycle()

    flow.assert_ran_once("apply_change", summary="Restart the payment gateway", risk="low")
    flow.assert_commented("change applied: Restart the payment gateway", request)
    assert flow.sim().record(request.ticket.key)["state"] == "3"  # Closed, as the config says


async def test_a_requester_cannot_approve_their_own_change(approval_flow, workdir):
    flow = approval_flow(REPO / "config" / "servicenow-change-triage.yaml")
    await flow.call("apply_change", CHANGE, requester="change.manager")
    flow.approve(as_user="change.manager")
    await flow.cycle()
    flow.assert_not_run()


def test_jira_served_webhook_runs_the_call_without_a_poll(approval_flow, workdir):
    flow = approval_flow(REPO / "config" / "jira-customer-email.yaml", served=True)
    sim = flow.sim("jira")
    assert sim.base_url.startswith("http://127.0.0.1:") and flow.service.url.startswith("http://127.0.0.1:")
    import asyncio

    request = asyncio.run(flow.call("send_email", EMAIL, requester="bob@example.com"))
    polls = sim.call_count(path=r"/api/\d/search(/jql)?$")
    before = len(sim.calls)
    flow.approve(request, as_user="alice")  # the simulator signs and sends the webhook

    flow.wait_for(RequestState.SUCCEEDED, request)
    assert [w["status"] for w in sim.webhooks_sent][:1] == [202]  # the connector's endpoint took it
    assert sim.call_count(path=r"/api/\d/search(/jql)?$") == polls, sim.calls[
        before:
    ]  # decided by the webhook's re-read, not a poll
    flow.assert_ran_once("send_email", **EMAIL)
    assert len(sent_mail(workdir)) == 1


def test_servicenow_served_webhook_is_signed_with_the_configs_secret(approval_flow, workdir):
    flow = approval_flow(REPO / "config" / "servicenow-change-triage.yaml", served=True)
    import asyncio

    request = asyncio.run(flow.call("apply_change", CHANGE, requester="requester"))
    # the creation's webhook goes out from a thread of its own: let it be answered before the
    # clock jumps, or its (true) timestamp is two hours old when it lands (401, as it should be)
    deadline = time.monotonic() + 10
    while not flow.sim().webhooks_sent and time.monotonic() < deadline:
        time.sleep(0.02)
    asyncio.run(flow.fast_forward("2h", cycle=False))  # the webhook's timestamp is read on the same clock
    flow.approve(request)
    flow.wait_for(RequestState.SUCCEEDED, request)
    assert flow.sim().webhooks_sent and all(w["status"] == 202 for w in flow.sim().webhooks_sent)
    flow.assert_ran_once("apply_change")


EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def desk(**route: object) -> dict:
    """A dict config: one route on the local desk (it lives in the temporary store)."""
    return {
        "systems": {"desk": {"type": "local"}},
        "tools": {"apply_change": {"import": "connector.demo.tools:apply_change"}},
        "routes": [
            {"name": "changes", "tools": ["apply_change"], "system": "desk", "approvers": ["carol"], **route}
        ],
    }


async def test_a_desk_change_waits_for_its_window_then_runs(approval_flow, workdir):
    window = {
        "from": "calendar",
        "timezone": "UTC",
        "open": [{"days": EVERY_DAY, "start": "02:00", "end": "03:00"}],
    }
    flow = approval_flow(desk(window=window))
    request = await flow.call("apply_change", CHANGE)
    if clock.utcnow().hour == 2:
        await flow.fast_forward("1h")  # the test started inside the window: start outside it
    flow.approve(request, as_user="carol")
    await flow.cycle()
    flow.assert_state("APPROVED")
    flow.assert_not_run()
    flow.assert_commented("waits for its change window", request)

    # the window it waits for is the one the connector fixed when it was approved (a run just
    # before 02:00 must not travel to tomorrow's, past the one it holds)
    opens = flow.request(request).not_before
    assert opens is not None and (opens.hour, opens.minute) == (2, 0)
    await flow.travel_to(opens + timedelta(minutes=1))
    flow.assert_ran_once("apply_change", CHANGE | {"configuration_item": "", "requested_for": ""})
    flow.assert_state("SUCCEEDED")


async def test_an_approval_older_than_valid_for_is_asked_again_and_does_not_run(approval_flow, workdir):
    flow = approval_flow(desk(valid_for="6h"))
    request = await flow.call("apply_change", CHANGE)
    flow.approve(request, as_user="carol")  # and the connector is down for seven hours
    await flow.fast_forward("7h")
    flow.assert_not_run()
    flow.assert_commented("older than", request)


def test_the_clock_only_moves_forward_and_resets(acr_clock):
    start = acr_clock.now()
    moved = acr_clock.advance("2h")
    assert moved - start >= timedelta(hours=2)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.travel_to(start)
    clock.reset()
    assert clock.offset() == timedelta(0)


REFUNDS = REPO / "tests" / "testing" / "refunds.yaml"
REFUND = {"customer": "jane@example.com", "amount_eur": 42.0, "reason": "charged twice"}


async def issue_refund(customer: str, amount_eur: float, reason: str) -> str:
    return f"refunded {amount_eur:.2f} EUR to {customer}"


async def test_a_simulator_seeded_by_the_test_is_shared_with_the_flow(acr_jira, approval_flow):
    acr_jira.sim.add_user(
        "dana", "Dana Lead", "dana@example.com", account_id="5b10a2844c20165700ede99d",
        groups={"change-approvers", "jira-software-users"},
    )  # fmt: skip
    flow = approval_flow(REFUNDS, systems={"jira": acr_jira})
    assert flow.sim() is acr_jira.sim and flow.responses is acr_jira.mock
    flow.gate(issue_refund)
    request = await flow.call("issue_refund", REFUND, requester="bob@example.com")
    key = request.ticket.key
    flow.comment("Is 42 EUR the whole amount?", key, as_user="dana")  # by ticket key
    assert flow.comments(key)[-1] == "Is 42 EUR the whole amount?"
    flow.approve(key, as_user="dana")
    await flow.cycle()
    flow.assert_ran_once("issue_refund", REFUND)
    assert flow.request(key).approver == "5b10a2844c20165700ede99d"


async def test_acr_connector_is_the_users_config_on_a_temporary_store(acr_connector, tmp_path):
    conn = acr_connector(REFUNDS)
    assert conn.config.store.url.startswith("sqlite:///") and "refunds.db" not in conn.config.store.url
    assert conn.adapters["jira"].settings.url.rstrip("/") == "https://jira.simulated.test"
    assert conn.config.routes[0].deadline == timedelta(hours=4)  # the user's route, unchanged


async def test_the_configs_own_account_becomes_the_simulators(acr_connector, workdir):
    """The shipped Jira config names its real bot's accountId; on the simulator the connector's
    own account is the simulator's bot, so its own transitions are never read as decisions."""
    jira = acr_connector(REPO / "config" / "jira-customer-email.yaml").adapters["jira"]
    assert jira.settings.service_account == "712020:0b9d5a1e-1111-4c2e-9f00-bot000000001"
    dc = {"systems": {"jira": {"type": "jira", "url": "https://x.example", "deployment": "datacenter",
            "service_account": "our-bot", "auth": {"pat_env": "OUR_PAT"}}}}  # fmt: skip
    assert acr_connector(dc).adapters["jira"].settings.service_account == "svc-approval"


async def test_a_wrong_expectation_names_what_happened(approval_flow):
    flow = approval_flow(REFUNDS)
    flow.gate(issue_refund)
    await flow.call("issue_refund", REFUND)
    with pytest.raises(AssertionError, match=r"(?s)issue_refund ran 0 times, expected once.*TICKETED, OPS-1"):
        flow.assert_ran_once("issue_refund")
    with pytest.raises(AssertionError, match=r"is TICKETED, expected EXPIRED"):
        flow.assert_expired()
    with pytest.raises(AssertionError, match=r"no comment on the ticket matching 'Rem.nder'"):
        flow.assert_commented("Rem.nder", regex=True)
    flow.approve()
    await flow.cycle()
    with pytest.raises(
        AssertionError,
        match=r"expected issue_refund not to run, but it ran once:\n  - issue_refund\(\{'customer'",
    ):
        flow.assert_not_run("issue_refund")


async def test_a_jira_decision_made_after_a_fast_forward_is_stamped_in_the_moved_time(approval_flow):
    """The simulator reads the kit's clock: an approval given three hours into the wait is fresh
    (valid_for 1h), not three hours old."""
    config = yaml.safe_load(REFUNDS.read_text())
    config["routes"][0]["valid_for"] = "1h"
    config["routes"][0]["outcome"]["on_reopen"] = "Reopen"
    flow = approval_flow(config)
    flow.gate(issue_refund)
    await flow.call("issue_refund", REFUND)
    await flow.fast_forward("3h")  # still inside the 4h deadline
    flow.approve(as_user="alice")
    await flow.cycle()
    flow.assert_ran_once("issue_refund", REFUND)
    assert flow.request().decided_at > clock.utcnow() - timedelta(minutes=5)


def refund_via_api(customer: str, amount_eur: float, reason: str) -> str:
    """A tool that calls its own HTTP API (with requests, as the connector's adapters do)."""
    import requests

    answer = requests.post("https://payments.example/refunds", json={"to": customer}, timeout=5)
    answer.raise_for_status()
    return f"refund {answer.json()['id']}"


async def test_a_tools_own_http_calls_are_mocked_on_the_flows_responses(approval_flow):
    from autogen_core.tools import FunctionTool

    flow = approval_flow(REFUNDS)
    flow.gate(FunctionTool(refund_via_api, "Refund via the API.", name="issue_refund"))
    flow.responses.post("https://payments.example/refunds", json={"id": "rf_1"})
    await flow.call("issue_refund", REFUND)
    flow.approve()
    await flow.cycle()
    flow.assert_ran_once("issue_refund", customer="jane@example.com")
    flow.assert_commented("refund rf_1")
