"""``serve`` over real HTTP: uvicorn on loopback, the Jira simulator as a real HTTP server sending
signed webhooks on transitions. A webhook is a hint; only the API re-read decides."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import uuid

import pytest

from adapters.jira.simulator import JiraSimulator
from connector.agents.autogen.gate import approval_context
from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState
from connector.demo.tools import send_email
from tests.adapters.jira.test_jira_end_to_end import jira_config
from tests.conftest import EMAIL, agent_calls, sent_mail
from tests.connector.service_harness import RunningService, wait_until

SECRET = "demo-webhook-secret"


@pytest.fixture
def sim(acr_jira_server) -> JiraSimulator:
    return acr_jira_server.sim  # the testing kit's seeded Jira, served on loopback


def make_connector(
    sim: JiraSimulator, workdir, poll: str = "1h", approvers: list[str] | None = None
) -> Connector:
    text = jira_config(sim, workdir / "connector.db", approvers)
    text = text.replace("poll_interval: 30s", f"poll_interval: {poll}")
    return Connector.from_config(parse_config(text, "webhook-test.yaml"), env=sim.demo_env())


def submit(conn: Connector):
    async def go():
        with approval_context(requester="bob@example.com"):
            await agent_calls(conn.gate(send_email), "send_email", EMAIL)

    asyncio.run(go())
    [request] = conn.store.list()
    return request


def signed(payload: dict, secret: str = SECRET, delivery: str | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "X-Hub-Signature": f"sha256={digest}",
        "X-Atlassian-Webhook-Identifier": delivery or str(uuid.uuid4()),
    }


def issue_event(sim: JiraSimulator, key: str, status: str = "Approved") -> dict:
    issue = copy.deepcopy(sim.issue_json(sim.issue(key)))  # never edit the simulator's own state
    issue["fields"]["status"]["name"] = status
    return {
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": sim.user_json(sim.user("alice")),
        "issue": issue,
        "changelog": {"items": [{"field": "status", "toString": status}]},
    }


def test_signed_webhook_on_transition_runs_the_call_once(sim, workdir):
    conn = make_connector(sim, workdir, approvers=["5b10a2844c20165700ede21a"])  # alice's accountId
    request = submit(conn)
    with RunningService(conn) as service:
        sim.register_webhook(f"{service.url}/webhooks/jira", SECRET)
        wait_until(lambda: service.get("/healthz").json()["status"] == "ok")  # start-up poll done
        before = sim.call_count()
        sim.transition(request.ticket.key, "Approve", actor="alice")  # delivers the webhook
        wait_until(lambda: conn.store.get(request.id).state is RequestState.SUCCEEDED)
        wait_until(lambda: sim.status_of(request.ticket.key) == "Done")
        calls = sim.call_count() - before
        assert sim.webhooks_sent[-1]["status"] == 202
    assert len(sent_mail(workdir)) == 1
    assert calls <= 3, sim.call_summary()  # re-read, transitions list, transition with the comment
    conn.close()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),  # unsigned
        ({"X-Hub-Signature": "sha256=" + "0" * 64}, 401),  # forged
        ({"X-Hub-Signature": "md5=abc"}, 401),
    ],
)
def test_unsigned_or_forged_deliveries_change_nothing(sim, workdir, headers, status):
    conn = make_connector(sim, workdir)
    request = submit(conn)  # still awaiting approval in Jira; the delivery claims otherwise
    with RunningService(conn) as service:
        body = json.dumps(issue_event(sim, request.ticket.key)).encode()
        answer = service.post("jira", body, {"Content-Type": "application/json", **headers})
        assert answer.status_code == status
        metrics = service.get("/metrics").text
    assert conn.store.get(request.id).state is RequestState.TICKETED  # nothing happened
    assert 'approval_webhook_deliveries_total{status="rejected_signature",system="jira"}' in metrics
    conn.close()


def test_signed_but_false_claim_is_checked_against_the_api(sim, workdir):
    """Someone with the secret says 'Approved'; Jira says the issue still awaits approval."""
    conn = make_connector(sim, workdir)
    request = submit(conn)
    with RunningService(conn) as service:
        body, headers = signed(issue_event(sim, request.ticket.key, "Approved"))
        assert service.post("jira", body, headers).status_code == 202
        issue_path = rf"/issue/({request.ticket.key}|{request.ticket.id})$"
        wait_until(lambda: sim.call_count(path=issue_path) > 0)  # the ticket was re-read
    assert conn.store.get(request.id).state is RequestState.TICKETED
    assert sent_mail(workdir) == []
    conn.close()


@pytest.mark.parametrize(
    ("body", "status", "expect"),
    [
        (b"not json", 400, "error"),
        (b'{"webhookEvent": "jira:issue_updated", "issue": "nope"}', 200, "ignored"),
        (b'{"webhookEvent": "comment_created"}', 200, "ignored"),
        (b"[]", 400, "error"),
    ],
)
def test_malformed_or_uninteresting_deliveries_never_500(sim, workdir, body, status, expect):
    conn = make_connector(sim, workdir)
    with RunningService(conn) as service:
        digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        answer = service.post(
            "jira",
            body,
            {"X-Hub-Signature": f"sha256={digest}", "X-Atlassian-Webhook-Identifier": str(uuid.uuid4())},
        )
        assert answer.status_code == status, answer.text
        assert expect in answer.json() or answer.json().get("status") == expect
        assert service.post("nosuchsystem", body, {}).status_code == 404
    conn.close()


def test_replayed_and_duplicate_deliveries_run_once(sim, workdir):
    conn = make_connector(sim, workdir)
    request = submit(conn)
    sim.set_status(request.ticket.key, "Approved", actor="alice")
    with RunningService(conn) as service:
        body, headers = signed(issue_event(sim, request.ticket.key), delivery="delivery-1")
        first = service.post("jira", body, headers)
        replay = service.post("jira", body, headers)
        assert (first.status_code, replay.status_code) == (202, 200)
        assert replay.json()["status"] == "duplicate"
        # the same change delivered again under new ids, in parallel, and an older event after it
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(
                    lambda _: service.post("jira", *signed(issue_event(sim, request.ticket.key))), range(4)
                )
            )
        assert {a.status_code for a in answers} <= {200, 202}
        stale, headers = signed(issue_event(sim, request.ticket.key, "Awaiting Approval"))
        service.post("jira", stale, headers)
        wait_until(lambda: conn.store.get(request.id).state is RequestState.SUCCEEDED)
    assert len(sent_mail(workdir)) == 1
    claims = [r for r in conn.store.audit.rows(conn.store.engine, request.id) if r["event"] == "claimed"]
    assert len(claims) == 1
    conn.close()


def test_lost_webhook_is_found_by_the_poll(sim, workdir):
    conn = make_connector(sim, workdir, poll="0.2s")
    request = submit(conn)
    with RunningService(conn):
        sim.transition(request.ticket.key, "Approve", actor="alice")  # no webhook registered: lost
        wait_until(lambda: conn.store.get(request.id).state is RequestState.SUCCEEDED)
    assert len(sent_mail(workdir)) == 1
    conn.close()


def test_decision_made_while_down_is_found_at_start(sim, workdir):
    conn = make_connector(sim, workdir)  # poll interval 1h: only the start-up cycle can find it
    request = submit(conn)
    sim.transition(request.ticket.key, "Approve", actor="alice")  # the service is not running
    with RunningService(conn) as service:
        wait_until(lambda: conn.store.get(request.id).state is RequestState.SUCCEEDED)
        health = service.get("/healthz").json()
    assert health["status"] == "ok" and health["systems"]["jira"]["ok"]
    assert len(sent_mail(workdir)) == 1
    conn.close()


def test_healthz_and_metrics(sim, workdir):
    conn = make_connector(sim, workdir)
    submit(conn)
    with RunningService(conn) as service:
        wait_until(lambda: service.get("/healthz").json()["status"] == "ok")
        metrics = service.get("/metrics").text
    assert 'approval_requests_pending{route="customer-email"} 1.0' in metrics
    assert "approval_outbox_backlog 0.0" in metrics
    assert 'approval_api_calls_total{outcome="201",system="jira"}' in metrics
    assert "approval_poll_duration_seconds_count" in metrics
    conn.close()


@pytest.mark.parametrize("claims_decision", [True, False])
def test_whatever_an_adapter_parses_the_intake_hands_on_only_a_hint(
    sim, workdir, monkeypatch, claims_decision
):
    """The intake copies an event only when the adapter set something a hint may not carry; either
    way what reaches the service has no decision, this system, source webhook, this delivery id."""
    from starlette.testclient import TestClient

    from connector.app.webhooks import create_app
    from connector.core.models import DecisionEvent, TicketDecision, Verdict

    conn = make_connector(sim, workdir)
    body, headers = signed({"webhookEvent": "jira:issue_updated"}, delivery="d-1")
    if claims_decision:
        parsed = DecisionEvent(
            system="servicenow",
            ticket_key="OPS-1",
            decision=TicketDecision(verdict=Verdict.APPROVED),
            source="poll",
        )
    else:
        parsed = DecisionEvent(system="jira", ticket_key="OPS-1", source="webhook", delivery_id="d-1")
    monkeypatch.setattr(conn.adapters["jira"], "parse_webhook", lambda h, b: [parsed])
    app = create_app(conn)
    handed: list[DecisionEvent] = []
    app.state.intake.hints.submit = handed.append
    with TestClient(app) as client:
        assert client.post("/webhooks/jira", content=body, headers=headers).status_code == 202
    [hint] = handed
    assert (hint.system, hint.ticket_key, hint.decision, hint.source, hint.delivery_id) == (
        "jira",
        "OPS-1",
        None,
        "webhook",
        "d-1",
    )
    conn.close()
