"""Search handlers of the simulated Jira: Cloud's ``/search/jql`` (nextPageToken paging, unbounded
queries refused) and Data Center's ``/search`` (startAt paging; removed on Cloud, 410)."""

from __future__ import annotations

import base64
import re
from typing import Any

from connector.testing.simulator import SimRequest, SimResponse

from .entities import SimIssue, error
from .handling import body_of, refuse_unknown
from .query import JqlError, parse_jql
from .state import JiraState

SEARCH_BEAN_KEYS = {
    "jql",
    "nextPageToken",
    "maxResults",
    "fields",
    "expand",
    "properties",
    "fieldsByKeys",
    "failFast",
    "reconcileIssues",
}


def _search_params(sim: JiraState, request: SimRequest) -> dict[str, Any]:
    if request.method == "POST":
        body = body_of(sim, request) or {}
        if not isinstance(body, dict):
            raise JqlError("body must be an object")
        return body
    params: dict[str, Any] = {k: v[0] for k, v in request.query.items()}
    if "fields" in request.query:
        params["fields"] = [f for v in request.query["fields"] for f in v.split(",") if f]
    return params


def _run_search(sim: JiraState, jql_text: str) -> list[SimIssue]:
    """Issues matching, in id order; an issue created less than ``search_lag`` searches ago is
    not visible yet (Cloud's eventually consistent index)."""
    query = parse_jql(jql_text)
    query(sim, None)  # validate, like Jira does before searching
    visible = [i for i in sim.issues.values() if i.hidden_searches <= 0]
    for issue in sim.issues.values():
        issue.hidden_searches -= 1
    hits = [i for i in visible if query(sim, i)]
    return sorted(hits, key=lambda i: int(i.id))


def _search_issue(
    sim: JiraState, issue: SimIssue, fields: list[str], expand: Any, wanted: list[str] | None
) -> dict[str, Any]:
    if isinstance(expand, list):
        expand = ",".join(expand)
    shown = [f for f in fields if f != "id"] or ["__none__"]
    return sim.issue_json(issue, shown, str(expand), changelog_cap=sim.changelog_cap, properties=wanted)


def _fields_param(params: dict[str, Any], default: list[str]) -> list[str]:
    fields = params.get("fields") or default
    return fields.split(",") if isinstance(fields, str) else fields


def _properties_param(params: dict[str, Any]) -> list[str] | None:
    """The issue properties to show with each hit (a list in a POST body, comma-separated in GET)."""
    wanted = params.get("properties")
    if wanted is None:
        return None
    return [p for p in (wanted.split(",") if isinstance(wanted, str) else wanted) if p]


def search_jql(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    if not sim.cloud:
        return error(404, "null for uri: /rest/api/2/search/jql")
    try:
        params = _search_params(sim, request)
        if request.method == "POST":
            refuse_unknown(params, SEARCH_BEAN_KEYS)
        jql_text = str(params.get("jql") or "")
        if not jql_text.strip() or re.match(r"^\s*order\s+by", jql_text, re.I):
            raise JqlError("Unbounded JQL queries are not allowed here. Please add a search restriction.")
        hits = _run_search(sim, jql_text)
    except JqlError as exc:
        return error(400, str(exc))
    offset = 0
    token = params.get("nextPageToken")
    if token:
        try:
            offset = int(base64.urlsafe_b64decode(str(token).encode()).decode().removeprefix("off:"))
        except ValueError:
            return error(400, "Invalid nextPageToken")
    size = max(1, min(int(params.get("maxResults") or 50), 100))
    page = hits[offset : offset + size]
    fields = _fields_param(params, ["id"])
    expand = params.get("expand") or ""
    out: dict[str, Any] = {
        "issues": [_search_issue(sim, i, fields, expand, _properties_param(params)) for i in page],
        "isLast": offset + size >= len(hits),
    }
    if offset + size < len(hits):
        out["nextPageToken"] = base64.urlsafe_b64encode(f"off:{offset + size}".encode()).decode()
    return SimResponse(200, out)


def search_legacy(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    if sim.cloud:
        return error(
            410,
            "The requested API has been removed. Please migrate to the "
            "/rest/api/3/search/jql API. A full migration guideline is available at "
            "https://developer.atlassian.com/changelog/#CHANGE-2046",
        )
    try:
        params = _search_params(sim, request)
        hits = _run_search(sim, str(params.get("jql") or ""))
    except JqlError as exc:
        return error(400, str(exc))
    start = int(params.get("startAt") or 0)
    size = max(1, min(int(params.get("maxResults") or 50), 100))
    fields = _fields_param(params, ["*navigable"])
    page = hits[start : start + size]
    return SimResponse(
        200,
        {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": size,
            "total": len(hits),
            "issues": [
                _search_issue(sim, i, fields, params.get("expand") or "", _properties_param(params))
                for i in page
            ],
        },
    )
