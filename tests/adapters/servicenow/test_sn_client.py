"""The Table API client against `responses`: every call, every error, retries and tokens."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from adapters.servicenow.client import ServiceNowClient
from adapters.servicenow.settings import ServiceNowSystemSettings
from connector.core.adapter import AdapterContext
from connector.core.errors import (
    AuthError,
    BadRequestError,
    ConfigError,
    NotFoundError,
    PermissionDenied,
    RateLimitedError,
    UnavailableError,
)
from tests.adapters.servicenow.sn_testlib import BASE, ENV, OAUTH_PASSWORD_GRANT, SYSTEM, Calls

FIXTURES = Path(__file__).parent / "fixtures"
TABLE = f"{BASE}/api/now/table/change_request"
TOKEN = f"{BASE}/oauth_token.do"
OAUTH = {**SYSTEM, "auth": OAUTH_PASSWORD_GRANT}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def make(
    system: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> tuple[ServiceNowClient, Calls, list[float]]:
    calls, sleeps = Calls(), []
    settings = ServiceNowSystemSettings.model_validate(system or SYSTEM)
    context = AdapterContext(env=ENV if env is None else env, on_api_call=calls)
    return ServiceNowClient("sn", settings, context, sleep=sleeps.append), calls, sleeps


def query_of(call: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


@responses.activate
def test_list_follows_link_next_and_sends_explicit_params() -> None:
    client, calls, _ = make()
    page2 = f"{TABLE}?sysparm_offset=1&sysparm_limit=1"
    responses.get(TABLE, json={"result": [{"sys_id": "a"}]}, headers={"Link": f'<{page2}>;rel="next"'})
    responses.get(TABLE, json={"result": [{"sys_id": "b"}]})
    rows = client.list("change_request", "active=true^ORDERBYnumber", ["sys_id", "number"], limit=1)
    assert [r["sys_id"] for r in rows] == ["a", "b"]
    first = query_of(responses.calls[0])
    assert first == {
        "sysparm_query": "active=true^ORDERBYnumber",
        "sysparm_fields": "sys_id,number",
        "sysparm_display_value": "false",
        "sysparm_exclude_reference_link": "true",
        "sysparm_limit": "1",
    }
    assert responses.calls[1].request.url == page2
    assert calls == {("sn", "200"): 2}


@responses.activate
def test_short_page_with_next_link_is_not_the_end() -> None:
    client, _, _ = make()
    page2 = f"{TABLE}?sysparm_offset=100"
    responses.get(TABLE, json={"result": []}, headers={"Link": f'<{page2}>;rel="next"'})
    responses.get(TABLE, json={"result": [{"sys_id": "late"}]})
    assert client.list("change_request", "", ["sys_id"]) == [{"sys_id": "late"}]


@responses.activate
def test_paging_link_to_another_host_is_refused() -> None:
    client, _, _ = make()
    responses.get(TABLE, json={"result": []}, headers={"Link": '<https://evil.example/x>;rel="next"'})
    with pytest.raises(Exception, match="leaves the instance"):
        client.list("change_request", "", ["sys_id"])


@responses.activate
def test_get_create_update_round_trip() -> None:
    client, calls, _ = make()
    responses.get(f"{TABLE}/abc", json={"result": {"sys_id": "abc", "state": "-5"}})
    responses.post(TABLE, json=fixture("change_request_post.response_201.json"), status=201)
    responses.patch(f"{TABLE}/abc", json=fixture("change_request_patch_work_notes.response_200.json"))
    assert client.read("change_request", "abc", ["sys_id", "state"])["state"] == "-5"
    created = client.create("change_request", {"short_description": "x"}, ["sys_id", "number"])
    assert created["number"] == "CHG0030107"
    updated = client.update("change_request", "abc", {"work_notes": "hello"}, ["sys_id"])
    assert updated["work_notes"] == ""  # journal fields read back empty
    post, patch = responses.calls[1].request, responses.calls[2].request
    assert post.headers["Content-Type"] == "application/json" and json.loads(post.body) == {
        "short_description": "x"
    }
    assert json.loads(patch.body) == {"work_notes": "hello"}
    assert calls == {("sn", "200"): 2, ("sn", "201"): 1}


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (400, "error_400_invalid_table.json", BadRequestError, "Invalid table u_no_such_table"),
        (401, "error_401_not_authenticated.json", AuthError, "refused the credentials"),
        (403, "error_403_acl_null_detail.json", PermissionDenied, "Insufficient rights"),
        (403, "error_403_business_rule_abort.json", PermissionDenied, "Change Model: Check State Transition"),
        (404, "error_404_no_record.json", NotFoundError, "No Record found"),
    ],
)
@responses.activate
def test_errors_become_typed_errors(status: int, body: str, error: type[Exception], text: str) -> None:
    client, calls, sleeps = make()
    responses.get(f"{TABLE}/abc", json=fixture(body), status=status)
    with pytest.raises(error, match=text) as info:
        client.read("change_request", "abc", ["sys_id"])
    assert info.value.status == status
    assert len(responses.calls) == 1 and sleeps == []  # not retried
    assert calls == {("sn", str(status)): 1}


@responses.activate
def test_business_rule_message_names_the_rule_once() -> None:
    client, _, _ = make()
    responses.patch(f"{TABLE}/abc", json=fixture("error_403_business_rule_abort.json"), status=403)
    with pytest.raises(PermissionDenied) as info:
        client.update("change_request", "abc", {"state": "3"}, ["sys_id"])
    assert str(info.value).startswith("sn: business rule 'Change Model: Check State Transition' refused")


@responses.activate
def test_429_waits_for_retry_after_then_succeeds() -> None:
    client, calls, sleeps = make()
    responses.get(
        TABLE, json=fixture("error_429_rate_limited.json"), status=429, headers={"Retry-After": "1"}
    )
    responses.get(TABLE, json={"result": [{"sys_id": "a"}]})
    assert client.list("change_request", "", ["sys_id"]) == [{"sys_id": "a"}]
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 1.02
    assert calls == {("sn", "429"): 1, ("sn", "200"): 1}


@responses.activate
def test_429_with_long_retry_after_goes_up_at_once() -> None:
    client, _, sleeps = make()
    headers = fixture("error_429_rate_limited.headers.json")
    responses.get(TABLE, json=fixture("error_429_rate_limited.json"), status=429, headers=headers)
    with pytest.raises(RateLimitedError) as info:
        client.list("change_request", "", ["sys_id"])
    assert info.value.retry_after == 1187 and sleeps == []


@responses.activate
def test_5xx_is_retried_with_backoff_then_gives_up() -> None:
    client, calls, sleeps = make()
    for _ in range(4):
        responses.get(TABLE, json={"error": {"message": "boom"}}, status=503)
    with pytest.raises(UnavailableError, match="503"):
        client.list("change_request", "", ["sys_id"])
    assert len(responses.calls) == 4 and len(sleeps) == 3
    assert all(0 < s <= 0.05 for s in sleeps)
    assert calls == {("sn", "503"): 4}


@responses.activate
def test_timeout_is_retried_and_counted() -> None:
    client, calls, _ = make()
    responses.get(TABLE, body=requests.ReadTimeout("slow"))
    responses.get(TABLE, json={"result": []})
    assert client.list("change_request", "", ["sys_id"]) == []
    assert calls == {("sn", "timeout"): 1, ("sn", "200"): 1}


@responses.activate
def test_post_is_not_retried_after_5xx_or_timeout() -> None:
    client, _, _ = make()
    responses.post(TABLE, body=requests.ConnectTimeout("lost"))
    with pytest.raises(UnavailableError, match="timed out"):
        client.create("change_request", {}, ["sys_id"])
    responses.post(TABLE, json={"error": {"message": "x"}}, status=502)
    with pytest.raises(UnavailableError):
        client.create("change_request", {}, ["sys_id"])
    assert len(responses.calls) == 2


@responses.activate
def test_post_is_retried_after_429_because_nothing_happened() -> None:
    client, _, _ = make()
    responses.post(
        TABLE, json=fixture("error_429_rate_limited.json"), status=429, headers={"Retry-After": "0"}
    )
    responses.post(TABLE, json={"result": {"sys_id": "n"}}, status=201)
    assert client.create("change_request", {}, ["sys_id"]) == {"sys_id": "n"}


@responses.activate
def test_html_page_from_a_hibernating_instance_is_transient() -> None:
    client, _, _ = make()
    responses.get(f"{TABLE}/abc", body="<html>Your instance is hibernating</html>", content_type="text/html")
    with pytest.raises(UnavailableError, match="hibernating"):
        client.read("change_request", "abc", ["sys_id"])


@responses.activate
def test_basic_auth_is_sent_but_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client, _, _ = make()
    responses.get(TABLE, json={"result": []})
    client.list("change_request", "", ["sys_id"])
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert ENV["SN_PASSWORD"] not in caplog.text and "Authorization" not in caplog.text


def test_missing_secret_is_a_config_error_naming_the_variable() -> None:
    client, _, _ = make(env={})
    with pytest.raises(ConfigError, match="SN_USER is not set"):
        client.list("change_request", "", ["sys_id"])


@responses.activate
def test_oauth_password_grant_then_bearer(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client, calls, _ = make(OAUTH)
    token = fixture("oauth_token_password_grant.response_200.json")
    responses.post(TOKEN, json=token)
    responses.get(TABLE, json={"result": []})
    client.list("change_request", "", ["sys_id"])
    client.list("change_request", "", ["sys_id"])
    form = parse_qs(responses.calls[0].request.body)
    assert form["grant_type"] == ["password"] and form["username"] == ["svc_connector"]
    assert responses.calls[0].request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert responses.calls[1].request.headers["Authorization"] == f"Bearer {token['access_token']}"
    assert len(responses.calls) == 3  # one token for both calls
    assert token["access_token"] not in caplog.text and ENV["SN_CLIENT_SECRET"] not in caplog.text
    assert calls == {("sn", "200"): 3}


@responses.activate
def test_oauth_401_refreshes_once_then_succeeds() -> None:
    client, _, _ = make(OAUTH)
    responses.post(TOKEN, json={"access_token": "t1", "refresh_token": "r1", "expires_in": 1799})
    responses.get(TABLE, json=fixture("error_401_not_authenticated.json"), status=401)
    responses.post(TOKEN, json={"access_token": "t2", "refresh_token": "r2", "expires_in": 1799})
    responses.get(TABLE, json={"result": [{"sys_id": "a"}]})
    assert client.list("change_request", "", ["sys_id"]) == [{"sys_id": "a"}]
    refresh = parse_qs(responses.calls[2].request.body)
    assert refresh["grant_type"] == ["refresh_token"] and refresh["refresh_token"] == ["r1"]
    assert responses.calls[3].request.headers["Authorization"] == "Bearer t2"


@responses.activate
def test_oauth_second_401_is_a_clear_auth_error() -> None:
    client, _, _ = make(OAUTH)
    responses.post(TOKEN, json={"access_token": "t1", "expires_in": 1799})
    responses.get(TABLE, json=fixture("error_401_not_authenticated.json"), status=401)
    with pytest.raises(AuthError, match="freshly issued OAuth token"):
        client.list("change_request", "", ["sys_id"])
    assert len(responses.calls) == 4  # token, 401, token, 401: no loop


@responses.activate
def test_oauth_client_credentials_refused() -> None:
    system = {
        **OAUTH,
        "auth": {
            "type": "oauth",
            "grant": "client_credentials",
            "client_id_env": "SN_CLIENT_ID",
            "client_secret_env": "SN_CLIENT_SECRET",
        },
    }
    client, _, _ = make(system)
    responses.post(TOKEN, json={"error": "invalid_client", "error_description": "bad secret"}, status=401)
    with pytest.raises(AuthError, match="invalid_client: bad secret") as info:
        client.list("change_request", "", ["sys_id"])
    assert ENV["SN_CLIENT_SECRET"] not in str(info.value)
    assert parse_qs(responses.calls[0].request.body)["grant_type"] == ["client_credentials"]


@responses.activate
def test_oauth_token_renewed_before_expiry() -> None:
    client, _, _ = make(OAUTH)
    now = [1000.0]
    client.clock = lambda: now[0]
    responses.post(TOKEN, json={"access_token": "t1", "refresh_token": "r1", "expires_in": 120})
    responses.post(TOKEN, json={"access_token": "t2", "refresh_token": "r2", "expires_in": 120})
    responses.get(TABLE, json={"result": []})
    client.list("change_request", "", ["sys_id"])
    now[0] += 61  # inside the 60 s renewal margin
    client.list("change_request", "", ["sys_id"])
    assert [c.request.url for c in responses.calls].count(TOKEN) == 2
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer t2"


def test_call_budget_is_every_attempt_timing_out_plus_the_longest_sleeps() -> None:
    system = {
        **SYSTEM,
        "timeouts": {"connect": 2, "read": 10},
        "retry": {"attempts": 3, "base_delay": 1, "max_delay": 4, "max_inline_wait": 5},
    }
    basic, _, _ = make(system)
    sleeps = 2 * (5 + 1)  # two sleeps, each at most the inline Retry-After wait plus its jitter
    assert basic.call_budget() == 3 * (2 + 10) + sleeps
    oauth, _, _ = make({**system, "auth": OAUTH_PASSWORD_GRANT})
    # per attempt: refresh, new grant, the call; after a 401 on it the same again
    assert oauth.call_budget() == 3 * 6 * (2 + 10) + sleeps


@pytest.mark.parametrize(("status", "retry_after"), [(429, "15"), (503, None)])
@responses.activate
def test_sleeps_of_a_storm_stay_within_the_budget(status: int, retry_after: str | None) -> None:
    client, _, sleeps = make(
        {**SYSTEM, "retry": {"attempts": 4, "base_delay": 0.5, "max_delay": 8, "max_inline_wait": 15}}
    )
    headers = {"Retry-After": retry_after} if retry_after else {}
    responses.get(TABLE, json={"error": {"message": "busy"}}, status=status, headers=headers)
    with pytest.raises((RateLimitedError, UnavailableError)):
        client.list("change_request", "", ["sys_id"])
    assert len(sleeps) == 3 and sum(sleeps) <= client.retry.longest_sleeps()


# --- Batch API ------------------------------------------------------------------------------------
BATCH = f"{BASE}/api/now/v1/batch"


def served(item_id: str, status: int, body: Any) -> dict[str, Any]:
    encoded = base64.b64encode(json.dumps(body).encode()).decode()
    return {"id": item_id, "status_code": status, "body": encoded, "headers": []}


def batch_answer(*items: dict[str, Any]) -> dict[str, Any]:
    return {"batch_request_id": "x", "serviced_requests": list(items), "unserviced_requests": []}


ITEMS = {
    "record": ("/api/now/table/change_request/abc", {"sysparm_fields": "sys_id,state"}),
    "rows": ("/api/now/table/sys_audit", {"sysparm_query": "documentkey=abc^fieldnameINstate"}),
}


@responses.activate
def test_batch_get_sends_the_reads_in_one_post_and_types_each_answer() -> None:
    client, calls, _ = make()
    error = {
        "error": {"message": "Insufficient rights to query records", "detail": None},
        "status": "failure",
    }
    responses.post(
        BATCH,
        json=batch_answer(served("record", 200, {"result": {"sys_id": "abc"}}), served("rows", 403, error)),
    )
    found = client.batch_get(ITEMS)
    assert found is not None and client.record_of(found["record"]) == {"sys_id": "abc"}  # type: ignore[arg-type]
    assert isinstance(found["rows"], PermissionDenied) and "Insufficient rights" in str(found["rows"])
    sent = json.loads(responses.calls[0].request.body)
    assert [(r["id"], r["method"]) for r in sent["rest_requests"]] == [("record", "GET"), ("rows", "GET")]
    assert sent["rest_requests"][1]["url"] == (
        "/api/now/table/sys_audit?sysparm_query=documentkey%3Dabc%5EfieldnameINstate"
    )
    assert calls == {("sn", "200"): 1}


@responses.activate
def test_batch_get_retries_the_whole_batch_when_an_item_failed_transiently() -> None:
    client, _, sleeps = make()
    ok = served("record", 200, {"result": {"sys_id": "abc"}})
    responses.post(BATCH, json=batch_answer(ok, served("rows", 503, {"error": {"message": "busy"}})))
    responses.post(BATCH, json={**batch_answer(ok), "unserviced_requests": ["rows"]})
    responses.post(BATCH, json=batch_answer(ok, served("rows", 200, {"result": []})))
    found = client.batch_get(ITEMS)
    assert found is not None and found["rows"].body == {"result": []}  # type: ignore[union-attr]
    assert len(responses.calls) == 3 and len(sleeps) == 2


@responses.activate
def test_batch_api_refused_by_the_instance_is_not_asked_again() -> None:
    client, _, _ = make()
    responses.post(
        BATCH, json={"error": {"message": "Requested URI does not represent any resource"}}, status=400
    )
    assert client.batch_get(ITEMS) is None and client.batch_get(ITEMS) is None
    assert len(responses.calls) == 1 and "does not represent" in (client.batch_refused or "")


@responses.activate
def test_batch_get_does_not_swallow_a_credentials_failure() -> None:
    client, _, _ = make()
    responses.post(BATCH, json=fixture("error_401_not_authenticated.json"), status=401)
    with pytest.raises(AuthError):
        client.batch_get(ITEMS)
    assert client.batch_refused is None
