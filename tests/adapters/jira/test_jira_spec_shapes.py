"""Request bodies the adapter sends fit Atlassian's OpenAPI schemas (fragments extracted by
make_spec_fragments.py into fixtures/spec_fragments.json, so CI needs no shared/ directory)."""

from __future__ import annotations

from typing import Any

import pytest

from connector.core.models import OutcomeReport, ReportKind
from tests.adapters.jira.jira_testlib import ROUTE, build_adapter, fixture, make_request, route_settings

SCHEMAS = fixture("spec_fragments.json")
TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "$ref" in schema:
            schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]]
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = {**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}}
        else:
            return schema


def conforms(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """A small structural check: known, writable properties with the right JSON types."""
    schema = resolve(schema)
    problems: list[str] = []
    expected = schema.get("type")
    if expected and not isinstance(value, TYPES[expected]):
        return [f"{path}: expected {expected}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key in schema["properties"]:
                prop = resolve(schema["properties"][key])
                if prop.get("readOnly"):
                    problems.append(f"{path}.{key}: read-only property sent")
                problems += conforms(item, prop, f"{path}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                problems += conforms(item, schema["additionalProperties"], f"{path}.{key}")
            elif schema.get("additionalProperties") is not True or path == "$":
                problems.append(f"{path}.{key}: not in the schema")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += conforms(item, schema["items"], f"{path}[{index}]")
    return problems


def sent(sim, method: str, suffix: str) -> list[Any]:
    return [b for m, p, b in sim.bodies if m == method and p.endswith(suffix)]


def test_checker_catches_wrong_shapes():
    assert conforms({"transition": {"id": 41}}, SCHEMAS["IssueUpdateDetails"])
    assert conforms({"jql": "x", "startAt": 0}, SCHEMAS["SearchAndReconcileRequestBean"])
    assert conforms({"body": "x", "id": "1"}, SCHEMAS["Comment"])


@pytest.fixture
def flow(sim):
    adapter = build_adapter(sim, routes={ROUTE: route_settings(outcome={"jsm_internal_comment": False})})
    request = make_request()
    ref = adapter.create_ticket(request)
    adapter.poll([], None)
    from connector.core.models import PendingTicket

    sim.transition(ref.key, "Approve", actor="alice")
    adapter.poll(
        [PendingTicket(request_id=request.id, route=ROUTE, ticket=ref, created_at=request.created_at)], None
    )
    adapter.report(
        ref,
        OutcomeReport(report_id="r1", request_id=request.id, kind=ReportKind.SUCCEEDED, text="ok"),
        attempt=0,
    )
    adapter.report(
        ref,
        OutcomeReport(
            report_id="r2", request_id=request.id, kind=ReportKind.SUCCEEDED, text="note", final=False
        ),
        attempt=0,
    )
    adapter.client.add_comment(ref.key, "internal", internal=True)
    adapter.client.jsm_comment(ref.key, "internal note")
    return sim


def test_create_body_fits_issue_update_details(flow):
    [body] = sent(flow, "POST", "/rest/api/2/issue")
    assert conforms(body, SCHEMAS["IssueUpdateDetails"]) == []
    assert isinstance(body["fields"]["description"], str)  # REST v2: wiki text, not ADF


def test_search_bodies_fit_search_and_reconcile_bean(flow):
    bodies = sent(flow, "POST", "/search/jql")
    assert bodies and all(conforms(b, SCHEMAS["SearchAndReconcileRequestBean"]) == [] for b in bodies)


def test_transition_body_fits_issue_update_details(flow):
    [body] = sent(flow, "POST", "/transitions")
    assert conforms(body, SCHEMAS["IssueUpdateDetails"]) == [] and body["transition"]["id"] == "41"


def test_comment_bodies_fit_comment(flow):
    bodies = [
        b
        for m, p, b in flow.bodies
        if m == "POST" and p.startswith("/rest/api/2/issue/") and p.endswith("/comment")
    ]
    assert len(bodies) == 2
    for body in bodies:
        # v2 comment bodies are strings; the v3 spec types `body` as ADF, so check everything else
        assert conforms({k: v for k, v in body.items() if k != "body"}, SCHEMAS["Comment"]) == []
        assert isinstance(body["body"], str)


def test_jsm_comment_body_fits_comment_create_dto(flow):
    [body] = sent(flow, "POST", "/servicedeskapi/request/OPS-1/comment")
    assert conforms(body, SCHEMAS["CommentCreateDTO"]) == []
