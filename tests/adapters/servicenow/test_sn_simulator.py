"""The simulator itself (the behaviours the adapter relies on), and a full flow over real HTTP."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from adapters.servicenow import ServiceNowAdapter, ServiceNowRouteSettings, ServiceNowSystemSettings
from adapters.servicenow.simulator import ServiceNowSimulator, seeded_demo
from connector.core.adapter import AdapterContext
from connector.core.models import OutcomeReport, PendingTicket, ReportKind, Verdict
from tests.adapters.servicenow.sn_testlib import ENV, ROUTE, SYSTEM, WEBHOOK_SECRET, Calls, make_request

REPO = Path(__file__).resolve().parents[3]
AUTH = ("svc_connector", "svc-password")


def api(
    url: str, method: str = "GET", path: str = "/api/now/table/change_request", **kw: Any
) -> requests.Response:
    kw.setdefault("auth", AUTH)
    return requests.request(method, url + path, timeout=5, **kw)


@pytest.fixture
def served() -> Iterator[tuple[ServiceNowSimulator, str]]:
    sim = seeded_demo()
    with sim.serve() as url:
        yield sim, url


def test_table_api_shapes_over_http(served: tuple[ServiceNowSimulator, str]) -> None:
    sim, url = served
    created = api(
        url,
        "POST",
        json={
            "short_description": "x",
            "work_notes": "first note",
            "no_such_column": "y",
            "assignment_group": "abc",
        },
    )
    assert created.status_code == 201 and created.headers["Location"].startswith(url)
    record = created.json()["result"]
    assert record["state"] == "-5" and record["work_notes"] == ""
    assert record["sys_mod_count"] == "1"  # the insert rule asked CAB for approval
    assert "no_such_column" not in record  # unknown columns are silently ignored
    assert record["assignment_group"] == {"link": f"{url}/api/now/table/sys_user_group/abc", "value": "abc"}
    assert all(isinstance(v, str) for k, v in record.items() if k != "assignment_group")
    [note] = sim.journal(record["number"], "work_notes")
    assert note["value"] == "first note" and note["sys_created_by"] == "svc_connector"
    shown = api(
        url,
        path=f"/api/now/table/change_request/{record['sys_id']}",
        params={"sysparm_display_value": "all", "sysparm_fields": "state,approval"},
    ).json()["result"]
    assert shown == {
        "state": {"display_value": "New", "value": "-5"},
        "approval": {"display_value": "Requested", "value": "requested"},
    }


def test_misspelt_query_column_is_dropped_not_refused(served: tuple[ServiceNowSimulator, str]) -> None:
    sim, url = served
    for _ in range(3):
        api(url, "POST", json={"short_description": "x"})
    exact = api(url, params={"sysparm_query": "number=CHG0030001"}).json()["result"]
    typo = api(url, params={"sysparm_query": "numbr=CHG0030001"}).json()["result"]
    assert len(exact) == 1 and len(typo) == 3


def test_paging_link_and_total(served: tuple[ServiceNowSimulator, str]) -> None:
    _, url = served
    for _ in range(5):
        api(url, "POST", json={"short_description": "x"})
    first = api(
        url, params={"sysparm_limit": "2", "sysparm_query": "ORDERBYnumber", "sysparm_fields": "number"}
    )
    assert first.headers["X-Total-Count"] == "5"
    seen, page = [], first
    while True:
        seen += [r["number"] for r in page.json()["result"]]
        nxt = page.links.get("next", {}).get("url")
        if not nxt:
            break
        page = requests.get(nxt, auth=AUTH, timeout=5)
    assert seen == [f"CHG{n:07d}" for n in range(30001, 30006)]


def test_state_model_refuses_jumps_with_a_business_rule(served: tuple[ServiceNowSimulator, str]) -> None:
    _, url = served
    sys_id = api(url, "POST", json={"short_description": "x"}).json()["result"]["sys_id"]
    refused = api(url, "PATCH", f"/api/now/table/change_request/{sys_id}", json={"state": "3"})
    assert refused.status_code == 403
    assert (
        "aborted by Business Rule 'Change Model: Check State Transition" in refused.json()["error"]["detail"]
    )
    assert (
        api(url, "PATCH", f"/api/now/table/change_request/{sys_id}", json={"state": "-4"}).status_code == 200
    )


def _batch(url: str, *items: tuple[str, str], path: str = "/api/now/v1/batch") -> requests.Response:
    rest = [
        {"id": str(i), "method": m, "url": u, "exclude_response_headers": True}
        for i, (m, u) in enumerate(items)
    ]
    return api(url, "POST", path, json={"batch_request_id": "b1", "rest_requests": rest})


def test_batch_api_runs_each_item_as_the_caller_with_its_own_acl(
    served: tuple[ServiceNowSimulator, str],
) -> None:
    sim, url = served
    sys_id = api(url, "POST", json={"short_description": "x"}).json()["result"]["sys_id"]
    sim.read_roles["sys_audit"] = {"admin"}  # the connector's account may not read sys_audit
    before = len(sim.calls)
    answer = _batch(
        url,
        ("GET", f"/api/now/table/change_request/{sys_id}?sysparm_fields=sys_id,state"),
        ("GET", f"/api/now/table/sys_audit?sysparm_query=documentkey={sys_id}"),
    )
    assert answer.status_code == 200 and len(sim.calls) - before == 1  # one call on the wire
    body = answer.json()
    assert body["batch_request_id"] == "b1" and body["unserviced_requests"] == []
    record, audit = body["serviced_requests"]
    assert record["status_code"] == 200 and record["headers"] == []
    assert json.loads(base64.b64decode(record["body"])) == {"result": {"sys_id": sys_id, "state": "-5"}}
    assert audit["status_code"] == 403  # the item's own ACL, not the batch's
    assert [s for _, _, s in sim.batch_items] == [200, 403]


def test_batch_api_items_meet_faults_and_business_rules_and_only_v1_exists(
    served: tuple[ServiceNowSimulator, str],
) -> None:
    sim, url = served
    sys_id = api(url, "POST", json={"short_description": "x"}).json()["result"]["sys_id"]
    sim.inject_fault(503, method="GET", path="/table/sys_audit$")
    limited = _batch(url, ("GET", "/api/now/table/sys_audit"), ("GET", "/api/now/table/change_request"))
    assert [r["status_code"] for r in limited.json()["serviced_requests"]] == [503, 200]
    patch = {
        "id": "p",
        "method": "PATCH",
        "url": f"/api/now/table/change_request/{sys_id}",
        "headers": [{"name": "Content-Type", "value": "application/json"}],
        "body": base64.b64encode(json.dumps({"state": "3"}).encode()).decode(),
    }
    jumped = api(url, "POST", "/api/now/v1/batch", json={"rest_requests": [patch]}).json()
    assert jumped["serviced_requests"][0]["status_code"] == 403  # the change model still refuses jumps
    assert sim.rows["change_request"][sys_id]["state"] == "-5"
    assert _batch(url, ("GET", "/api/now/table/incident"), path="/api/now/batch").status_code == 404
    nested = _batch(url, ("POST", "/api/now/v1/batch"))
    assert nested.status_code == 400


def test_one_second_timestamps_and_mod_count(sim: ServiceNowSimulator) -> None:
    sim.freeze("2026-05-04 09:41:07")
    sys_id = sim.insert("change_request", {"short_description": "x"}, "svc_connector")["sys_id"]
    number = sim.rows["change_request"][sys_id]["number"]
    sim.update(number, "change.manager", description="a")
    sim.update(number, "change.manager", description="b")
    record = sim.record(number)
    assert record["sys_updated_on"] == "2026-05-04 09:41:07" and record["sys_mod_count"] == "3"
    sim.update(number, "change.manager", description="b")  # no change: no update
    assert sim.record(number)["sys_mod_count"] == "3"


def test_auth_errors_and_faults_have_servicenow_shapes(served: tuple[ServiceNowSimulator, str]) -> None:
    sim, url = served
    denied = api(url, auth=("svc_connector", "wrong"))
    assert denied.status_code == 401 and denied.json()["error"]["message"] == "User Not Authenticated"
    sim.inject_fault(429, headers={"Retry-After": "7"})
    limited = api(url)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert limited.json()["error"]["message"] == "Rate limit exceeded"
    assert api(url, path="/api/now/table/u_missing").json()["error"]["message"] == "Invalid table u_missing"


def test_group_approval_roll_up(sim: ServiceNowSimulator) -> None:
    sim.add_member("CAB Approval", "outsider")
    number = sim.insert("change_request", {"short_description": "x"}, "svc_connector")["number"]
    assert sorted(r["state"] for r in sim.approvals(number)) == ["requested", "requested"]
    sim.approve(number, "change.manager")
    assert sorted(r["state"] for r in sim.approvals(number)) == ["approved", "not_required"]
    record = sim.record(number)
    assert (record["approval"], record["state"]) == ("approved", "-2")


@contextmanager
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A real HTTP endpoint standing in for the connector's /webhooks/<system>."""
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/sn", got
    finally:
        server.shutdown()
        server.server_close()


