"""Fuzzing ``/webhooks/<system>`` through the ASGI app: whatever arrives (signed correctly so it
reaches the parsers, unsigned, forged, replayed, malformed, for the local desk, Jira and
ServiceNow), the answer is never a 5xx, no adapter error is logged, and nothing changes: every
request stays TICKETED and the audit trail keeps exactly the rows the set-up wrote.

The decisive bodies name the real tickets and claim "approved"; the simulators, read back through
the API, still say "waiting" (invariant 1: a webhook is only a hint). 300 examples per test by
default; ``FUZZ_EXAMPLES=5000`` for a long run."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import responses
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from adapters.jira.simulator import JiraSimulator
from adapters.jira.webhook import sign as jira_sign
from adapters.servicenow.simulator import seeded_demo as servicenow_demo
from adapters.servicenow.webhook import sign as servicenow_sign
from connector.agents.autogen.gate import approval_context
from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.app.webhooks import create_app
from connector.core.models import RequestState
from connector.demo.tools import apply_change, send_email
from tests.conftest import EMAIL, agent_calls

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
JIRA_URL = "https://fuzz-jira.example.test"
SN_URL = "https://fuzz-sn.example.test"
JIRA_SECRET = "demo-webhook-secret"
SN_SECRET = "sn-fuzz-webhook-secret"
CHANGE = {"summary": "Restart payments-api", "plan": "rollout restart", "category": "software", "risk": "low"}

CONFIG = """
store: {url: "sqlite:///__DB__"}
scheduler: {poll_interval: 1h}
systems:
  desk: {type: local}
  jira:
    type: jira
    url: __JIRA__
    auth: {email_env: JIRA_EMAIL, token_env: JIRA_API_TOKEN}
    webhook: {secret_env: JIRA_WEBHOOK_SECRET}
    retry: {attempts: 2, base_delay: 0.01, max_delay: 0.05, max_inline_wait: 1}
  servicenow:
    type: servicenow
    instance_url: __SN__
    auth: {type: basic, user_env: SN_USER, password_env: SN_PASSWORD}
    service_account: {user_name: svc_connector}
    webhook: {secret_env: SN_WEBHOOK_SECRET}
    retry: {attempts: 2, base_delay: 0.01, max_delay: 0.05, max_inline_wait: 1}
tools:
  send_email: {import: "connector.demo.tools:send_email"}
  apply_change: {import: "connector.demo.tools:apply_change"}
routes:
  - {name: desk-email, tools: [send_email], system: desk, approvers: ["*"]}
  - name: jira-email
    tools: [send_email]
    system: jira
    approvers: ["5b10a2844c20165700ede21a"]
    ticket: {project: OPS}
  - name: change
    tools: [apply_change]
    system: servicenow
    approvers: ["change.manager"]
    decision: {approved_states: ["-2"], rejected_states: ["4"], pending_states: ["-5", "-4", "-3"]}
