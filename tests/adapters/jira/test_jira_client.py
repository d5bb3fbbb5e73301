"""JiraClient against HTTP mocks: every call it makes and every error class it must map."""

from __future__ import annotations

import base64
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
import requests
import responses

from adapters.jira.client import JiraClient
from adapters.jira.settings import JiraSystemSettings
from connector.core.adapter import AdapterContext
from connector.core.errors import (
    AdapterError,
    AuthError,
    BadRequestError,
    ConfigError,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    RateLimitedError,
    UnavailableError,
)
from connector.core.http import RetryPolicy
from tests.adapters.jira.jira_testlib import Sleeps, fixture

URL = "https://example.atlassian.net"
ENV = {"JIRA_EMAIL": "jira-bot@example.com", "JIRA_API_TOKEN": "s3cret-token-value", "JIRA_PAT": "pat-value"}


class Harness:
    def __init__(self, rsps: responses.RequestsMock, deployment: str = "auto", pat: bool = False) -> None:
        self.rsps = rsps
        self.calls: Counter = Counter()
        self.sleeps = Sleeps()
        auth = {"pat_env": "JIRA_PAT"} if pat else {"email_env": "JIRA_EMAIL", "token_env": "JIRA_API_TOKEN"}
        settings = JiraSystemSettings.model_validate(
            {"url": URL, "deployment": deployment, "auth": auth, "page_size": 2}
        )
        context = AdapterContext(env=ENV, on_api_call=lambda s, o: self.calls.update([o]))
        self.client = JiraClient(
            settings,
            "jira",
            context,
            policy=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02, max_inline_wait=30),
            sleep=self.sleeps,
        )


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{URL}/rest/api/2/serverInfo", json=fixture("serverInfo.cloud.json"))
        yield mock


@pytest.fixture
def h(rsps) -> Harness:
    return Harness(rsps)


def error(status: int, headers: dict[str, str] | None = None, body: Any = None) -> dict[str, Any]:
    return {
        "status": status,
        "headers": headers or {},
        "json": body if body is not None else {"errorMessages": [f"status {status}"], "errors": {}},
    }


def test_server_info_read_once_and_counted(h, rsps):
    rsps.get(f"{URL}/rest/api/2/myself", json=fixture("myself.cloud.json"))
    h.client.myself()
    h.client.myself()
    assert h.client.is_cloud
    assert len([c for c in rsps.calls if c.request.url.endswith("/serverInfo")]) == 1
    assert h.calls["200"] == 3


def test_cloud_uses_basic_email_and_token(h, rsps):
    rsps.get(f"{URL}/rest/api/2/myself", json=fixture("myself.cloud.json"))
    h.client.myself()
    sent = rsps.calls[-1].request.headers["Authorization"]
    assert sent == "Basic " + base64.b64encode(b"jira-bot@example.com:s3cret-token-value").decode()


def test_datacenter_uses_bearer_pat(rsps):
    rsps.replace(responses.GET, f"{URL}/rest/api/2/serverInfo", json=fixture("serverInfo.datacenter.json"))
    rsps.get(f"{URL}/rest/api/2/myself", json={"name": "svc", "key": "JIRAUSER1"})
    harness = Harness(rsps, pat=True)
    harness.client.myself()
    assert rsps.calls[-1].request.headers["Authorization"] == "Bearer pat-value"
    assert not harness.client.is_cloud


def test_missing_secret_names_variable_only():
    settings = JiraSystemSettings.model_validate(
        {"url": URL, "auth": {"email_env": "JIRA_EMAIL", "token_env": "NOPE"}}
    )
    client = JiraClient(settings, "jira", AdapterContext(env=ENV))
    with pytest.raises(ConfigError) as err:
        client.myself()
    assert "NOPE" in str(err.value) and "jira-bot@example.com" not in str(err.value)


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, BadRequestError),
        (401, AuthError),
        (403, PermissionDenied),
        (404, NotFoundError),
        (409, ConflictError),
        (422, BadRequestError),
    ],
)
def test_status_maps_to_typed_error_without_retry(h, rsps, status, error_type):
    rsps.get(f"{URL}/rest/api/2/issue/OPS-1", **error(status))
    with pytest.raises(error_type) as err:
        h.client.issue("OPS-1", ["status"])
    assert err.value.status == status and h.sleeps == []
    assert "s3cret" not in str(err.value)


def test_bad_request_message_carries_field_errors(h, rsps):
    rsps.post(f"{URL}/rest/api/2/issue", status=400, json=fixture("issue.create.response.400.json"))
    with pytest.raises(BadRequestError, match="customfield_10050"):
        h.client.create_issue({"summary": "x"})


def test_429_retry_after_seconds_is_slept_then_succeeds(h, rsps):
    rsps.get(f"{URL}/rest/api/2/myself", **error(429, {"Retry-After": "5"}))
    rsps.get(f"{URL}/rest/api/2/myself", json=fixture("myself.cloud.json"))
    assert h.client.myself()["accountId"]
    assert len(h.sleeps) == 1 and 5 <= h.sleeps[0] < 5.1
    assert h.calls["429"] == 1


