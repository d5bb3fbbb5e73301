"""Thin handlers of the simulated Table API and OAuth endpoint: parse the request, call the
state, shape the JSON. Each takes the simulator, the request and the path match; the route
table is ``ROUTES``."""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from connector.testing.simulator import SimRequest, SimResponse

from . import query, views
from .rules import Refused
from .state import ServiceNowState

Route = Callable[[ServiceNowState, SimRequest, re.Match], SimResponse]


def error(status: int, message: str, detail: str | None = "") -> SimResponse:
    return SimResponse(status, {"error": {"message": message, "detail": detail}, "status": "failure"})


def authenticate(sim: ServiceNowState, request: SimRequest) -> SimResponse | None:
    if request.path == "/oauth_token.do":
        return None
    header = request.header("Authorization") or ""
    user = None
    if header.startswith("Basic "):
        try:
            name, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            name, password = "", ""
        if name in sim.passwords and secrets.compare_digest(sim.passwords[name], password):
            user = name
    elif header.startswith("Bearer "):
        entry = sim.tokens.get(header[7:])
        if entry and entry[1] > sim.now():
            user = entry[0]
    if user is None or not sim.is_active(user):
        return error(401, "User Not Authenticated", "Required to provide Auth information")
    sim.caller = user
    return None


def token(sim: ServiceNowState, request: SimRequest, match: Any) -> SimResponse:
    ctype = request.header("Content-Type") or ""
    if "x-www-form-urlencoded" not in ctype:
        return SimResponse(400, {"error": "invalid_request", "error_description": "form-encode the body"})
    form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8")).items()}
    client = sim.oauth_clients.get(form.get("client_id", ""))
    if client is None or not secrets.compare_digest(client[0], form.get("client_secret", "")):
        return SimResponse(
            401, {"error": "invalid_client", "error_description": "client authentication failed"}
        )
    grant = form.get("grant_type")
    if grant == "password":
        user = form.get("username", "")
        if sim.passwords.get(user) != form.get("password") or not sim.is_active(user):
            return SimResponse(401, {"error": "access_denied", "error_description": "invalid credentials"})
    elif grant == "client_credentials":
        user = client[1]
    elif grant == "refresh_token":
        user = sim.refresh_tokens.get(form.get("refresh_token", ""), "")
        if not user:
            return SimResponse(401, {"error": "invalid_grant", "error_description": "refresh token invalid"})
    else:
        return SimResponse(400, {"error": "unsupported_grant_type", "error_description": str(grant)})
    access = secrets.token_urlsafe(24)
    sim.tokens[access] = (user, sim.now() + timedelta(seconds=sim.token_lifetime))
    body: dict[str, Any] = {
        "access_token": access,
        "scope": "useraccount",
        "token_type": "Bearer",
        "expires_in": sim.token_lifetime,
    }
    if grant != "client_credentials":
        refresh = secrets.token_urlsafe(24)
        sim.refresh_tokens[refresh] = user
        body["refresh_token"] = refresh
    return SimResponse(200, body)


def can_read(sim: ServiceNowState, table: str) -> bool:
    allowed = sim.read_roles.get(table)
    if not allowed:
        return True
    user = sim.user_row(sim.caller) or {}
    roles = set(filter(None, user.get("roles", "").split(",")))
    return bool(roles & (allowed | {"admin"}))


def _table(sim: ServiceNowState, request: SimRequest, match: Any) -> str | SimResponse:
    name = match.group("table")
    if name not in sim.tables:
        return error(400, f"Invalid table {name}", f"Table {name} does not exist")
    if request.method == "GET" and not can_read(sim, name):
        return error(403, "Insufficient rights to query records", None)
    return name


