"""The Jira simulator's entity properties (issue and comment) and comment edits, as a client sees
them: in-process on ``responses`` (Cloud and Data Center) and over real HTTP with python-jira."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
import requests
from jira import JIRA

from adapters.jira.simulator import JiraSimulator
from tests.adapters.jira.jira_testlib import fixture

KEY = "agent-approval"
VALUE = fixture("issue.property.put.request.json")
CREDENTIALS = {
    "svc-approval": ("jira-bot@example.com", "bot-token"),
    "alice": ("alice@example.com", "alice-token"),
    "mallory": ("mallory@example.com", "mallory-token"),
}


def call(
    sim: JiraSimulator, method: str, path: str, user: str = "svc-approval", **kw: Any
) -> requests.Response:
    email, token = CREDENTIALS[user]
    if sim.cloud:
        kw["auth"] = (email, token)
    else:
        kw["headers"] = {"Authorization": f"Bearer {token}", **kw.get("headers", {})}
    return requests.request(method, f"{sim.base_url}/rest/api/2{path}", timeout=5, **kw)


def put_property(sim: JiraSimulator, issue: str, value: Any, user: str = "svc-approval", key: str = KEY):
    return call(sim, "PUT", f"/issue/{issue}/properties/{key}", user, data=json.dumps(value))


def comment_on(sim: JiraSimulator, issue: str, body: dict[str, Any]) -> requests.Response:
    return call(sim, "POST", f"/issue/{issue}/comment", json=body)


def create_body(**extra: Any) -> dict[str, Any]:
    return {
        "fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "Send the email"},
        **extra,
    }


def stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


# --- issue properties -------------------------------------------------------------------------------
def test_issue_property_is_created_updated_read_and_listed(sim):
    issue = sim.create_issue()
    first = put_property(sim, issue.key, VALUE)
    assert (first.status_code, first.content) == (201, b"")
    again = put_property(sim, issue.key, {**VALUE, "schema": 2})
    assert (again.status_code, again.content) == (200, b"")
    read = call(sim, "GET", f"/issue/{issue.key}/properties/{KEY}").json()
    assert read == {"key": KEY, "value": {**VALUE, "schema": 2}}
    assert set(read) == set(fixture("issue.property.get.json"))
    listed = call(sim, "GET", f"/issue/{issue.key}/properties").json()
    assert listed == {
        "keys": [{"self": f"{sim.base_url}/rest/api/2/issue/{issue.key}/properties/{KEY}", "key": KEY}]
    }
    assert set(listed["keys"][0]) == set(fixture("issue.property.keys.json")["keys"][0])


def test_absent_property_and_unknown_issue_answer_404(sim):
    issue = sim.create_issue()
    assert call(sim, "GET", f"/issue/{issue.key}/properties/{KEY}").status_code == 404
    assert call(sim, "GET", f"/issue/{issue.key}/properties").json() == {"keys": []}
    assert put_property(sim, "OPS-999", VALUE).status_code == 404
    assert call(sim, "GET", "/issue/OPS-999/properties").status_code == 404


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b"", KEY),  # empty
        (b"   ", KEY),
        (b"{not json", KEY),
        (json.dumps("x" * 32767).encode(), KEY),  # 32769 characters with the quotes
        (b'{"a": 1}', "k" * 256),
    ],
)
def test_bad_property_values_and_keys_are_refused_and_nothing_is_stored(sim, body, key):
    issue = sim.create_issue()
    answer = call(sim, "PUT", f"/issue/{issue.key}/properties/{key}", data=body)
    assert answer.status_code == 400 and answer.json()["errorMessages"]
    assert sim.issue(issue.key).properties == {}


def test_property_value_of_exactly_32768_characters_is_accepted(sim):
    issue = sim.create_issue()
    assert put_property(sim, issue.key, "x" * 32766).status_code == 201  # 32768 with the quotes


def test_setting_a_property_needs_edit_issues(sim):
    issue = sim.create_issue()
    assert put_property(sim, issue.key, VALUE).status_code == 201
    sim.users["mallory"].groups.discard("jira-software-users")  # no longer holds Edit issues
    refused = put_property(sim, issue.key, {"requestId": "forged"}, user="mallory")
    assert refused.status_code == 403
    garbage = call(sim, "PUT", f"/issue/{issue.key}/properties/{KEY}", "mallory", data=b"{not json")
    assert garbage.status_code == 403  # permission is checked before the value
    assert call(sim, "GET", f"/issue/{issue.key}/properties/{KEY}", "mallory").json()["value"] == VALUE


def test_an_editor_can_rewrite_the_property_the_connector_stored(sim):
    issue = sim.create_issue()
    put_property(sim, issue.key, VALUE)
    sim.set_issue_property(issue.key, KEY, {"requestId": "req-forged"}, actor="mallory")
    shown = call(sim, "GET", f"/issue/{issue.key}/properties/{KEY}").json()
    assert shown["value"] == {"requestId": "req-forged"}
    sim.users["bob"].groups.clear()
    with pytest.raises(ValueError, match="permission to edit"):
        sim.set_issue_property(issue.key, KEY, {"requestId": "again"}, actor="bob")
    with pytest.raises(ValueError, match="longer than 32768"):
        sim.set_issue_property(issue.key, KEY, "x" * 40000, actor="mallory")


def test_properties_on_create_are_set_with_the_issue_and_shown_when_asked(sim):
    body = create_body(properties=[{"key": KEY, "value": VALUE}, {"key": "other", "value": [1, 2]}])
    created = call(sim, "POST", "/issue", json=body)
    assert created.status_code == 201
    key = created.json()["key"]
    plain = call(sim, "GET", f"/issue/{key}").json()
    assert "properties" not in plain
    asked = call(sim, "GET", f"/issue/{key}", params={"properties": KEY}).json()
    assert asked["properties"] == {KEY: VALUE}
    everything = call(sim, "GET", f"/issue/{key}", params={"properties": "*all,-other"}).json()
    assert everything["properties"] == {KEY: VALUE}
    both = call(sim, "GET", f"/issue/{key}", params=[("properties", "other"), ("properties", KEY)]).json()
    assert both["properties"] == {KEY: VALUE, "other": [1, 2]}


@pytest.mark.parametrize(
    "properties",
    [
        [{"key": KEY}],  # no value
        [{"value": 1}],  # no key
        [{"key": KEY, "value": VALUE}, {"key": "big", "value": "x" * 40000}],  # the second is too long
        {"key": KEY, "value": VALUE},  # not a list
    ],
)
def test_a_bad_property_on_create_creates_nothing(sim, properties):
    answer = call(sim, "POST", "/issue", json=create_body(properties=properties))
    assert answer.status_code == 400
    assert sim.issues == {}


def test_a_create_whose_answer_is_lost_still_stored_its_properties(sim):
    sim.drop_create_answers = 1
    with pytest.raises(requests.exceptions.ReadTimeout):
        call(sim, "POST", "/issue", json=create_body(properties=[{"key": KEY, "value": VALUE}]))
    [issue] = sim.issues.values()
    assert issue.properties == {KEY: VALUE}


def test_search_shows_the_properties_asked_for(sim):
    created = call(sim, "POST", "/issue", json=create_body(properties=[{"key": KEY, "value": VALUE}]))
    key = created.json()["key"]
    found = requests.post(
        f"{sim.base_url}/rest/api/3/search/jql",
        json={"jql": "project = OPS", "fields": ["summary"], "properties": [KEY]},
        auth=CREDENTIALS["svc-approval"],
        timeout=5,
    ).json()
    [hit] = found["issues"]
    assert (hit["key"], hit["properties"]) == (key, {KEY: VALUE})


def test_issue_properties_on_data_center(dc_sim):
    issue = dc_sim.create_issue()
    assert put_property(dc_sim, issue.key, VALUE).status_code == 201
    shown = call(dc_sim, "GET", f"/issue/{issue.id}", params={"properties": "*all"}).json()
    assert shown["properties"] == {KEY: VALUE}


# --- comment properties -----------------------------------------------------------------------------
def test_comment_properties_are_stored_and_readable(sim):
    issue = sim.create_issue()
    posted = comment_on(
        sim,
        issue.key,
        {
            "body": "Outcome for req-7f3c2a: success",
            "properties": [{"key": "report", "value": {"id": "r1"}}],
        },
    )
    assert posted.status_code == 201 and "properties" not in posted.json()
    cid = posted.json()["id"]
    read = call(sim, "GET", f"/comment/{cid}/properties/report")
    assert read.json() == {"key": "report", "value": {"id": "r1"}}
    listed = call(sim, "GET", f"/comment/{cid}/properties").json()
    assert listed == {
        "keys": [{"self": f"{sim.base_url}/rest/api/2/comment/{cid}/properties/report", "key": "report"}]
    }
    assert call(sim, "GET", f"/comment/{cid}/properties/absent").status_code == 404
    assert call(sim, "GET", "/comment/404404/properties/report").status_code == 404


def test_comment_list_shows_properties_only_when_expanded(sim):
    issue = sim.create_issue()
    comment_on(sim, issue.key, {"body": "plain"})
    comment_on(
        sim,
        issue.key,
        fixture("comment.create.request.v2.jsm-internal.json"),
    )
    plain = call(sim, "GET", f"/issue/{issue.key}/comment").json()["comments"]
    assert all("properties" not in c for c in plain)
    expanded = call(sim, "GET", f"/issue/{issue.key}/comment", params={"expand": "properties"}).json()
    first, internal = expanded["comments"]
    assert first["properties"] == []
    assert internal["properties"] == [{"key": "sd.public.comment", "value": {"internal": True}}]
    assert internal["jsdPublic"] is False


def test_a_jsm_internal_comment_carries_the_sd_public_comment_property(sim):
    issue = sim.create_issue()
    answer = requests.post(
        f"{sim.base_url}/rest/servicedeskapi/request/{issue.key}/comment",
        json={"body": "internal note", "public": False},
        auth=CREDENTIALS["svc-approval"],
        timeout=5,
    )
    read = call(sim, "GET", f"/comment/{answer.json()['id']}/properties/sd.public.comment")
    assert read.json()["value"] == {"internal": True}


def test_bad_comment_properties_add_no_comment(sim):
    issue = sim.create_issue()
    answer = comment_on(
        sim,
        issue.key,
        {"body": "x", "properties": [{"key": "", "value": 1}]},
    )
    assert answer.status_code == 400
    assert sim.comment_bodies(issue.key) == []


def test_the_comment_of_a_transition_keeps_its_properties(sim):
    issue = sim.create_issue(status="Approved")
    body = {
        "transition": {"id": "51"},
        "update": {
            "comment": [
                {"add": {"body": "Failed: timeout", "properties": [{"key": "report", "value": "r9"}]}}
            ]
        },
    }
    assert call(sim, "POST", f"/issue/{issue.key}/transitions", json=body).status_code == 204
    [comment] = call(sim, "GET", f"/issue/{issue.key}/comment", params={"expand": "properties"}).json()[
        "comments"
    ]
    assert (comment["body"], comment["properties"]) == ("Failed: timeout", [{"key": "report", "value": "r9"}])
    assert sim.status_of(issue.key) == "Failed"


def test_a_transition_with_bad_comment_properties_does_not_move(sim):
    issue = sim.create_issue(status="Approved")
    body = {"transition": {"id": "51"}, "update": {"comment": [{"add": {"body": "x", "properties": "nope"}}]}}
    assert call(sim, "POST", f"/issue/{issue.key}/transitions", json=body).status_code == 400
    assert (sim.status_of(issue.key), sim.comment_bodies(issue.key)) == ("Approved", [])


# --- comment edits ----------------------------------------------------------------------------------
def test_an_edited_comment_shows_who_changed_it_and_when(sim):
    issue = sim.create_issue()
    posted = comment_on(sim, issue.key, {"body": "Outcome for req-1: success"}).json()
    assert posted["updateAuthor"] == posted["author"] and posted["updated"] == posted["created"]
    with pytest.raises(ValueError, match="EDIT_ALL_COMMENTS"):
        sim.edit_comment(issue.key, posted["id"], "Outcome for req-1: failed", actor="mallory")
    sim.users["mallory"].groups.add("jira-administrators")
    sim.edit_comment(issue.key, posted["id"], "Outcome for req-1: failed", actor="mallory")
    [shown] = call(sim, "GET", f"/issue/{issue.key}/comment").json()["comments"]
    assert shown["body"] == "Outcome for req-1: failed"
    assert shown["author"]["accountId"] == posted["author"]["accountId"]  # still the connector's
    assert shown["updateAuthor"]["displayName"] == "Mallory Outsider"
    assert shown["created"] == posted["created"] and stamp(shown["updated"]) > stamp(shown["created"])
    issue_view = call(sim, "GET", f"/issue/{issue.key}", params={"fields": "comment,updated"}).json()[
        "fields"
    ]
    assert issue_view["comment"]["comments"][0]["updated"] == shown["updated"] == issue_view["updated"]


def test_own_comments_are_edited_with_edit_own_comments(sim):
    issue = sim.create_issue()
    sim.comment(issue.key, "why", actor="alice")
    [comment] = sim.issue(issue.key).comments
    sim.edit_comment(issue.key, comment["id"], "why not", actor="alice")
    assert sim.comment_bodies(issue.key) == ["why not"]
    sim.users["alice"].groups.discard("jira-software-users")
    with pytest.raises(ValueError, match="EDIT_OWN_COMMENTS"):
        sim.edit_comment(issue.key, comment["id"], "again", actor="alice")
    with pytest.raises(ValueError, match="no comment"):
        sim.edit_comment(issue.key, "1", "x", actor="alice")


def test_a_comment_edit_sends_a_comment_updated_webhook(sim):
    issue = sim.create_issue()
    sim.register_webhook("https://receiver.example.test/hook", "secret", events=["comment_updated"])
    sim.comment(issue.key, "first", actor="alice")
    assert sim.webhooks_sent == []  # comment_created is not subscribed
    [comment] = sim.issue(issue.key).comments
    sim.edit_comment(issue.key, comment["id"], "second", actor="alice")
    [sent] = sim.webhooks_sent
    payload = json.loads(sent["body"])
    assert payload["webhookEvent"] == "comment_updated" and payload["comment"]["body"] == "second"
    assert sent["headers"]["X-Hub-Signature"].startswith("sha256=")


# --- over real HTTP, with the ecosystem's client --------------------------------------------------
def test_properties_and_comment_edits_over_http_with_python_jira():
    sim = JiraSimulator.seeded_demo()
    with sim.serve() as url:
        client = JIRA(server=url, basic_auth=CREDENTIALS["svc-approval"], max_retries=0)
        try:
            created = client.create_issue(fields=create_body()["fields"], prefetch=False)
            assert client.add_issue_property(created.key, KEY, VALUE).status_code == 201
            assert client.add_issue_property(created.key, KEY, {**VALUE, "schema": 2}).status_code == 200
            [prop] = client.issue_properties(created.key)
            assert (prop.raw["key"], prop.raw["value"]) == (KEY, {**VALUE, "schema": 2})
            comment = client.add_comment(created.key, "internal outcome", is_internal=True)
            sim.users["alice"].groups.add("jira-administrators")
            sim.edit_comment(created.key, comment.id, "rewritten", actor="alice")
            [shown] = client.comments(created.key, expand="properties")
            assert shown.raw["properties"] == [{"key": "sd.public.comment", "value": {"internal": True}}]
            assert (shown.body, shown.updateAuthor.displayName) == ("rewritten", "Alice Approver")
            forged = requests.put(
                f"{url}/rest/api/2/issue/{created.key}/properties/{KEY}",
                data="{broken",
                auth=CREDENTIALS["mallory"],
                timeout=5,
            )
            assert forged.status_code == 400
        finally:
            client.close()
    assert sim.call_count("PUT", r"/properties/") == 3