def test_full_flow_over_real_http_with_oauth_and_webhook() -> None:
    sim = seeded_demo()
    system = {
        **SYSTEM,
        "auth": {
            "type": "oauth",
            "grant": "client_credentials",
            "client_id_env": "SN_CLIENT_ID",
            "client_secret_env": "SN_CLIENT_SECRET",
        },
    }
    calls = Calls()
    with sim.serve() as url, receiver() as (hook_url, got):
        sim.set_webhook(hook_url, WEBHOOK_SECRET)
        settings = ServiceNowSystemSettings.model_validate({**system, "instance_url": url})
        adapter = ServiceNowAdapter(
            "sn",
            settings,
            {"change": ServiceNowRouteSettings.model_validate(ROUTE)},
            AdapterContext(env=ENV, on_api_call=calls),
        )
        request = make_request()
        ticket = adapter.create_ticket(request)
        assert ticket.url.startswith(url)
        sim.revoke_tokens()  # the access token dies: the next call gets 401, renews once, carries on
        item = PendingTicket(
            request_id=request.id, route="change", ticket=ticket, created_at=request.created_at
        )
        assert adapter.poll([item], None).events == []
        got.clear()
        sim.approve(ticket.key, "change.manager", "go")
        rolled_up = b'"approval":"approved"'  # the record's own rule (the approver rows' rule also posts)
        [(headers, body)] = [(h, b) for h, b in got if rolled_up in b and b"approver_sys_id" not in b]
        adapter.verify_webhook(headers, body)
        [hint] = adapter.parse_webhook(headers, body)
        assert hint.request_id == request.id and hint.decision is None
        [event] = adapter.poll([item], None).events
        assert event.decision and event.decision.verdict is Verdict.APPROVED
        assert adapter.read_decision(ticket, request).actor == event.decision.actor
        report = OutcomeReport(report_id="r-1", request_id=request.id, kind=ReportKind.SUCCEEDED, text="ok")
        adapter.report(ticket, report, 0)
        adapter.report(ticket, report, 1)
        adapter.close()
    record = sim.record(ticket.key)
    assert (record["state"], record["close_code"]) == ("3", "successful")
    assert len(sim.journal(ticket.key, "work_notes")) == 1
    assert calls[("sn", "401")] == 1
    assert sim.call_count("POST", "/oauth_token.do") == 2


