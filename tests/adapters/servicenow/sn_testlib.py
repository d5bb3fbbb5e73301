"""Constants and helpers shared by the ServiceNow tests (imported by conftest and test modules)."""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from typing import Any

from connector.core.models import ApprovalRequest, digest_of

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

OAUTH_PASSWORD_GRANT: dict[str, Any] = {
    "type": "oauth",
    "grant": "password",
    "client_id_env": "SN_CLIENT_ID",
    "client_secret_env": "SN_CLIENT_SECRET",
    "user_env": "SN_USER",
    "password_env": "SN_PASSWORD",
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
