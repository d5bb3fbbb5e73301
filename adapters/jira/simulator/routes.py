"""Thin REST handlers of the simulated Jira platform API: parse the request, call the state, shape
the JSON. Each takes the simulator, the request and the path match; a ``Refusal`` raised by the
state is answered as Jira's error JSON by the caller (``JiraSimulator``). ``ROUTES`` is the route
table of the whole simulator (search and servicedesk handlers live in their own modules)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import requests

from connector.testing.simulator import SimRequest, SimResponse

from . import properties, search, servicedesk, views
from .entities import Refusal, error
from .fields import parse_create_fields
from .handling import Route, body_of, issue_of, list_param, page_args, refuse_unknown
from .query import JqlError, parse_jql
from .state import JiraState

CREATE_KEYS = {"fields", "update", "properties", "transition", "historyMetadata"}
TRANSITION_KEYS = {"transition", "fields", "update", "historyMetadata", "properties"}


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
    """Cloud: by accountId only. Data Center: by user name (case-insensitive, as Jira stores
    them) or by key."""
    if sim.cloud:
        ident = request.arg("accountId") or ""
        user = sim.user(ident)
        if user is None or ident != user.account_id:
            return error(404, "The user does not exist.")
    else:
        user = sim.user_by_name(request.arg("username") or "") or sim.user_by_key(request.arg("key") or "")
        if user is None:
            return error(404, "The user does not exist.")
    out = dict(sim.user_json(user) or {})
    if "groups" in (request.arg("expand") or ""):
        items = [{"name": g, "groupId": f"gid-{g}"} for g in sorted(user.groups)]
        out["groups"] = {"size": len(items), "items": items}
    return SimResponse(200, out)


def search_users(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    """Cloud ``query``: a prefix of the display name or e-mail address (case-insensitive);
    Data Center ``username``: a prefix of the user name, display name or e-mail address. A list
    of users, paged by startAt/maxResults."""
    text = (request.arg("query") if sim.cloud else request.arg("username")) or ""
    if not text.strip():
        return error(400, "The query parameter is required.")
    start, size = page_args(request, 50, 1000)
    hits = sim.search_users(text.strip())
    return SimResponse(200, [sim.user_json(u) for u in hits[start : start + size]])


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
    body = body_of(sim, request)
    if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
        return error(400, "Can not deserialize instance of fields")
    refuse_unknown(body, CREATE_KEYS)
    new = parse_create_fields(sim, body["fields"], sim.caller)
    props = properties.from_list(body.get("properties"))  # checked before anything is created
    issue = sim.new_issue(new.project, new.issuetype, new.fields, new.reporter, sim.caller)
    issue.properties.update(props)
    if sim.drop_create_answers > 0:
        sim.drop_create_answers -= 1
        raise requests.exceptions.ReadTimeout("simulated: the answer to this create was lost")
    return SimResponse(
        201, {"id": issue.id, "key": issue.key, "self": f"{sim.base_url}/rest/api/2/issue/{issue.id}"}
    )


def get_issue(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    issue = issue_of(sim, match)
    fields = [f for f in (request.arg("fields") or "").split(",") if f] or None
    shown = list_param(request, "properties")
    return SimResponse(200, sim.issue_json(issue, fields, request.arg("expand") or "", properties=shown))


def get_changelog(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    if not sim.cloud:
        return error(404, "null for uri")
    issue = issue_of(sim, match)
    start, size = page_args(request, 100, 100)
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
    issue = issue_of(sim, match)
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
    body = body_of(sim, request)
    issue = issue_of(sim, match)
    if not isinstance(body, dict) or not isinstance(body.get("transition"), dict):
        return error(400, "Missing 'transition' identifier")
    refuse_unknown(body, TRANSITION_KEYS)
    tid = str(body["transition"].get("id"))
    transition = next((t for t in sim.available(issue, sim.caller) if t.id == tid), None)
    if transition is None:
        return error(400, f"Transition id '{tid}' is not valid for this issue.")
    comment, comment_properties = None, {}
    for op in (body.get("update") or {}).get("comment") or []:
        added = op.get("add") or {}
        comment = added.get("body")
        comment_properties = properties.from_list(added.get("properties"))
    sim.check_transition(transition, body.get("fields") or {}, comment is not None)
    assert sim.caller is not None
    fields = body.get("fields") or {}
    sim.apply_transition(issue, transition, sim.caller, fields, comment, comment_properties)
    return SimResponse(204, None)


def put_assignee(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    """Assign the issue (Cloud: {"accountId"}, DC: {"name"}); Assign issues permission needed."""
    issue = issue_of(sim, match)
    user = sim.user_from_ref(body_of(sim, request))
    if user is None:
        return error(400, errors={"assignee": "User does not exist or you do not have permission to see it."})
    if not sim.has_permission(sim.caller, sim.projects[issue.project], "ASSIGN_ISSUES"):
        return error(403, "You do not have permission to assign issues.")
    assert sim.caller is not None
    sim.assign(issue, user, sim.caller)
    return SimResponse(204, None)


# --- comments -------------------------------------------------------------------------------------
def get_comments(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    issue = issue_of(sim, match)
    start, size = page_args(request, 50, 100)
    page = issue.comments[start : start + size]
    with_properties = "properties" in (request.arg("expand") or "").split(",")
    return SimResponse(
        200,
        {
            "startAt": start,
            "maxResults": size,
            "total": len(issue.comments),
            "comments": [views.comment_json(sim, c, with_properties) for c in page],
        },
    )


def post_comment(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    body = body_of(sim, request)
    issue = issue_of(sim, match)
    if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"].strip():
        return error(400, errors={"comment": "Comment body can not be empty!"})
    refuse_unknown(body, {"body", "visibility", "properties"})
    props = properties.from_list(body.get("properties"))
    assert sim.caller is not None
    visibility = body.get("visibility")
    comment = sim.add_comment(issue, sim.caller, body["body"], visibility=visibility, properties=props)
    sim.comment_events(issue, sim.caller, comment, "comment_created", "issue_commented")
    return SimResponse(201, views.comment_json(sim, comment))


# --- entity properties ----------------------------------------------------------------------------
def _absent(key: str) -> Refusal:
    return Refusal(404, f"The property with key '{key}' does not exist.")


def put_issue_property(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    issue = issue_of(sim, match)
    sim.require_edit(issue, sim.caller)  # 404, then 403, then 400 for the value
    value = properties.value_from_body(request.body)
    sim.bodies.append((request.method, request.path, value))
    created = sim.put_issue_property(issue, unquote(match["prop"]), value, sim.caller)
    return SimResponse(201 if created else 200, None)


def delete_issue_property(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    sim.remove_issue_property(issue_of(sim, match), unquote(match["prop"]), sim.caller)
    return SimResponse(204, None)


def get_issue_property(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    issue = issue_of(sim, match)
    key = unquote(match["prop"])
    if key not in issue.properties:
        raise _absent(key)
    return SimResponse(200, properties.entry_json(key, issue.properties[key]))


def issue_property_keys(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    issue = issue_of(sim, match)
    owner = f"{sim.base_url}/rest/api/2/issue/{issue.key}"
    return SimResponse(200, properties.keys_json(owner, issue.properties))


def _comment_properties(sim: JiraState, match: re.Match) -> dict[str, Any]:
    found = sim.find_comment(match["cid"])
    if found is None:
        raise Refusal(404, "Can not find a comment for the id: " + match["cid"] + ".")
    return found[1]["properties"]


def get_comment_property(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    props = _comment_properties(sim, match)
    key = unquote(match["prop"])
    if key not in props:
        raise _absent(key)
    return SimResponse(200, properties.entry_json(key, props[key]))


def comment_property_keys(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    props = _comment_properties(sim, match)
    owner = f"{sim.base_url}/rest/api/2/comment/{match['cid']}"
    return SimResponse(200, properties.keys_json(owner, props))


# --- admin webhooks -------------------------------------------------------------------------------
def webhook_list(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    return SimResponse(200, [{k: v for k, v in w.items() if k != "secret"} for w in sim.webhooks])


def register_webhook(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    body = body_of(sim, request)
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


API = r"/rest/api/(?:2|3|latest)"
ISSUE = f"{API}/issue/(?P<key>[^/]+)"
REQUEST = "/rest/servicedeskapi/request/(?P<key>[^/]+)"

ROUTES: list[tuple[str, str, Route]] = [
    ("GET", f"{API}/serverInfo", server_info),
    ("GET", f"{API}/myself", myself),
    ("GET", f"{API}/field", field_list),
    ("GET", f"{API}/user", get_user),
    ("GET", f"{API}/user/search", search_users),
    ("GET", f"{API}/project/(?P<key>[^/]+)", get_project),
    ("GET", f"{API}/project/(?P<key>[^/]+)/statuses", project_statuses),
    ("POST", f"{API}/issue", create_issue),
    ("GET", ISSUE, get_issue),
    ("GET", f"{ISSUE}/changelog", get_changelog),
    ("GET", f"{ISSUE}/transitions", get_transitions),
    ("POST", f"{ISSUE}/transitions", post_transition),
    ("PUT", f"{ISSUE}/assignee", put_assignee),
    ("GET", f"{ISSUE}/comment", get_comments),
    ("POST", f"{ISSUE}/comment", post_comment),
    ("GET", f"{ISSUE}/properties", issue_property_keys),
    ("GET", f"{ISSUE}/properties/(?P<prop>[^/]+)", get_issue_property),
    ("PUT", f"{ISSUE}/properties/(?P<prop>[^/]+)", put_issue_property),
    ("DELETE", f"{ISSUE}/properties/(?P<prop>[^/]+)", delete_issue_property),
    ("GET", f"{API}/comment/(?P<cid>[^/]+)/properties", comment_property_keys),
    ("GET", f"{API}/comment/(?P<cid>[^/]+)/properties/(?P<prop>[^/]+)", get_comment_property),
    ("GET", f"{API}/search/jql", search.search_jql),
    ("POST", f"{API}/search/jql", search.search_jql),
    ("GET", f"{API}/search", search.search_legacy),
    ("POST", f"{API}/search", search.search_legacy),
    ("GET", "/rest/webhooks/1.0/webhook", webhook_list),
    ("POST", "/rest/webhooks/1.0/webhook", register_webhook),
    ("GET", f"{REQUEST}/approval", servicedesk.get_approvals),
    ("POST", f"{REQUEST}/approval/(?P<aid>[^/]+)", servicedesk.answer_approval),
    ("POST", f"{REQUEST}/comment", servicedesk.jsm_comment),
]