def test_429_retry_after_http_date(h, rsps):
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=20), usegmt=True)
    rsps.get(f"{URL}/rest/api/2/myself", **error(429, {"Retry-After": when}))
    rsps.get(f"{URL}/rest/api/2/myself", json=fixture("myself.cloud.json"))
    h.client.myself()
    assert 17 <= h.sleeps[0] <= 21


def test_429_long_retry_after_goes_back_to_caller(h, rsps):
    rsps.get(f"{URL}/rest/api/2/myself", **error(429, {"Retry-After": "3600"}))
    with pytest.raises(RateLimitedError) as err:
        h.client.myself()
    assert err.value.retry_after == 3600 and h.sleeps == []


def test_429_recorded_headers_fixture(h, rsps):
    recorded = fixture("error.429.rate-limited.json")
    rsps.get(f"{URL}/rest/api/2/myself", status=429, headers=recorded["_headers"], json=recorded["_body"])
    rsps.get(f"{URL}/rest/api/2/myself", json=fixture("myself.cloud.json"))
    h.client.myself()
    assert 5 <= h.sleeps[0] < 5.1


def test_429_storm_surfaces_rate_limited_after_attempts(h, rsps):
    for _ in range(3):
        rsps.get(f"{URL}/rest/api/2/myself", **error(429, {"Retry-After": "1"}))
    with pytest.raises(RateLimitedError):
        h.client.myself()
    assert h.calls["429"] == 3 and len(h.sleeps) == 2


def test_5xx_get_retried(h, rsps):
    rsps.get(f"{URL}/rest/api/2/myself", **error(502))
    rsps.get(f"{URL}/rest/api/2/myself", json=fixture("myself.cloud.json"))
    h.client.myself()
    assert h.calls["502"] == 1 and len(h.sleeps) == 1


def test_5xx_storm_is_unavailable(h, rsps):
    for _ in range(3):
        rsps.get(f"{URL}/rest/api/2/myself", **error(503))
    with pytest.raises(UnavailableError):
        h.client.myself()


def test_create_not_retried_on_5xx(h, rsps):
    rsps.post(f"{URL}/rest/api/2/issue", **error(503))
    with pytest.raises(UnavailableError):
        h.client.create_issue({"summary": "x"})
    assert h.calls["503"] == 1 and h.sleeps == []


def test_create_retried_on_429(h, rsps):
    rsps.post(f"{URL}/rest/api/2/issue", **error(429, {"Retry-After": "0"}))
    rsps.post(f"{URL}/rest/api/2/issue", status=201, json=fixture("issue.create.response.201.json"))
    assert h.client.create_issue({"summary": "x"})["key"]
    assert len([c for c in rsps.calls if c.request.method == "POST"]) == 2


@pytest.mark.parametrize("exc", [requests.ConnectTimeout("t"), requests.ReadTimeout("t")])
def test_timeouts_are_unavailable_and_counted(h, rsps, exc):
    h.client.jira  # noqa: B018 - connect first
    rsps.get(f"{URL}/rest/api/2/myself", body=exc)
    rsps.get(f"{URL}/rest/api/2/myself", body=exc)
    rsps.get(f"{URL}/rest/api/2/myself", body=exc)
    with pytest.raises(UnavailableError, match="timed out"):
        h.client.myself()
    assert h.calls["timeout"] == 3


def test_connection_error_on_create_not_retried(h, rsps):
    h.client.jira  # noqa: B018
    rsps.post(f"{URL}/rest/api/2/issue", body=requests.ConnectionError("reset"))
    with pytest.raises(UnavailableError, match=f"connection to {URL} failed"):
        h.client.create_issue({"summary": "x"})
    assert h.calls["error"] == 1


def test_server_info_failure_is_typed_and_retried_later(h, rsps):
    rsps.replace(responses.GET, f"{URL}/rest/api/2/serverInfo", status=401, json={"errorMessages": ["no"]})
    with pytest.raises(AuthError):
        h.client.is_cloud  # noqa: B018 - serverInfo is read where the deployment matters
    rsps.replace(responses.GET, f"{URL}/rest/api/2/serverInfo", json=fixture("serverInfo.cloud.json"))
    assert h.client.is_cloud


def test_cloud_search_pages_with_next_page_token(h, rsps):
    bodies = []

    def answer(request):
        body = json.loads(request.body)
        bodies.append(body)
        page = "search.jql.page2.json" if body.get("nextPageToken") == "CAEaAggD" else "search.jql.page1.json"
        return 200, {}, json.dumps(fixture(page))

    rsps.add_callback(responses.POST, f"{URL}/rest/api/2/search/jql", callback=answer)
    keys = [i["key"] for i in h.client.search('labels = "x"', ["status"], expand="changelog")]
    assert keys == ["OPS-42", "OPS-43", "OPS-44"]
    assert [b.get("nextPageToken") for b in bodies] == [None, "CAEaAggD"]
    assert bodies[0] == {"jql": 'labels = "x"', "fields": ["status"], "maxResults": 2, "expand": "changelog"}


