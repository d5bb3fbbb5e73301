"""Webhook verification and parsing against the recorded Cloud delivery (signed over exact bytes)."""

from __future__ import annotations

import contextlib
import json

import pytest

from adapters.jira.webhook import delivery_id, parse_payload, sign, verify_signature
from connector.core.errors import WebhookRejected
from tests.adapters.jira.jira_testlib import fixture, fixture_bytes

SECRET = "test-webhook-secret"
BODY = fixture_bytes("webhook.cloud.issue_updated.transition.json")
HEADERS = {
    k: v
    for k, v in fixture("webhook.cloud.issue_updated.transition.headers.json").items()
    if not k.startswith("_")
}


def test_recorded_signature_verifies():
    verify_signature(SECRET, HEADERS, BODY)


def test_header_lookup_is_case_insensitive():
    verify_signature(SECRET, {k.lower(): v for k, v in HEADERS.items()}, BODY)


def test_forged_signature_rejected():
    with pytest.raises(WebhookRejected) as err:
        verify_signature("wrong-secret", HEADERS, BODY)
    assert err.value.status == 401


def test_tampered_body_rejected():
    with pytest.raises(WebhookRejected):
        verify_signature(SECRET, HEADERS, BODY.replace(b"Approved", b"Approvee"))


def test_reserialized_json_rejected():
    with pytest.raises(WebhookRejected):
        verify_signature(SECRET, HEADERS, json.dumps(json.loads(BODY)).encode())


def test_unsigned_rejected():
    with pytest.raises(WebhookRejected) as err:
        verify_signature(SECRET, {"Content-Type": "application/json"}, BODY)
    assert err.value.status == 401


def test_other_algorithm_rejected():
    with pytest.raises(WebhookRejected):
        verify_signature(SECRET, {"X-Hub-Signature": "sha1=" + "0" * 40}, BODY)


def test_sign_matches_recorded_header():
    assert sign(SECRET, BODY) == HEADERS["X-Hub-Signature"]


def test_delivery_id_from_header():
    assert delivery_id(HEADERS) == "a1b2c3d4-5e6f-4711-8899-aabbccddeeff"


def test_transition_gives_one_hint_without_decision():
    [event] = parse_payload("jira", HEADERS, BODY, "agent-approval")
    assert (event.ticket_key, event.decision, event.source) == ("OPS-42", None, "webhook")


def test_hint_carries_delivery_id():
    assert (
        parse_payload("jira", HEADERS, BODY, "agent-approval")[0].delivery_id
        == HEADERS["X-Atlassian-Webhook-Identifier"]
    )


def test_datacenter_transition_gives_hint():
    body = fixture_bytes("webhook.datacenter.issue_updated.transition.json")
    assert [e.ticket_key for e in parse_payload("jira", {}, body, "agent-approval")] == ["OPS-42"]


def test_comment_update_is_of_no_interest():
    assert (
        parse_payload(
            "jira", {}, fixture_bytes("webhook.cloud.issue_updated.commented.json"), "agent-approval"
        )
        == []
    )


def test_comment_created_is_of_no_interest():
    assert (
        parse_payload("jira", {}, fixture_bytes("webhook.cloud.comment_created.json"), "agent-approval") == []
    )


VOTES = frozenset({"/approve", "/reject"})


def comment_payload(name: str, text: object) -> bytes:
    data = fixture(name)
    data["comment"]["body"] = text
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    "name", ["webhook.cloud.issue_updated.commented.json", "webhook.cloud.comment_created.json"]
)
@pytest.mark.parametrize("text", ["/approve", "  /REJECT  \nnot this one, the wrong tier", "/approve\n"])
def test_a_vote_comment_on_a_quorum_system_is_a_hint(name, text):
    [event] = parse_payload("jira", {}, comment_payload(name, text), "agent-approval", VOTES)
    assert (event.ticket_key, event.decision, event.source) == ("OPS-42", None, "webhook")


@pytest.mark.parametrize(
    "text",
    [
        "Approved by Mia Krystof. Executing req-7f3c2a now.",  # the connector's own note
        "I /approve of this",  # a vote is the comment's first line, nothing less
        "",
        {"type": "doc", "version": 1, "content": []},  # a document-format body: left to the poll
        None,
    ],
)
def test_other_comments_are_of_no_interest(text):
    body = comment_payload("webhook.cloud.issue_updated.commented.json", text)
    assert parse_payload("jira", {}, body, "agent-approval", VOTES) == []


@pytest.mark.parametrize("type_name", [[], {}, 5, None])
def test_a_comment_event_with_an_odd_type_name_is_of_no_interest(type_name):
    data = json.loads(comment_payload("webhook.cloud.issue_updated.commented.json", "/approve"))
    data["issue_event_type_name"] = type_name  # found in review: a list raised TypeError (a 500 path)
    assert parse_payload("jira", {}, json.dumps(data).encode(), "agent-approval", VOTES) == []


def test_a_vote_comment_without_quorum_routes_is_of_no_interest():
    body = comment_payload("webhook.cloud.issue_updated.commented.json", "/approve")
    assert parse_payload("jira", {}, body, "agent-approval") == []


def test_issue_without_our_label_is_ignored():
    assert parse_payload("jira", {}, BODY, "approval-connector") == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"42",
        b'{"issue": {}}',
        b'{"webhookEvent": 5}',
        b"[" * 100_000 + b"]" * 100_000,  # found by the webhook fuzzer: RecursionError, logged as a bug
    ],
)
def test_garbage_is_400(body):
    with pytest.raises(WebhookRejected) as err:
        parse_payload("jira", {}, body, "agent-approval")
    assert err.value.status == 400


def test_status_change_without_issue_key_is_400():
    body = json.dumps(
        {
            "webhookEvent": "jira:issue_updated",
            "issue": {"fields": {}},
            "changelog": {"items": [{"field": "status"}]},
        }
    ).encode()
    with pytest.raises(WebhookRejected):
        parse_payload("jira", {}, body, "agent-approval")


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize(
    "sample", ["webhook.cloud.issue_updated.transition.json", "webhook.cloud.issue_updated.commented.json"]
)
def test_fuzzed_payloads_never_raise_anything_else(seed, sample):
    import random

    rng = random.Random(seed)
    data = fixture(sample)
    if "comment" in data:
        data["comment"]["body"] = "/approve"  # the vote-comment path is fuzzed too
    for _ in range(5):
        node = data
        path = []
        while isinstance(node, dict) and node and rng.random() < 0.8:
            key = rng.choice(list(node))
            path.append(key)
            if not isinstance(node[key], dict):
                break
            node = node[key]
        if path:
            parent = data
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = rng.choice([None, 1, "x", [], {}, [1, {"a": None}], True])
    with contextlib.suppress(WebhookRejected):
        parse_payload("jira", {}, json.dumps(data).encode(), "agent-approval", VOTES)