def list_rows(sim: ServiceNowState, request: SimRequest, match: Any) -> SimResponse:
    table = _table(sim, request, match)
    if isinstance(table, SimResponse):
        return table
    text = request.arg("sysparm_query", "") or ""
    if request.arg("sysparm_offset", "0") in ("0", None):
        sim.queries.append((table, text))
    parsed = query.parse(text, lambda f: sim.known(table, f))
    rows = [
        r for r in sim.rows[table].values() if query.matches(parsed, lambda f, r=r: sim.value_at(table, r, f))
    ]
    rows = query.sort(rows, parsed, lambda r, f: sim.value_at(table, r, f))
    try:
        limit = max(1, int(request.arg("sysparm_limit", "10000") or "10000"))
        offset = max(0, int(request.arg("sysparm_offset", "0") or "0"))
    except ValueError:
        return error(400, "Invalid sysparm_limit or sysparm_offset", "")
    page = rows[offset : offset + limit]
    body = {"result": [views.render(sim, table, r, request) for r in page]}
    headers = {"X-Total-Count": str(len(rows))}
    links = views.link_header(sim, request, offset, limit, len(rows))
    if links:
        headers["Link"] = links
    return SimResponse(200, body, headers)


def read_row(sim: ServiceNowState, request: SimRequest, match: Any) -> SimResponse:
    table = _table(sim, request, match)
    if isinstance(table, SimResponse):
        return table
    row = sim.rows[table].get(match.group("sys_id"))
    if row is None:
        return error(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
    return SimResponse(200, {"result": views.render(sim, table, row, request)})


def json_body(request: SimRequest) -> dict[str, Any] | SimResponse:
    """The request's JSON object, or the platform's 415 / 400 answer."""
    if "json" not in (request.header("Content-Type") or ""):
        return error(415, "Unsupported Media Type", "send Content-Type: application/json")
    try:
        body = request.json()
    except ValueError:
        return error(400, "Exception while reading request", "Request body is not valid JSON")
    if not isinstance(body, dict):
        return error(400, "Exception while reading request", "Expected a JSON object")
    return body


def create_row(sim: ServiceNowState, request: SimRequest, match: Any) -> SimResponse:
    table = _table(sim, request, match)
    if isinstance(table, SimResponse):
        return table
    body = json_body(request)
    if isinstance(body, SimResponse):
        return body
    try:
        row = sim.insert(table, body, sim.caller)
    except Refused as exc:
        return refused(exc)
    response = SimResponse(201, {"result": views.render(sim, table, row, request)})
    response.headers["Location"] = f"{sim.base_url}/api/now/table/{table}/{row['sys_id']}"
    return response


def update_row(sim: ServiceNowState, request: SimRequest, match: Any) -> SimResponse:
    table = _table(sim, request, match)
    if isinstance(table, SimResponse):
        return table
    sys_id = match.group("sys_id")
    if sys_id not in sim.rows[table]:
        return error(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
    body = json_body(request)
    if isinstance(body, SimResponse):
        return body
    try:
        row = sim.write(table, sys_id, body, sim.caller)
    except Refused as exc:
        return refused(exc)
    return SimResponse(200, {"result": views.render(sim, table, row, request)})


def delete_row(sim: ServiceNowState, request: SimRequest, match: Any) -> SimResponse:
    table = _table(sim, request, match)
    if isinstance(table, SimResponse):
        return table
    if sim.rows[table].pop(match.group("sys_id"), None) is None:
        return error(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
    return SimResponse(204, None)


def refused(exc: Refused) -> SimResponse:
    sys_id = uuid.uuid5(uuid.NAMESPACE_OID, exc.rule).hex
    return error(
        403,
        "Operation Failed",
        f"Operation against file '{exc.table}' was aborted by Business Rule '{exc.rule}^{sys_id}'. "
        f"Business Rule Stack:{exc.rule}" + (f". {exc.message}" if exc.message else ""),
    )


TABLE = r"/api/now(?:/v[12])?/table/(?P<table>[A-Za-z0-9_]+)"
RECORD = TABLE + r"/(?P<sys_id>[A-Za-z0-9]+)"

ROUTES: list[tuple[str, str, Route]] = [
    ("POST", r"/oauth_token\.do", token),
    ("GET", TABLE, list_rows),
    ("POST", TABLE, create_row),
    ("GET", RECORD, read_row),
    ("PATCH", RECORD, update_row),
    ("PUT", RECORD, update_row),
    ("DELETE", RECORD, delete_row),
]
