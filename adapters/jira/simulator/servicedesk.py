"""Jira Service Management handlers (``/rest/servicedeskapi``): approvals and request comments."""

from __future__ import annotations

import re

from connector.testing.simulator import SimRequest, SimResponse

from . import views
from .entities import error
from .handling import body_of, issue_of
from .state import JiraState


def get_approvals(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    issue = issue_of(sim, match, "Request does not exist")
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
    body = body_of(sim, request) or {}
    issue = issue_of(sim, match, "Request does not exist")
    if sim.caller is None:
        return error(404, "Request does not exist")
    approval = sim.answer(issue, match["aid"], sim.caller, str(body.get("decision")))
    return SimResponse(200, views.approval_json(sim, issue, approval))


def jsm_comment(sim: JiraState, request: SimRequest, match: re.Match) -> SimResponse:
    body = body_of(sim, request) or {}
    issue = issue_of(sim, match, "Request does not exist")
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
