"""Thin REST handlers of the simulated Jira: parse the request, call the state, shape the JSON.
Each takes the simulator, the request and the path match; a ``Refusal`` raised by the state is
answered as Jira's error JSON by the caller (``JiraSimulator``). The route table is ``ROUTES``."""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Callable
from typing import Any

import requests

from connector.testing.simulator import SimRequest, SimResponse

from . import views
from .entities import Refusal, SimIssue, error
from .fields import parse_create_fields
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
CREATE_KEYS = {"fields", "update", "properties", "transition", "historyMetadata"}
TRANSITION_KEYS = {"transition", "fields", "update", "historyMetadata", "properties"}
NO_ISSUE = "Issue does not exist or you do not have permission to see it."

Route = Callable[[JiraState, SimRequest, re.Match], SimResponse]


def authenticate(sim: JiraState, request: SimRequest) -> SimResponse | None:
    """Cloud: Basic e-mail:API token; Data Center: Bearer PAT. serverInfo is anonymous."""
    sim.caller = None
    if request.path.endswith("/serverInfo"):
        return None
    header = request.header("Authorization") or ""
    user = None
    if sim.cloud and header.startswith("Basic "):
        try:
            email, _, token = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            email, token = "", ""
        user = next(
            (
                u
                for u in sim.users.values()
                if u.email == email and u.token and hmac.compare_digest(u.token, token)
            ),
            None,
        )
    elif not sim.cloud and header.startswith("Bearer "):
        token = header[7:]
        user = next((u for u in sim.users.values() if u.token and hmac.compare_digest(u.token, token)), None)
    if user is None:
        return error(401, "Client must be authenticated to access this resource.")
    sim.caller = user
    return None


def _body(sim: JiraState, request: SimRequest) -> Any:
    """The JSON body, recorded in ``sim.bodies`` so tests can see what the client sent."""
    body = request.json()
    sim.bodies.append((request.method, request.path, body))
    return body


