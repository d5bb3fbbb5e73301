"""Request plumbing shared by the route modules: authentication, the recorded JSON body, the
issue a path names, paging and list parameters, refusing unknown body keys."""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Callable
from typing import Any

from connector.testing.simulator import SimRequest, SimResponse

from .entities import Refusal, SimIssue, error
from .state import JiraState

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


def body_of(sim: JiraState, request: SimRequest) -> Any:
    """The JSON body, recorded in ``sim.bodies`` so tests can see what the client sent."""
    body = request.json()
    sim.bodies.append((request.method, request.path, body))
    return body


def refuse_unknown(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise Refusal(400, f"Unrecognized field {sorted(unknown)[0]!r}")


def issue_of(sim: JiraState, match: re.Match, message: str = NO_ISSUE) -> SimIssue:
    issue = sim.find_issue(match["key"])
    if issue is None:
        raise Refusal(404, message)
    return issue


def page_args(request: SimRequest, default: int, cap: int) -> tuple[int, int]:
    return int(request.arg("startAt") or 0), min(int(request.arg("maxResults") or default), cap)


def list_param(request: SimRequest, name: str) -> list[str] | None:
    """A comma-separated list parameter that may be repeated (``properties=a,b&properties=c``);
    None when absent."""
    if name not in request.query:
        return None
    return [part for value in request.query[name] for part in value.split(",") if part]