"""


def config_text(db: Path) -> str:
    return CONFIG.replace("__DB__", str(db)).replace("__JIRA__", JIRA_URL).replace("__SN__", SN_URL)


@dataclass
class Stack:
    connector: Connector
    loop: asyncio.AbstractEventLoop  # one loop for the whole run: the hint workers live on it
    client: httpx.AsyncClient
    app: Any
    jira_keys: list[str]
    sn_records: list[dict[str, Any]]  # number, sys_id, correlation_id of each waiting change
    request_ids: list[str]
    states: dict[str, RequestState]
    audit_rows: int
    errors: list[logging.LogRecord]


class _Errors(logging.Handler):
    """Collects ERROR records: an adapter bug behind a 400, or a hint worker that crashed."""

    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("fuzz-webhooks")
    jira = JiraSimulator.seeded_demo(JIRA_URL)
    servicenow = servicenow_demo(SN_URL)
    env = {**jira.demo_env(), "SN_USER": "svc_connector", "SN_PASSWORD": "svc-password"}
    env["SN_WEBHOOK_SECRET"] = SN_SECRET
    os.environ["APPROVAL_CONNECTOR_DEMO_MAILBOX"] = str(folder / "mail.jsonl")
    os.environ["APPROVAL_CONNECTOR_DEMO_CHANGELOG"] = str(folder / "changes.jsonl")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        jira.install(mock)
        servicenow.install(mock)
        connector = Connector.from_config(parse_config(config_text(folder / "c.db"), "fuzz.yaml"), env=env)

        async def submit() -> None:
            with approval_context(requester="bob@example.com"):
                await agent_calls(connector.gate(send_email, route="desk-email"), "send_email", EMAIL)
                await agent_calls(connector.gate(send_email, route="jira-email"), "send_email", EMAIL)
                await agent_calls(connector.gate(apply_change, route="change"), "apply_change", CHANGE)

        asyncio.run(submit())
        requests = connector.store.list()
        assert {r.state for r in requests} == {RequestState.TICKETED}, requests
        jira_keys = [r.ticket.key for r in requests if r.ticket.system == "jira"]
        records = []
        for request in requests:
            if request.ticket.system == "servicenow":
                record = servicenow.record(request.ticket.key)
                records.append({k: record[k] for k in ("number", "sys_id", "correlation_id")})
        errors: list[logging.LogRecord] = []
        handler = _Errors(errors)
        logging.getLogger("approval_connector").addHandler(handler)
        app = create_app(connector)
        loop = asyncio.new_event_loop()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://connector")
        try:
            yield Stack(
                connector,
                loop,
                client,
                app,
                jira_keys,
                records,
                [r.id for r in requests],
                {r.id: r.state for r in requests},
                _audit_rows(connector),
                errors,
            )
        finally:
            loop.run_until_complete(app.state.intake.drain(5))  # stops the hint workers
            loop.run_until_complete(client.aclose())
            loop.close()
            logging.getLogger("approval_connector").removeHandler(handler)
            connector.close()
    for name in ("APPROVAL_CONNECTOR_DEMO_MAILBOX", "APPROVAL_CONNECTOR_DEMO_CHANGELOG"):
        os.environ.pop(name, None)


def _audit_rows(connector: Connector) -> int:
    return sum(1 for _ in connector.store.audit.rows(connector.store.engine))


def post(stack: Stack, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """POST, then wait until every hint it queued has been handled (re-read through the API)."""
    stack.errors.clear()
    answer = stack.loop.run_until_complete(stack.client.post(path, content=body, headers=headers))
    stack.loop.run_until_complete(stack.app.state.intake.hints.queue.join())
    return answer.status_code


def assert_nothing_changed(stack: Stack, status: int) -> None:
    assert status < 500, status
    assert not stack.errors, [r.getMessage() for r in stack.errors]
    now = {r.id: r.state for r in stack.connector.store.list()}
    assert now == stack.states
    assert _audit_rows(stack.connector) == stack.audit_rows


# --- strategies ------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
HEADER_BYTES = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


SERIAL = itertools.count(1000)


def maybe(value: Any) -> st.SearchStrategy[Any]:
    """Mostly the value a real delivery has, sometimes anything else."""
    return st.one_of(st.just(value), st.just(value), st.just(value), st.just(value), JSON)


@st.composite
def jira_payload(draw: st.DrawFn, keys: list[str]) -> Any:
    key = draw(st.one_of(st.sampled_from(keys), st.sampled_from(keys), st.text(max_size=12), JSON))
    status = draw(st.sampled_from(["Approved", "Rejected", "Done", "Awaiting Approval", ""]))
    fields = {
        "labels": draw(maybe(["approval-connector"])),
        "status": draw(maybe({"name": status, "statusCategory": {"key": "done"}})),
    }
    payload = {
        "webhookEvent": draw(maybe("jira:issue_updated")),
        "issue_event_type_name": "issue_generic",
        "user": draw(maybe({"accountId": "5b10a2844c20165700ede21a", "displayName": "Alice"})),
        "issue": draw(maybe({"key": key, "fields": fields})),
        "changelog": draw(maybe({"items": [{"field": "status", "toString": status}]})),
    }
    for name in draw(st.lists(st.sampled_from(sorted(payload)), max_size=2)):
        payload.pop(name, None)
    return payload


@st.composite
def servicenow_payload(draw: st.DrawFn, records: list[dict[str, Any]]) -> Any:
    record = dict(draw(st.sampled_from(records)))
    payload = {
        "sys_id": draw(maybe(record["sys_id"])),
        "number": draw(maybe(record["number"])),
        "correlation_id": draw(maybe(record["correlation_id"])),
        "sys_mod_count": draw(maybe(str(next(SERIAL)))),  # a new record version: no redelivery
        "approval": draw(maybe("approved")),
        "state": draw(maybe("-2")),
        "sys_updated_by": draw(maybe("change.manager")),
    }
    for name in draw(st.lists(st.sampled_from(sorted(payload)), max_size=2)):
        payload.pop(name, None)
    return payload


def encoded(data: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return data.map(lambda value: json.dumps(value).encode())


RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    encoded(JSON),
    st.sampled_from([20, 1000, 100_000]).map(lambda n: b"[" * n + b"]" * n),
    st.sampled_from([20, 1000, 100_000]).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.just(b'{"webhookEvent": "jira:issue_updated", "issue": {"key": "' + b"K" * 100_000 + b'"}}'),
)


def body_of(payload: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Three in four bodies are the system's shape (mutated), the rest anything at all."""
    return st.sampled_from([True, True, True, False]).flatmap(
        lambda shaped: encoded(payload) if shaped else RAW_BODIES
    )


