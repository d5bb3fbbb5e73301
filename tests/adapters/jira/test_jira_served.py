"""The simulator as a real HTTP server: the adapter talks over sockets, and the simulator's signed
webhooks reach a real receiver that verifies them with the adapter."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from adapters.jira import JiraAdapter
from adapters.jira.simulator import JiraSimulator
from connector.core.errors import WebhookRejected
from connector.core.models import OutcomeReport, ReportKind, TicketRef, Verdict
from tests.adapters.jira.jira_testlib import build_adapter, make_request


class Receiver:
    """A minimal /webhooks/jira endpoint: verify, parse, record (what the core's app does)."""

    def __init__(self, adapter: JiraAdapter) -> None:
        self.adapter = adapter
        self.events: list[Any] = []
        self.rejected: list[int] = []

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                try:
                    receiver.adapter.verify_webhook(headers, body)
                    receiver.events += receiver.adapter.parse_webhook(headers, body)
                    status = 204
                except WebhookRejected as exc:
                    receiver.rejected.append(exc.status)
                    status = exc.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def served() -> Iterator[tuple[JiraSimulator, JiraAdapter, Receiver, str]]:
    sim = JiraSimulator.seeded_demo()
    with sim.serve():
        adapter = build_adapter(sim)
        receiver = Receiver(adapter)
        server, url = receiver.serve()
        try:
            yield sim, adapter, receiver, url
        finally:
            server.shutdown()
            server.server_close()
            adapter.close()


def test_flow_over_http_with_signed_webhook(served):
    sim, adapter, receiver, url = served
    description = adapter.register_webhook(url)
    assert "webhook created" in description and "demo-webhook-secret" not in description
    assert sim.webhooks[0]["url"] == f"{url}/webhooks/jira"
    request = make_request()
    ref = adapter.create_ticket(request)
    sim.transition(ref.key, "Approve", actor="alice")
    assert [w["status"] for w in sim.webhooks_sent] == [204]
    [hint] = receiver.events
    assert (hint.ticket_key, hint.decision, hint.request_id) == (ref.key, None, "req-1")
    assert hint.delivery_id == sim.webhooks_sent[0]["headers"]["X-Atlassian-Webhook-Identifier"]
    decision = adapter.read_decision(TicketRef(system="jira", key=hint.ticket_key), request)
    assert decision.verdict is Verdict.APPROVED and decision.actor.id == "5b10a2844c20165700ede21a"
    adapter.report(
        ref,
        OutcomeReport(report_id="r1", request_id=request.id, kind=ReportKind.SUCCEEDED, text="sent"),
        attempt=0,
    )
    assert sim.status_of(ref.key) == "Done"
    assert len(sim.webhooks_sent) == 2  # the connector's own transition is delivered too (a hint only)


def test_forged_and_unsigned_webhooks_are_refused(served):
    sim, adapter, receiver, url = served
    sim.register_webhook(
        f"{url}/webhooks/jira", secret="not-the-secret", jql_filter='labels = "approval-connector"'
    )
    sim.register_webhook(f"{url}/webhooks/jira", secret=None)
    ref = adapter.create_ticket(make_request())
    sim.transition(ref.key, "Approve", actor="alice")
    assert sorted(w["status"] for w in sim.webhooks_sent) == [401, 401]
    assert receiver.events == []


def test_filter_skips_issues_without_label(served):
    sim, adapter, receiver, url = served
    adapter.register_webhook(url)
    issue = sim.create_issue(labels=["other"])
    sim.transition(issue.key, "Approve", actor="alice")
    assert sim.webhooks_sent == []