def _refuse_unknown(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise Refusal(400, f"Unrecognized field {sorted(unknown)[0]!r}")


def _issue(sim: JiraState, match: re.Match, message: str = NO_ISSUE) -> SimIssue:
    issue = sim.find_issue(match["key"])
    if issue is None:
        raise Refusal(404, message)
    return issue


def _page(request: SimRequest, default: int, cap: int) -> tuple[int, int]:
    return int(request.arg("startAt") or 0), min(int(request.arg("maxResults") or default), cap)


# --- server, users, fields, projects -------------------------------------------------------------
def server_info(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    return SimResponse(200, views.server_info(sim))


def myself(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    out = dict(sim.user_json(sim.caller) or {})
    out["groups"] = {"size": len(sim.caller.groups) if sim.caller else 0, "items": []}
    return SimResponse(200, out)


def field_list(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    return SimResponse(200, views.field_list(sim))


def get_user(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    ident = request.arg("accountId") if sim.cloud else (request.arg("username") or request.arg("key"))
    user = sim.user(ident or "")
    if user is None or (sim.cloud and ident != user.account_id):
        return error(404, "The user does not exist.")
    out = dict(sim.user_json(user) or {})
    if "groups" in (request.arg("expand") or ""):
        items = [{"name": g, "groupId": f"gid-{g}"} for g in sorted(user.groups)]
        out["groups"] = {"size": len(items), "items": items}
    return SimResponse(200, out)


def get_project(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    project = sim.project(match["key"])
    if project is None:
        return error(404, f"No project could be found with key '{match['key']}'.")
    return SimResponse(
        200,
        {
            "self": f"{sim.base_url}/rest/api/2/project/{project.id}",
            "id": project.id,
            "key": project.key,
            "name": project.name,
            "projectTypeKey": "software",
            "issueTypes": [{"id": i, "name": n, "subtask": False} for i, n in project.issue_types.items()],
            "components": [{"id": i, "name": n} for i, n in project.components.items()],
        },
    )


def project_statuses(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    project = sim.project(match["key"])
    if project is None:
        return error(404, f"No project could be found with key '{match['key']}'.")
    used = {project.initial_status} | {t.to for t in sim.workflow}
    for t in sim.workflow:
        used |= set(t.sources or ())
    statuses = [sim.status_json(sim.statuses[s]) for s in sorted(used)]
    return SimResponse(
        200,
        [
            {"id": i, "name": n, "subtask": False, "statuses": statuses}
            for i, n in project.issue_types.items()
        ],
    )


# --- issues ---------------------------------------------------------------------------------------
def create_issue(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    body = _body(sim, request)
    if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
        return error(400, "Can not deserialize instance of fields")
    _refuse_unknown(body, CREATE_KEYS)
    new = parse_create_fields(sim, body["fields"], sim.caller)
    issue = sim.new_issue(new.project, new.issuetype, new.fields, new.reporter)
    if sim.drop_create_answers > 0:
        sim.drop_create_answers -= 1
        raise requests.exceptions.ReadTimeout("simulated: the answer to this create was lost")
    return SimResponse(
        201, {"id": issue.id, "key": issue.key, "self": f"{sim.base_url}/rest/api/2/issue/{issue.id}"}
    )


def get_issue(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    issue = _issue(sim, match)
    fields = [f for f in (request.arg("fields") or "").split(",") if f] or None
    return SimResponse(200, sim.issue_json(issue, fields, request.arg("expand") or ""))


def get_changelog(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    if not sim.cloud:
        return error(404, "null for uri")
    issue = _issue(sim, match)
    start, size = _page(request, 100, 100)
    values = [views.history_json(sim, h) for h in issue.histories]  # oldest first
    return SimResponse(
        200,
        {
            "startAt": start,
            "maxResults": size,
            "total": len(values),
            "isLast": start + size >= len(values),
            "values": values[start : start + size],
        },
    )


# --- transitions ----------------------------------------------------------------------------------
def get_transitions(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    issue = _issue(sim, match)
    with_fields = "transitions.fields" in (request.arg("expand") or "")
    options = sim.available(issue, sim.caller)
    return SimResponse(
        200,
        {
            "expand": "transitions",
            "transitions": [views.transition_json(sim, t, with_fields) for t in options],
        },
    )


def post_transition(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    body = _body(sim, request)
    issue = _issue(sim, match)
    if not isinstance(body, dict) or not isinstance(body.get("transition"), dict):
        return error(400, "Missing 'transition' identifier")
    _refuse_unknown(body, TRANSITION_KEYS)
    tid = str(body["transition"].get("id"))
    transition = next((t for t in sim.available(issue, sim.caller) if t.id == tid), None)
    if transition is None:
        return error(400, f"Transition id '{tid}' is not valid for this issue.")
    comment = None
    for op in (body.get("update") or {}).get("comment") or []:
        comment = (op.get("add") or {}).get("body")
    sim.check_transition(transition, body.get("fields") or {}, comment is not None)
    assert sim.caller is not None
    sim.apply_transition(issue, transition, sim.caller, body.get("fields") or {}, comment)
    return SimResponse(204, None)


# --- comments -------------------------------------------------------------------------------------
def get_comments(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    issue = _issue(sim, match)
    start, size = _page(request, 50, 100)
    page = issue.comments[start : start + size]
    return SimResponse(
        200,
        {
            "startAt": start,
            "maxResults": size,
            "total": len(issue.comments),
            "comments": [views.comment_json(sim, c) for c in page],
        },
    )


def post_comment(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    body = _body(sim, request)
    issue = _issue(sim, match)
    if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"].strip():
        return error(400, errors={"comment": "Comment body can not be empty!"})
    _refuse_unknown(body, {"body", "visibility", "properties"})
    internal = any(
        p.get("key") == "sd.public.comment" and (p.get("value") or {}).get("internal")
        for p in body.get("properties") or []
    )
    assert sim.caller is not None
    comment = sim.add_comment(issue, sim.caller, body["body"], internal, body.get("visibility"))
    return SimResponse(201, views.comment_json(sim, comment))


# --- search ---------------------------------------------------------------------------------------
def _search_params(sim: JiraState, request: SimRequest) -> dict[str, Any]:
    if request.method == "POST":
        body = _body(sim, request) or {}
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


def _search_issue(sim: JiraState, issue: SimIssue, fields: list[str], expand: Any) -> dict[str, Any]:
    if isinstance(expand, list):
        expand = ",".join(expand)
    shown = [f for f in fields if f != "id"] or ["__none__"]
    return sim.issue_json(issue, shown, str(expand), changelog_cap=sim.changelog_cap)


def _fields_param(params: dict[str, Any], default: list[str]) -> list[str]:
    fields = params.get("fields") or default
    return fields.split(",") if isinstance(fields, str) else fields


def search_jql(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    if not sim.cloud:
        return error(404, "null for uri: /rest/api/2/search/jql")
    try:
        params = _search_params(sim, request)
        if request.method == "POST":
            _refuse_unknown(params, SEARCH_BEAN_KEYS)
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
        "issues": [_search_issue(sim, i, fields, expand) for i in page],
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
            "issues": [_search_issue(sim, i, fields, params.get("expand") or "") for i in page],
        },
    )


# --- admin webhooks -------------------------------------------------------------------------------
def webhook_list(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    return SimResponse(200, [{k: v for k, v in w.items() if k != "secret"} for w in sim.webhooks])


def register_webhook(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    body = _body(sim, request)
    if sim.caller is None or not sim.caller.admin:
        return error(403, "Only Jira administrators can register webhooks.")
    if not isinstance(body, dict) or not body.get("url") or not body.get("events"):
        return error(400, "name, url and events are required")
    if body.get("filters", {}).get("issue-related-events-section"):
        try:
            parse_jql(body["filters"]["issue-related-events-section"])(sim, None)
        except JqlError as exc:
            return error(400, f"Invalid JQL filter: {exc}")
    hook = sim.add_webhook(
        body["url"],
        body["events"],
        name=body.get("name", ""),
        filters=body.get("filters"),
        exclude_body=bool(body.get("excludeBody")),
        secret=body.get("secret"),
        registered_by=sim.caller,
    )
    return SimResponse(201, {k: v for k, v in hook.items() if k != "secret"})


# --- JSM (servicedeskapi) -------------------------------------------------------------------------
def get_approvals(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    issue = _issue(sim, match, "Request does not exist")
    values = [views.approval_json(sim, issue, a) for a in sim.approvals.get(issue.id, [])]
    start = int(request.arg("start") or 0)
    limit = int(request.arg("limit") or 50)
    page = values[start : start + limit]
    return SimResponse(
        200,
        {
            "size": len(page),
            "start": start,
            "limit": limit,
            "isLastPage": start + limit >= len(values),
            "values": page,
        },
    )


def answer_approval(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    body = _body(sim, request) or {}
    issue = _issue(sim, match, "Request does not exist")
    if sim.caller is None:
        return error(404, "Request does not exist")
    approval = sim.answer(issue, match["aid"], sim.caller, str(body.get("decision")))
    return SimResponse(200, views.approval_json(sim, issue, approval))


def jsm_comment(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    body = _body(sim, request) or {}
    issue = _issue(sim, match, "Request does not exist")
    if sim.caller is None:
        return error(404, "Request does not exist")
    if not isinstance(body.get("body"), str) or not body["body"]:
        return error(400, "body is required")
    comment = sim.add_comment(issue, sim.caller, body["body"], internal=not body.get("public", True))
    return SimResponse(
        201,
        {
            "id": comment["id"],
            "body": comment["body"],
            "public": not comment["internal"],
            "author": sim.user_json(sim.caller),
        },
    )


API = r"/rest/api/(?:2|3|latest)"
ISSUE = f"{API}/issue/(?P<key>[^/]+)"
REQUEST = "/rest/servicedeskapi/request/(?P<key>[^/]+)"

ROUTES: list[tuple[str, str, Route]] = [
    ("GET", f"{API}/serverInfo", server_info),
    ("GET", f"{API}/myself", myself),
    ("GET", f"{API}/field", field_list),
    ("GET", f"{API}/user", get_user),
    ("GET", f"{API}/project/(?P<key>[^/]+)", get_project),
    ("GET", f"{API}/project/(?P<key>[^/]+)/statuses", project_statuses),
    ("POST", f"{API}/issue", create_issue),
    ("GET", ISSUE, get_issue),
    ("GET", f"{ISSUE}/changelog", get_changelog),
    ("GET", f"{ISSUE}/transitions", get_transitions),
    ("POST", f"{ISSUE}/transitions", post_transition),
    ("GET", f"{ISSUE}/comment", get_comments),
    ("POST", f"{ISSUE}/comment", post_comment),
    ("GET", f"{API}/search/jql", search_jql),
    ("POST", f"{API}/search/jql", search_jql),
    ("GET", f"{API}/search", search_legacy),
    ("POST", f"{API}/search", search_legacy),
    ("GET", "/rest/webhooks/1.0/webhook", webhook_list),
    ("POST", "/rest/webhooks/1.0/webhook", register_webhook),
    ("GET", f"{REQUEST}/approval", get_approvals),
    ("POST", f"{REQUEST}/approval/(?P<aid>[^/]+)", answer_approval),
    ("POST", f"{REQUEST}/comment", jsm_comment),
]