# How a delivery is signed: mostly correctly (so the body reaches the parser), else one way of
# getting it wrong that an attacker or a broken sender would try.
JIRA_SIGNING = ["signed", "signed", "signed", "other-secret", "altered-body", "uppercase", "junk", "unsigned"]
SN_SIGNING = [
    "signed",
    "signed",
    "signed",
    "other-secret",
    "altered-body",
    "replayed",
    "non-ascii-digits",
    "junk-stamp",
    "junk-signature",
    "unsigned",
    "no-stamp",
]


@st.composite
def jira_delivery(draw: st.DrawFn, stack: Stack) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = draw(body_of(jira_payload(stack.jira_keys)))
    how = draw(st.sampled_from(JIRA_SIGNING))
    signature = {
        "signed": jira_sign(JIRA_SECRET, body),
        "other-secret": jira_sign("not-the-secret", body),
        "altered-body": jira_sign(JIRA_SECRET, body + b" "),
        "uppercase": jira_sign(JIRA_SECRET, body).upper(),
    }.get(how, "").encode()
    if how == "junk":
        signature = draw(HEADER_BYTES)
    headers = [(b"content-type", b"application/json")]
    if how != "unsigned":
        headers.append((b"x-hub-signature", signature))
    fresh = f"fuzz-delivery-{next(SERIAL)}".encode()  # a new delivery, else a replayed or odd id
    delivery = draw(st.one_of(st.just(fresh), st.just(fresh), st.just(fresh), HEADER_BYTES))
    headers.append((b"x-atlassian-webhook-identifier", delivery))
    return body, headers