def test_example_config_validates_and_checks_live(rsps: Any, sim: ServiceNowSimulator) -> None:
    data = yaml.safe_load((REPO / "config" / "servicenow-change-triage.yaml").read_text())
    system = {k: v for k, v in data["systems"]["servicenow"].items() if k != "type"}
    system["instance_url"] = SYSTEM["instance_url"]
    [route] = [r for r in data["routes"] if r["name"] == "change-triage"]
    settings = ServiceNowSystemSettings.model_validate(system)
    routes = {
        "change-triage": ServiceNowRouteSettings.model_validate(
            {k: route[k] for k in ("ticket", "decision", "outcome")}
        )
    }
    adapter = ServiceNowAdapter("servicenow", settings, routes, AdapterContext(env=ENV))
    assert [r.item for r in adapter.check(live=True) if not r.ok] == []
    request = make_request(
        route="change-triage",
        summary="Rotate TLS certificates on the edge proxies",
        plan="1. drain\n2. rotate\n3. undrain",
        category="network",
        risk="high",
        requested_for="",
        configuration_item="edge-proxy",
    )
    record = sim.record(adapter.create_ticket(request).key)
    assert (record["category"], record["risk"], record["type"]) == ("Network", "2", "normal")
    assert record["implementation_plan"] == "1. drain\n2. rotate\n3. undrain"
    assert json.dumps(record).count(request.arguments_digest) == 1
