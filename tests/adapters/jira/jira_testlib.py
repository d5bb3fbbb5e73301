"""Helpers for the Jira adapter tests (a uniquely named module: tests/adapters has no __init__.py,
so test modules here are imported by base name). Adapter wired to a simulator with a fast retry
policy and a recording sleep, request builders, fixture loading."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from adapters.jira import JiraAdapter
from adapters.jira.settings import JiraRouteSettings, JiraSystemSettings
from adapters.jira.simulator import JiraSimulator
from connector.core.adapter import AdapterContext
from connector.core.http import RetryPolicy
from connector.core.models import ApprovalRequest, digest_of

FIXTURES = Path(__file__).parent / "fixtures"
ROUTE = "customer-email"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture(name: str) -> Any:
    return json.loads(fixture_bytes(name))


class Sleeps(list):
    """Records requested sleeps instead of sleeping (tests stay fast, waits stay checkable)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def route_settings(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ticket": {
            "project": "OPS",
            "issue_type": "Task",
            "labels": ["customer-email"],
            "priority": "High",
            "components": ["Email"],
            "fields": {"Customer Email": "{{ args.to }}"},
        },
        "decision": {"pending": ["Awaiting Approval"], "approved": ["Approved"], "rejected": ["Rejected"]},
        "outcome": {
            "on_success": {"transition": "Mark executed", "fields": {"resolution": {"name": "Done"}}},
            "on_failure": "Mark failed",
            "on_rejection": "Close",
            "on_expiry": "Cancel",
        },
    }
    for key, value in overrides.items():
        data[key] = {**data.get(key, {}), **value}
    return data


def system_settings(sim: JiraSimulator, **overrides: Any) -> dict[str, Any]:
    auth = (
        {"email_env": "JIRA_EMAIL", "token_env": "JIRA_API_TOKEN"} if sim.cloud else {"pat_env": "JIRA_PAT"}
    )
    data: dict[str, Any] = {
        "url": sim.base_url,
        "deployment": "auto",
        "auth": auth,
        "webhook": {"secret_env": "JIRA_WEBHOOK_SECRET"},
        "page_size": 2,
    }
    data.update(overrides)
    return data


def build_adapter(
    sim: JiraSimulator,
    routes: dict[str, dict[str, Any]] | None = None,
    env: dict[str, str] | None = None,
    policy: RetryPolicy | None = None,
    **settings: Any,
) -> JiraAdapter:
    calls: Counter = Counter()
    context = AdapterContext(
        env=env if env is not None else sim.demo_env(),
        on_api_call=lambda system, outcome: calls.update([(system, outcome)]),
    )
    adapter = JiraAdapter(
        "jira",
        JiraSystemSettings.model_validate(system_settings(sim, **settings)),
        {
            name: JiraRouteSettings.model_validate(r)
            for name, r in (routes or {ROUTE: route_settings()}).items()
        },
        context,
        policy=policy or RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02, max_inline_wait=2.0),
        sleep=Sleeps(),
    )
    adapter.calls = calls  # type: ignore[attr-defined]
    return adapter


def make_request(request_id: str = "req-1", route: str = ROUTE, **arguments: Any) -> ApprovalRequest:
    args = arguments or {"to": "customer@example.com", "subject": "Your refund", "body": "Hello *there*"}
    return ApprovalRequest(
        id=request_id,
        route=route,
        system="jira",
        tool_name="send_email",
        arguments=args,
        arguments_digest=digest_of(args),
        agent="support-agent",
        requester="bob",
        rationale="Customer asked for a refund [~accountid:5b10a2844c20165700ede21c]",
    )