@st.composite
def servicenow_delivery(draw: st.DrawFn, stack: Stack) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = draw(body_of(servicenow_payload(stack.sn_records)))
    how = draw(st.sampled_from(SN_SIGNING))
    stamp = {
        "replayed": str(int(time.time()) - 3600).encode(),  # a recorded delivery sent an hour later
        "non-ascii-digits": "²".encode("latin-1"),  # a digit to str.isdigit(), not to the signer
    }.get(how, str(int(time.time())).encode())
    if how == "junk-stamp":
        stamp = draw(HEADER_BYTES)
    secret = "not-the-secret" if how == "other-secret" else SN_SECRET
    signed_body = body + b" " if how == "altered-body" else body
    try:
        signature = servicenow_sign(secret, stamp.decode("latin-1"), signed_body).encode()
    except UnicodeEncodeError:  # no sender can sign this stamp: send some signature anyway
        signature = b"sha256=" + b"A" * 44
    if how == "junk-signature":
        signature = draw(HEADER_BYTES)
    headers = [(b"content-type", b"application/json")]
    if how != "unsigned":
        headers.append((b"x-sn-webhook-signature", signature))
    if how != "no-stamp":
        headers.append((b"x-sn-webhook-timestamp", stamp))
    return body, headers


def extra_headers(*names: bytes) -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    return st.lists(st.tuples(st.sampled_from(names), HEADER_BYTES), max_size=3)


JUNK_HEADERS = extra_headers(b"x-forwarded-for", b"x-junk", b"user-agent")
ANY_HEADERS = extra_headers(
    b"x-hub-signature",
    b"x-atlassian-webhook-identifier",
    b"x-sn-webhook-signature",
    b"x-sn-webhook-timestamp",
    b"content-type",
    b"x-junk",
)


# --- the fuzzers -----------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_signed_and_forged_deliveries_never_fail_or_change_anything(stack, data):
    system = data.draw(st.sampled_from(["jira", "servicenow"]))
    strategy = jira_delivery(stack) if system == "jira" else servicenow_delivery(stack)
    body, headers = data.draw(strategy)
    status = post(stack, f"/webhooks/{system}", body, headers + data.draw(JUNK_HEADERS))
    event(f"{system} answered {status}")  # --hypothesis-show-statistics: how many reach the parsers
    assert_nothing_changed(stack, status)


@FUZZ
@given(
    path=st.one_of(
        st.sampled_from(["/webhooks/desk", "/webhooks/jira", "/webhooks/servicenow", "/webhooks/nope"]),
        st.text(
            alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#"),
            max_size=20,
        ).map(lambda s: "/webhooks/" + s),
    ),
    body=RAW_BODIES,
    headers=ANY_HEADERS,
)
def test_any_body_to_any_system_never_fails_or_changes_anything(stack, path, body, headers):
    status = post(stack, path, body, headers)
    event(f"answered {status}")
    assert_nothing_changed(stack, status)


def test_a_correctly_signed_approval_claim_reaches_the_parser_and_is_only_a_hint(stack):
    """The fuzzer's signed bodies do get past the signature check (202), so it tests the parsers."""
    key = stack.jira_keys[0]
    body = json.dumps(
        {
            "webhookEvent": "jira:issue_updated",
            "issue": {"key": key, "fields": {"labels": ["approval-connector"]}},
            "changelog": {"items": [{"field": "status", "toString": "Approved"}]},
        }
    ).encode()
    headers = [(b"x-hub-signature", jira_sign(JIRA_SECRET, body).encode())]
    assert post(stack, "/webhooks/jira", body, headers) == 202
    assert_nothing_changed(stack, 202)
    record = stack.sn_records[0]
    body = json.dumps({**record, "sys_mod_count": "7", "approval": "approved"}).encode()
    stamp = str(int(time.time()))
    headers = [
        (b"x-sn-webhook-timestamp", stamp.encode()),
        (b"x-sn-webhook-signature", servicenow_sign(SN_SECRET, stamp, body).encode()),
    ]
    assert post(stack, "/webhooks/servicenow", body, headers) == 202
    assert_nothing_changed(stack, 202)


def test_the_stack_is_what_the_fuzzers_assume(stack):
    assert len(stack.request_ids) == 3 and len(stack.jira_keys) == 1 and len(stack.sn_records) == 1
    assert stack.audit_rows > 0