def test_datacenter_search_pages_with_start_at(rsps):
    rsps.replace(responses.GET, f"{URL}/rest/api/2/serverInfo", json=fixture("serverInfo.datacenter.json"))
    issue = fixture("search.legacy.datacenter.page.json")["issues"][0]
    starts = []

    def answer(request):
        body = json.loads(request.body)
        starts.append(body["startAt"])
        issues = [issue, issue] if body["startAt"] == 0 else [issue]
        return (
            200,
            {},
            json.dumps({"startAt": body["startAt"], "maxResults": 2, "total": 3, "issues": issues}),
        )

    rsps.add_callback(responses.POST, f"{URL}/rest/api/2/search", callback=answer)
    harness = Harness(rsps, pat=True)
    assert len(list(harness.client.search("labels = x", ["status"], expand="changelog"))) == 3
    assert starts == [0, 2]


def test_legacy_search_410_is_an_error_not_empty(rsps):
    rsps.post(f"{URL}/rest/api/2/search", status=410, json=fixture("search.legacy.410.json"))
    harness = Harness(rsps, deployment="datacenter")
    with pytest.raises(AdapterError, match="410"):
        list(harness.client.search("labels = x", ["status"]))


def test_transition_body_with_comment_and_fields(h, rsps):
    rsps.post(f"{URL}/rest/api/2/issue/OPS-42/transitions", status=204)
    h.client.transition("OPS-42", "41", comment="done", fields={"resolution": {"name": "Done"}})
    assert json.loads(rsps.calls[-1].request.body) == {
        "transition": {"id": "41"},
        "fields": {"resolution": {"name": "Done"}},
        "update": {"comment": [{"add": {"body": "done"}}]},
    }


def test_transitions_list(h, rsps):
    rsps.get(f"{URL}/rest/api/2/issue/OPS-42/transitions", json=fixture("transitions.awaiting.json"))
    assert [t["name"] for t in h.client.transitions("OPS-42")] == ["Approve", "Reject"]


def test_internal_comment_uses_sd_public_comment_property(h, rsps):
    rsps.post(
        f"{URL}/rest/api/2/issue/OPS-42/comment",
        status=201,
        json=fixture("comment.create.response.201.v2.json"),
    )
    h.client.add_comment("OPS-42", "x", internal=True)
    assert json.loads(rsps.calls[-1].request.body)["properties"] == [
        {"key": "sd.public.comment", "value": {"internal": True}}
    ]


def test_comments_paged(h, rsps):
    one = {"id": "1", "body": "a"}
    rsps.get(f"{URL}/rest/api/2/issue/OPS-42/comment", json={"startAt": 0, "total": 2, "comments": [one]})
    rsps.get(f"{URL}/rest/api/2/issue/OPS-42/comment", json={"startAt": 1, "total": 2, "comments": [one]})
    assert len(h.client.comments("OPS-42")) == 2


def test_changelog_cloud_pages(h, rsps):
    page = fixture("issue.changelog.page.json")
    page["isLast"] = True
    rsps.get(f"{URL}/rest/api/2/issue/OPS-42/changelog", json=page)
    assert h.client.changelog("OPS-42") == page["values"]


def test_jsm_approvals(h, rsps):
    rsps.get(f"{URL}/rest/servicedeskapi/request/OPS-42/approval", json=fixture("jsm.approvals.list.json"))
    assert h.client.jsm_approvals("OPS-42")["values"][0]["id"] == "7"


def test_fields_and_project(h, rsps):
    rsps.get(f"{URL}/rest/api/2/field", json=fixture("field.list.json"))
    rsps.get(f"{URL}/rest/api/2/project/OPS", json=fixture("project.OPS.json"))
    assert {f["id"] for f in h.client.fields()} >= {"customfield_10050"}
    assert h.client.project("OPS")["key"] == "OPS"


@pytest.mark.parametrize(("deployment", "server_info_calls"), [("cloud", 0), ("auto", 1)])
def test_call_budget_includes_the_server_info_read_when_the_deployment_is_asked(
    rsps, deployment, server_info_calls
):
    client = Harness(rsps, deployment=deployment).client
    one = 3 * (5 + 30) + 2 * (30 + 0.01)  # attempts x (connect + read) + two sleeps at the inline cap
    assert client.call_budget() == pytest.approx((1 + server_info_calls) * one)


def test_a_login_page_instead_of_json_is_unavailable_not_an_empty_result(h, rsps):
    page = "<html><title>Log in</title></html>"
    rsps.post(f"{URL}/rest/api/2/search/jql", body=page, content_type="text/html")
    with pytest.raises(UnavailableError, match="not JSON"):
        list(h.client.search('labels = "x"', ["status"]))
    assert h.calls["200"] == 1 + 3 and len(h.sleeps) == 2  # serverInfo, then a search retried
