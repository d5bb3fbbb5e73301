"""Opt-in checks against YOUR real Jira / ServiceNow (never run in CI).

    APPROVAL_CONNECTOR_LIVE=1 APPROVAL_CONNECTOR_LIVE_CONFIG=config/my-jira.yaml pytest -m live

For every system and route of that config: check-config --live passes, a test ticket is created
for a harmless request, found again by its request id, reads back as pending, and gets one
non-final note. The ticket is left open for you to delete or cancel."""

from __future__ import annotations

import os
import uuid

import pytest

from connector.app.config import load_config
from connector.app.runtime import build_adapters
from connector.core.models import ApprovalRequest, OutcomeReport, ReportKind, Verdict, digest_of

pytestmark = pytest.mark.live

LIVE = os.environ.get("APPROVAL_CONNECTOR_LIVE") == "1"
CONFIG = os.environ.get("APPROVAL_CONNECTOR_LIVE_CONFIG", "")


@pytest.fixture(scope="module")
def live_adapters():
    if not LIVE or not CONFIG:
        pytest.skip("live test: set APPROVAL_CONNECTOR_LIVE=1 and APPROVAL_CONNECTOR_LIVE_CONFIG=<file>")
    from connector.core.adapter import AdapterContext
    from connector.core.store import Store

    config = load_config(CONFIG)
    store = Store.from_url("sqlite:///:memory:")
    routes = {r.name: list(r.approvers) for r in config.routes}
    adapters = build_adapters(
        config, AdapterContext(engine=store.engine, env=os.environ, route_approvers=routes)
    )
    return config, adapters


def test_live_configuration_checks_pass(live_adapters):
    _, adapters = live_adapters
    problems = [c for a in adapters.values() for c in a.check(live=True) if not c.ok and not c.warning]
    assert problems == []


def test_live_ticket_round_trip(live_adapters):
    config, adapters = live_adapters
    for route in config.routes:
        if route.mode.value not in ("gate", "shadow"):
            continue
        adapter = adapters[route.system]
        arguments = {"note": "approval-connector live test; safe to delete"}
        request = ApprovalRequest(
            id=uuid.uuid4().hex,
            route=route.name,
            system=route.system,
            tool_name=route.tools[0],
            arguments=arguments,
            arguments_digest=digest_of(arguments),
            rationale="live test",
        )
        ticket = adapter.create_ticket(request)
        assert adapter.find_ticket(request) == ticket
        assert adapter.read_decision(ticket, request).verdict is Verdict.PENDING
        note = OutcomeReport(
            report_id=f"{request.id}:live",
            request_id=request.id,
            route=route.name,
            kind=ReportKind.UNAUTHORIZED,
            text="approval-connector live test note",
            final=False,
        )
        adapter.report(ticket, note, attempt=0)
        adapter.report(ticket, note, attempt=1)  # a retried delivery must not post twice
