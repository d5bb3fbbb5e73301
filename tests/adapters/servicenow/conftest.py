"""Shared fixtures: a seeded simulator installed on `responses`, adapters built from plain dicts
(as the core would pass them), and approval requests."""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses

from adapters.servicenow import ServiceNowAdapter, ServiceNowRouteSettings, ServiceNowSystemSettings
from adapters.servicenow.simulator import ServiceNowSimulator, seeded_demo
from connector.adapter import AdapterContext
from connector.models import ApprovalRequest, digest_of

BASE = "https://sim.service-now.test"
WEBHOOK_SECRET = "whsec-test-0123456789"
ENV = {
    "SN_USER": "svc_connector",
    "SN_PASSWORD": "svc-password",
    "SN_CLIENT_ID": "connector-client",
    "SN_CLIENT_SECRET": "connector-client-secret",
    "SN_WEBHOOK_SECRET": WEBHOOK_SECRET,
}

SYSTEM: dict[str, Any] = {
    "instance_url": BASE,
    "auth": {"type": "basic", "user_env": "SN_USER", "password_env": "SN_PASSWORD"},
    "service_account": {"user_name": "svc_connector"},
    "webhook": {"secret_env": "SN_WEBHOOK_SECRET"},
    "retry": {"attempts": 4, "base_delay": 0.01, "max_delay": 0.05, "max_inline_wait": 2},
}

ROUTE: dict[str, Any] = {
    "ticket": {
        "table": "change_request",
        "fields": {
            "short_description": "[agent] {{ args.summary }}",
            "description": "Change proposed by {{ request.agent }}",
            "type": "normal",
            "category": "Software",
            "risk": "{{ args.risk }}",
            "impact": "3",
            "assignment_group": "{{ args.group }}",
            "u_agent_run": "{{ request.conversation_id }}",
        },
    },
    "decision": {
        "approval_field": "approval",
        "approved_states": ["-2"],
        "rejected_states": ["4"],
        "pending_states": ["-5", "-4", "-3"],
    },
    "outcome": {
        "journal_field": "work_notes",
        "transitions": {
            "succeeded": {
                "path": ["-1", "0", "3"],
                "fields": {"close_code": "successful", "close_notes": "{{ text }}"},
            },
            "failed": {
                "path": ["-1", "0", "3"],
                "fields": {"close_code": "unsuccessful", "close_notes": "{{ text }}"},
            },
            "rejected": {"path": ["4"]},
            "expired": {"path": ["4"]},
        },
    },
}


def route_dict(**parts: Any) -> dict[str, Any]:
    """A copy of ROUTE with whole parts (ticket/decision/outcome) replaced or merged."""
    route = copy.deepcopy(ROUTE)
    for key, val in parts.items():
        if isinstance(val, dict) and isinstance(route.get(key), dict):
            route[key].update(val)
        else:
            route[key] = val
    return route


class Calls(Counter):
    """AdapterContext.on_api_call target: counts (system, outcome)."""

    def __call__(self, system: str, outcome: str) -> None:
        self[(system, outcome)] += 1


@pytest.fixture
def sim() -> ServiceNowSimulator:
    return seeded_demo(BASE)


@pytest.fixture
def rsps(sim: ServiceNowSimulator) -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        sim.install(mock)
        yield mock


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_adapter(calls: Calls, sleeps: list[float]) -> Callable[..., ServiceNowAdapter]:
    def make(
        system: dict[str, Any] | None = None,
        routes: dict[str, dict[str, Any]] | None = None,
        env: dict[str, str] | None = None,
        now: Callable[[], float] | None = None,
    ) -> ServiceNowAdapter:
        settings = ServiceNowSystemSettings.model_validate(system or SYSTEM)
        parsed = {
            name: ServiceNowRouteSettings.model_validate(r)
            for name, r in (routes or {"change": ROUTE}).items()
        }
        context = AdapterContext(env=ENV if env is None else env, on_api_call=calls)
        extra = {"now": now} if now else {}
        return ServiceNowAdapter("sn", settings, parsed, context, sleep=sleeps.append, **extra)

    return make


@pytest.fixture
def adapter(
    make_adapter: Callable[..., ServiceNowAdapter], rsps: responses.RequestsMock
) -> ServiceNowAdapter:
    return make_adapter()


def make_request(route: str = "change", **arguments: Any) -> ApprovalRequest:
    args = {"summary": "Restart payments-api pods in prod-eu", "risk": "3", "group": "", **arguments}
    return ApprovalRequest(
        id=uuid.uuid4().hex,
        route=route,
        system="sn",
        tool_name="apply_change",
        arguments=args,
        arguments_digest=digest_of(args),
        agent="triage-agent",
        conversation_id="conv-42",
        requester="requester",
        rationale="Pods leak memory; a rolling restart clears it.",
    )


@pytest.fixture
def new_request() -> Callable[..., ApprovalRequest]:
    return make_request
