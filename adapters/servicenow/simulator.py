"""A stateful ServiceNow Table API simulator (moto-style) for tests and demos, in-process on
``responses`` or as a real HTTP server (``serve()``).

What it keeps faithful, because the connector depends on it: every value is a string; unknown
columns in bodies and queries are silently ignored; journal fields read back empty (entries live
in sys_journal_field); sys_updated_on has one-second resolution; paging follows the Link header;
change_request state jumps are refused by a business rule (403); field changes are written to
sys_audit; approver rows roll up to the record; POST is not idempotent.

    sim = seeded_demo("https://sim.service-now.test")
    with responses.RequestsMock() as rsps:
        sim.install(rsps)
        ...  # the adapter creates a change_request
        sim.approve("CHG0030001", "change.manager")
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode

from connector.testing.simulator import SimRequest, SimResponse, SimulatedAPI

from . import sim_query
from .webhook import sign

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SYS_FIELDS = (
    "sys_id",
    "sys_created_on",
    "sys_created_by",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
)
TASK_TABLES = ("change_request", "incident", "sc_request")

# change_request state model (normal change): value -> states reachable in one step.
CHANGE_TRANSITIONS: dict[str, set[str]] = {
    "-5": {"-4", "-3", "4"},
    "-4": {"-3", "-5", "4"},
    "-3": {"-2", "-5", "4"},
    "-2": {"-1", "-5", "4"},
    "-1": {"0", "4"},
    "0": {"3"},
    "3": set(),
    "4": set(),
}
NEUTRAL = {"not_required", "cancelled", "skipped"}


def _sys_id() -> str:
    return uuid.uuid4().hex


def error(status: int, message: str, detail: str | None = "") -> SimResponse:
    return SimResponse(status, {"error": {"message": message, "detail": detail}, "status": "failure"})


@dataclass
class Column:
    type: str = "string"  # string | integer | boolean | choice | reference | journal | glide_date_time
    reference: str = ""
    default: str = ""
    label: str = ""


@dataclass
class Table:
    name: str
    parent: str = ""
    columns: dict[str, Column] = field(default_factory=dict)
    prefix: str = ""  # number prefix (CHG, INC, REQ)
    audited: bool = False
    sys_id: str = field(default_factory=_sys_id)


class Refused(Exception):
    """A business rule refused a change (the API answers 403)."""

    def __init__(self, rule: str, table: str, message: str = "") -> None:
        super().__init__(message or rule)
        self.rule = rule
        self.table = table
        self.message = message


class ServiceNowSimulator(SimulatedAPI):
    """Tables, users, OAuth, encoded queries, paging, business rules and signed notifications."""

    system_name = "servicenow"

    def __init__(self, base_url: str = "https://sim.service-now.test") -> None:
        super().__init__(base_url)
        self.tables: dict[str, Table] = {}
        self.rows: dict[str, dict[str, dict[str, str]]] = {}
        self.passwords: dict[str, str] = {}
        self.oauth_clients: dict[str, tuple[str, str]] = {}  # client_id -> (secret, acting user)
        self.tokens: dict[str, tuple[str, datetime]] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.token_lifetime = 1800
        self.read_roles: dict[str, set[str]] = {}  # table -> roles allowed to read (empty: anyone)
        self.approval_groups: dict[str, str] = {}  # table -> group sys_id asked to approve new records
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.counters: dict[str, int] = {}
        self.queries: list[tuple[str, str]] = []  # (table, sysparm_query) of every first-page list call
        self._frozen: datetime | None = None
        self._skew = timedelta(0)
        self._actor = ""
        self._lost: list[list[Any]] = []
        self._outbox: list[tuple[str, bytes, dict[str, str]]] = []
        self._define_schema()
        self._register_routes()

    # --- time -------------------------------------------------------------------------------------------
    def now(self) -> datetime:
        return (self._frozen or datetime.now(timezone.utc)) + self._skew

    def stamp(self) -> str:
        return self.now().strftime(TIME_FORMAT)  # one-second resolution, like the platform

    def freeze(self, at: str | None = None) -> None:
        """Stop the clock (at 'YYYY-MM-DD HH:MM:SS' UTC if given): many updates share a second."""
        with self.lock:
            self._skew = timedelta(0)
            self._frozen = (
                datetime.strptime(at, TIME_FORMAT).replace(tzinfo=timezone.utc) if at else self.now()
            )

    def advance(self, seconds: float) -> None:
        with self.lock:
            self._skew += timedelta(seconds=seconds)

    # --- schema -----------------------------------------------------------------------------------------
    def _define_schema(self) -> None:
        ref, choice, journal = "reference", "choice", "journal"
        task = {
            "number": Column(),
            "short_description": Column(),
            "description": Column(),
            "state": Column(choice, default="1"),
            "approval": Column(choice, default="not requested"),
            "correlation_id": Column(),
            "correlation_display": Column(),
            "work_notes": Column(journal),
            "comments": Column(journal),
            "assignment_group": Column(ref, "sys_user_group"),
            "assigned_to": Column(ref, "sys_user"),
            "opened_by": Column(ref, "sys_user"),
            "cmdb_ci": Column(ref, "cmdb_ci"),
            "impact": Column(choice, default="3"),
            "urgency": Column(choice, default="3"),
            "priority": Column(choice, default="4"),
            "active": Column("boolean", default="true"),
            "close_notes": Column(),
            "sys_class_name": Column(),
        }
        self.add_table("task", columns=task, audited=True)
        self.add_table(
            "change_request",
            parent="task",
            prefix="CHG",
            audited=True,
            columns={
                "type": Column(choice, default="normal"),
                "category": Column(choice, default="Other"),
                "risk": Column(choice, default="3"),
                "close_code": Column(choice),
                "justification": Column(),
                "implementation_plan": Column(),
                "backout_plan": Column(),
                "start_date": Column("glide_date_time"),
                "end_date": Column("glide_date_time"),
            },
        )
        self.tables["change_request"].columns["state"] = Column(choice, default="-5")
        self.add_table(
            "incident",
            parent="task",
            prefix="INC",
            audited=True,
            columns={
                "category": Column(choice, default="inquiry"),
                "caller_id": Column(ref, "sys_user"),
                "close_code": Column(choice),
            },
        )
        self.add_table(
            "sc_request",
            parent="task",
            prefix="REQ",
            audited=True,
            columns={
                "request_state": Column(choice, default="requested"),
                "requested_for": Column(ref, "sys_user"),
            },
        )
        self.add_table(
            "sys_user",
            columns={
                "user_name": Column(),
                "name": Column(),
                "email": Column(),
                "active": Column("boolean", default="true"),
                "web_service_access_only": Column("boolean", default="false"),
                "roles": Column(),
            },
        )
        self.add_table("sys_user_group", columns={"name": Column(), "manager": Column(ref, "sys_user")})
        self.add_table(
            "sys_user_grmember",
            columns={
                "user": Column(ref, "sys_user"),
                "group": Column(ref, "sys_user_group"),
            },
        )
        self.add_table(
            "sysapproval_approver",
            audited=True,
            columns={
                "approver": Column(ref, "sys_user"),
                "state": Column(choice, default="requested"),
                "sysapproval": Column(ref, "task"),
                "document_id": Column(),
                "source_table": Column(),
                "group": Column(ref, "sys_user_group"),
                "comments": Column(journal),
                "due_date": Column(),
            },
        )
        self.add_table(
            "sys_journal_field",
            columns={
                "element_id": Column(),
                "element": Column(),
                "name": Column(),
                "value": Column(),
            },
        )
        self.add_table(
            "sys_audit",
            columns={
                "tablename": Column(),
                "documentkey": Column(),
                "fieldname": Column(),
                "oldvalue": Column(),
                "newvalue": Column(),
                "user": Column(),
                "record_checkpoint": Column("integer"),
            },
        )
        self.add_table(
            "sys_dictionary",
            columns={
                "name": Column(),
                "element": Column(),
                "internal_type": Column(),
                "reference": Column(),
                "column_label": Column(),
                "mandatory": Column("boolean", default="false"),
            },
        )
        self.add_table(
            "sys_choice",
            columns={
                "name": Column(),
                "element": Column(),
                "value": Column(),
                "label": Column(),
                "sequence": Column("integer"),
                "inactive": Column("boolean", default="false"),
                "language": Column(default="en"),
            },
        )
        self.add_table(
            "sys_db_object",
            columns={
                "name": Column(),
                "label": Column(),
                "super_class": Column(ref, "sys_db_object"),
            },
        )
        self._sync_meta()

    def add_table(
        self,
        name: str,
        *,
        parent: str = "",
        columns: dict[str, Column] | None = None,
        prefix: str = "",
        audited: bool = False,
    ) -> None:
        self.tables[name] = Table(name, parent, dict(columns or {}), prefix, audited)
        self.rows.setdefault(name, {})
        if "sys_db_object" in self.tables:
            self._sync_meta()

    def add_field(self, table: str, element: str, type: str = "string", reference: str = "") -> None:  # noqa: A002
        """A custom column (u_...) as an admin would add it."""
        with self.lock:
            self.tables[table].columns[element] = Column(type, reference)
            self._sync_meta()

    def remove_field(self, table: str, element: str) -> None:
        with self.lock:
            for name in self._chain(table):
                self.tables[name].columns.pop(element, None)
            self._sync_meta()

    def add_choice(
        self, table: str, element: str, value: str, label: str = "", inactive: bool = False
    ) -> None:
        with self.lock:
            seq = len(
                [
                    r
                    for r in self.rows["sys_choice"].values()
                    if r["name"] == table and r["element"] == element
                ]
            )
            self._insert_raw(
                "sys_choice",
                {
                    "name": table,
                    "element": element,
                    "value": str(value),
                    "label": label or str(value),
                    "sequence": str((seq + 1) * 100),
                    "inactive": "true" if inactive else "false",
                    "language": "en",
                },
            )

    def remove_choice(self, table: str, element: str, value: str) -> None:
        with self.lock:
            rows = self.rows["sys_choice"]
            for sys_id in [
                k
                for k, r in rows.items()
                if r["name"] == table and r["element"] == element and r["value"] == value
            ]:
                del rows[sys_id]

    def _sync_meta(self) -> None:
        """sys_db_object and sys_dictionary mirror the schema (fields live on the defining table)."""
        objects, dictionary = {}, {}
        for table in self.tables.values():
            objects[table.sys_id] = self._stamped(
                {
                    "sys_id": table.sys_id,
                    "name": table.name,
                    "label": table.name.replace("_", " ").title(),
                    "super_class": self.tables[table.parent].sys_id if table.parent else "",
                }
            )
            own = dict(table.columns)
            if not table.parent:
                own.update(
                    {name: Column("integer" if name == "sys_mod_count" else "string") for name in SYS_FIELDS}
                )
            for element, column in own.items():
                sys_id = uuid.uuid5(uuid.NAMESPACE_OID, f"{table.name}.{element}").hex
                dictionary[sys_id] = self._stamped(
                    {
                        "sys_id": sys_id,
                        "name": table.name,
                        "element": element,
                        "internal_type": column.type,
                        "reference": column.reference,
                        "column_label": column.label or element.replace("_", " "),
                        "mandatory": "false",
                    }
                )
        self.rows["sys_db_object"] = objects
        self.rows["sys_dictionary"] = dictionary

    def _stamped(self, row: dict[str, str]) -> dict[str, str]:
        stamp = self.stamp()
        return {
            "sys_created_on": stamp,
            "sys_created_by": "system",
            "sys_updated_on": stamp,
            "sys_updated_by": "system",
            "sys_mod_count": "0",
            **row,
        }

    def _chain(self, table: str) -> list[str]:
        chain = []
        while table:
            chain.append(table)
            table = self.tables[table].parent
        return chain

    def columns(self, table: str) -> dict[str, Column]:
        out: dict[str, Column] = {
            name: Column("integer" if name == "sys_mod_count" else "string") for name in SYS_FIELDS
        }
        for name in reversed(self._chain(table)):
            out.update(self.tables[name].columns)
        return out

    def _known(self, table: str, path: str) -> bool:
        """Whether a (dot-walked) column exists; unknown ones are dropped from queries."""
        cols = self.columns(table)
        head, _, rest = path.partition(".")
        if head not in cols:
            return False
        if not rest:
            return True
        target = cols[head].reference
        return bool(target) and target in self.tables and self._known(target, rest)

    def _get(self, table: str, row: dict[str, str], path: str) -> str:
        head, _, rest = path.partition(".")
        raw = row.get(head, "")
        if not rest:
            return raw
        target = self.columns(table).get(head, Column()).reference
        found = self._lookup(target, raw)
        return self._get(found[0], found[1], rest) if found else ""

    def _lookup(self, table: str, sys_id: str) -> tuple[str, dict[str, str]] | None:
        """A referenced row; a reference to ``task`` finds the row in any task table."""
        if not sys_id:
            return None
        for name in TASK_TABLES if table == "task" else (table,):
            row = self.rows.get(name, {}).get(sys_id)
            if row is not None:
                return name, row
        return None

    # --- routes -----------------------------------------------------------------------------------------
    def _register_routes(self) -> None:
        table = r"/api/now(?:/v[12])?/table/(?P<table>[A-Za-z0-9_]+)"
        self.add_route("POST", r"/oauth_token\.do", self._token)
        self.add_route("GET", table, self._list)
        self.add_route("POST", table, self._create)
        self.add_route("GET", table + r"/(?P<sys_id>[A-Za-z0-9]+)", self._read)
        self.add_route("PATCH", table + r"/(?P<sys_id>[A-Za-z0-9]+)", self._update)
        self.add_route("PUT", table + r"/(?P<sys_id>[A-Za-z0-9]+)", self._update)
        self.add_route("DELETE", table + r"/(?P<sys_id>[A-Za-z0-9]+)", self._delete)

    def fault_body(self, status: int) -> Any:
        if status == 429:
            return {
                "error": {
                    "message": "Rate limit exceeded",
                    "detail": "Rate limit of 100 requests per hour for Table API exceeded",
                },
                "status": "failure",
            }
        return {"error": {"message": f"Injected fault {status}", "detail": ""}, "status": "failure"}

    def lose_answer(self, method: str, path: str, times: int = 1, status: int = 504) -> None:
        """Process the next matching request, then answer ``status`` instead (a lost answer)."""
        self._lost.append([method.upper(), path, times, status])

    def handle(self, request: SimRequest) -> SimResponse:
        response = super().handle(request)
        with self.lock:
            for lost in self._lost:
                if lost[0] == request.method and re.search(lost[1], request.path) and lost[2] > 0:
                    lost[2] -= 1
                    response = error(lost[3], "Gateway Timeout", "the answer was lost on the way back")
                    break
            self._lost = [x for x in self._lost if x[2] > 0]
        self._flush(background=True)
        return response

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        if request.path == "/oauth_token.do":
            return None
        header = request.header("Authorization") or ""
        user = None
        if header.startswith("Basic "):
            try:
                name, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                name, password = "", ""
            if name in self.passwords and secrets.compare_digest(self.passwords[name], password):
                user = name
        elif header.startswith("Bearer "):
            entry = self.tokens.get(header[7:])
            if entry and entry[1] > self.now():
                user = entry[0]
        if user is None or not self._active(user):
            return error(401, "User Not Authenticated", "Required to provide Auth information")
        self._actor = user
        return None

    def _active(self, user_name: str) -> bool:
        row = self._user(user_name)
        return row is not None and row.get("active") == "true"

    def _token(self, request: SimRequest, match: Any) -> SimResponse:
        ctype = request.header("Content-Type") or ""
        if "x-www-form-urlencoded" not in ctype:
            return SimResponse(400, {"error": "invalid_request", "error_description": "form-encode the body"})
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8")).items()}
        client = self.oauth_clients.get(form.get("client_id", ""))
        if client is None or not secrets.compare_digest(client[0], form.get("client_secret", "")):
            return SimResponse(
                401, {"error": "invalid_client", "error_description": "client authentication failed"}
            )
        grant = form.get("grant_type")
        if grant == "password":
            user = form.get("username", "")
            if self.passwords.get(user) != form.get("password") or not self._active(user):
                return SimResponse(
                    401, {"error": "access_denied", "error_description": "invalid credentials"}
                )
        elif grant == "client_credentials":
            user = client[1]
        elif grant == "refresh_token":
            user = self.refresh_tokens.get(form.get("refresh_token", ""), "")
            if not user:
                return SimResponse(
                    401, {"error": "invalid_grant", "error_description": "refresh token invalid"}
                )
        else:
            return SimResponse(400, {"error": "unsupported_grant_type", "error_description": str(grant)})
        access = secrets.token_urlsafe(24)
        self.tokens[access] = (user, self.now() + timedelta(seconds=self.token_lifetime))
        body: dict[str, Any] = {
            "access_token": access,
            "scope": "useraccount",
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
        }
        if grant != "client_credentials":
            refresh = secrets.token_urlsafe(24)
            self.refresh_tokens[refresh] = user
            body["refresh_token"] = refresh
        return SimResponse(200, body)

    def revoke_tokens(self) -> None:
        """Invalidate every access token (the next call gets 401; clients must renew)."""
        with self.lock:
            self.tokens.clear()

    def _can_read(self, table: str) -> bool:
        allowed = self.read_roles.get(table)
        if not allowed:
            return True
        user = self._user(self._actor) or {}
        roles = set(filter(None, user.get("roles", "").split(",")))
        return bool(roles & (allowed | {"admin"}))

    # --- Table API handlers -----------------------------------------------------------------------------
    def _table(self, request: SimRequest, match: Any) -> str | SimResponse:
        name = match.group("table")
        if name not in self.tables:
            return error(400, f"Invalid table {name}", f"Table {name} does not exist")
        if request.method == "GET" and not self._can_read(name):
            return error(403, "Insufficient rights to query records", None)
        return name

    def _list(self, request: SimRequest, match: Any) -> SimResponse:
        table = self._table(request, match)
        if isinstance(table, SimResponse):
            return table
        text = request.arg("sysparm_query", "") or ""
        if request.arg("sysparm_offset", "0") in ("0", None):
            self.queries.append((table, text))
        query = sim_query.parse(text, lambda f: self._known(table, f))
        rows = [
            r
            for r in self.rows[table].values()
            if sim_query.matches(query, lambda f, r=r: self._get(table, r, f))
        ]
        rows = sim_query.sort(rows, query, lambda r, f: self._get(table, r, f))
        try:
            limit = max(1, int(request.arg("sysparm_limit", "10000") or "10000"))
            offset = max(0, int(request.arg("sysparm_offset", "0") or "0"))
        except ValueError:
            return error(400, "Invalid sysparm_limit or sysparm_offset", "")
        page = rows[offset : offset + limit]
        body = {"result": [self._render(table, r, request) for r in page]}
        headers = {"X-Total-Count": str(len(rows))}
        links = self._links(request, offset, limit, len(rows))
        if links:
            headers["Link"] = links
        return SimResponse(200, body, headers)

    def _links(self, request: SimRequest, offset: int, limit: int, total: int) -> str:
        if request.arg("sysparm_suppress_pagination_header") == "true":
            return ""
        base = {k: v[0] for k, v in request.query.items()}
        url = f"{self.base_url}{request.path}"

        def link(at: int, rel: str) -> str:
            params = {**base, "sysparm_limit": str(limit), "sysparm_offset": str(at)}
            return f'<{url}?{urlencode(params)}>;rel="{rel}"'

        parts = [link(0, "first")]
        if offset > 0:
            parts.append(link(max(0, offset - limit), "prev"))
        if offset + limit < total:
            parts.append(link(offset + limit, "next"))
        parts.append(link(max(0, ((total - 1) // limit) * limit) if total else 0, "last"))
        return ",".join(parts)

    def _render(self, table: str, row: dict[str, str], request: SimRequest) -> dict[str, Any]:
        fields_arg = request.arg("sysparm_fields", "") or ""
        wanted = [f.strip() for f in fields_arg.split(",") if f.strip()] if fields_arg else None
        cols = self.columns(table)
        names = [f for f in wanted if self._known(table, f)] if wanted is not None else list(cols)
        display = (request.arg("sysparm_display_value", "false") or "false").lower()
        links = (request.arg("sysparm_exclude_reference_link", "false") or "false").lower() != "true"
        out: dict[str, Any] = {}
        for name in names:
            column = cols.get(name, Column())
            raw = "" if column.type == "journal" else self._get(table, row, name)
            shown: Any = raw
            if display in ("true", "all"):
                label = self._display(table, name, column, raw)
                shown = label if display == "true" else {"display_value": label, "value": raw}
            elif column.type == "reference" and raw and links:
                target = self._lookup(column.reference, raw)
                where = target[0] if target else column.reference
                shown = {"link": f"{self.base_url}/api/now/table/{where}/{raw}", "value": raw}
            out[name] = shown
        return out

    def _display(self, table: str, name: str, column: Column, raw: str) -> str:
        if column.type == "choice":
            for owner in self._chain(table):
                for c in self.rows["sys_choice"].values():
                    if c["name"] == owner and c["element"] == name and c["value"] == raw:
                        return c["label"]
        if column.type == "reference":
            found = self._lookup(column.reference, raw)
            if found:
                return found[1].get("number") or found[1].get("name") or found[1].get("user_name") or raw
        return raw

    def _read(self, request: SimRequest, match: Any) -> SimResponse:
        table = self._table(request, match)
        if isinstance(table, SimResponse):
            return table
        row = self.rows[table].get(match.group("sys_id"))
        if row is None:
            return error(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
        return SimResponse(200, {"result": self._render(table, row, request)})

    def _body(self, request: SimRequest) -> dict[str, Any] | SimResponse:
        if "json" not in (request.header("Content-Type") or ""):
            return error(415, "Unsupported Media Type", "send Content-Type: application/json")
        try:
            body = request.json()
        except ValueError:
            return error(400, "Exception while reading request", "Request body is not valid JSON")
        if not isinstance(body, dict):
            return error(400, "Exception while reading request", "Expected a JSON object")
        return body

    def _create(self, request: SimRequest, match: Any) -> SimResponse:
        table = self._table(request, match)
        if isinstance(table, SimResponse):
            return table
        body = self._body(request)
        if isinstance(body, SimResponse):
            return body
        try:
            row = self.insert(table, body, self._actor)
        except Refused as exc:
            return self._refused(exc)
        response = SimResponse(201, {"result": self._render(table, row, request)})
        response.headers["Location"] = f"{self.base_url}/api/now/table/{table}/{row['sys_id']}"
        return response

    def _update(self, request: SimRequest, match: Any) -> SimResponse:
        table = self._table(request, match)
        if isinstance(table, SimResponse):
            return table
        sys_id = match.group("sys_id")
        if sys_id not in self.rows[table]:
            return error(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
        body = self._body(request)
        if isinstance(body, SimResponse):
            return body
        try:
            row = self.write(table, sys_id, body, self._actor)
        except Refused as exc:
            return self._refused(exc)
        return SimResponse(200, {"result": self._render(table, row, request)})

    def _delete(self, request: SimRequest, match: Any) -> SimResponse:
        table = self._table(request, match)
        if isinstance(table, SimResponse):
            return table
        if self.rows[table].pop(match.group("sys_id"), None) is None:
            return error(404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
        return SimResponse(204, None)

    @staticmethod
    def _refused(exc: Refused) -> SimResponse:
        sys_id = uuid.uuid5(uuid.NAMESPACE_OID, exc.rule).hex
        return error(
            403,
            "Operation Failed",
            f"Operation against file '{exc.table}' was aborted by Business Rule '{exc.rule}^{sys_id}'. "
            f"Business Rule Stack:{exc.rule}" + (f". {exc.message}" if exc.message else ""),
        )

    # --- state changes (every write goes through here) --------------------------------------------------
    def _insert_raw(self, table: str, values: dict[str, str], user: str = "system") -> dict[str, str]:
        stamp = self.stamp()
        row = {name: column.default for name, column in self.columns(table).items()}
        row.update(
            {
                "sys_id": values.get("sys_id") or _sys_id(),
                "sys_created_on": stamp,
                "sys_created_by": user,
                "sys_updated_on": stamp,
                "sys_updated_by": user,
                "sys_mod_count": "0",
            }
        )
        row.update({k: str(v) for k, v in values.items() if k != "sys_id"})
        self.rows[table][row["sys_id"]] = row
        return row

    def insert(self, table: str, values: dict[str, Any], user: str) -> dict[str, str]:
        """A POST: unknown columns ignored, journals to sys_journal_field, number assigned,
        insert business rules run (approvals requested, audit written)."""
        with self.lock:
            cols = self.columns(table)
            clean = {k: self._str(v) for k, v in values.items() if k in cols and not k.startswith("sys_")}
            journals = {k: clean.pop(k) for k in list(clean) if cols[k].type == "journal"}
            meta = self.tables[table]
            if meta.prefix and not clean.get("number"):
                count = self.counters.get(meta.prefix, 30000) + 1
                self.counters[meta.prefix] = count
                clean["number"] = f"{meta.prefix}{count:07d}"
            if "sys_class_name" in cols:
                clean["sys_class_name"] = table
            row = self._insert_raw(table, clean, user)
            if self._audited(table):
                for name, new in clean.items():
                    if new:
                        self._audit(table, row, name, "", new, user)
            for name, text in journals.items():
                self._journal(table, row["sys_id"], name, text, user)
            group = self.approval_groups.get(table)
            if group:
                self._request_approval(table, row, group, user)
            return dict(row)

    def write(
        self, table: str, sys_id: str, values: dict[str, Any], user: str, *, rules: bool = True
    ) -> dict[str, str]:
        """A PATCH: only changed columns count; a journal entry alone still bumps the record."""
        notify = False
        with self.lock:
            row = self.rows[table][sys_id]
            cols = self.columns(table)
            clean = {k: self._str(v) for k, v in values.items() if k in cols and not k.startswith("sys_")}
            journals = {k: clean.pop(k) for k in list(clean) if cols[k].type == "journal" and clean[k]}
            clean = {k: v for k, v in clean.items() if cols[k].type != "journal"}
            changed = {k: v for k, v in clean.items() if row.get(k, "") != v}
            if rules:
                self._before_update(table, row, changed)
            if not changed and not journals:
                return dict(row)
            for name, new in changed.items():
                if self._audited(table):
                    self._audit(table, row, name, row.get(name, ""), new, user, int(row["sys_mod_count"]) + 1)
                row[name] = new
            for name, text in journals.items():
                self._journal(table, sys_id, name, text, user)
            row["sys_mod_count"] = str(int(row["sys_mod_count"]) + 1)
            row["sys_updated_on"] = self.stamp()
            row["sys_updated_by"] = user
            if rules and table == "sysapproval_approver" and "state" in changed:
                self._roll_up(row["sysapproval"], user)
            notify = table in TASK_TABLES and bool({"approval", "state"} & set(changed))
            if notify:
                self._queue_notification(table, row)
            return dict(row)

    @staticmethod
    def _str(value: Any) -> str:
        if isinstance(value, dict):
            value = value.get("value", "")
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    def _audited(self, table: str) -> bool:
        return any(self.tables[t].audited for t in self._chain(table))

    def _audit(
        self, table: str, row: dict[str, str], name: str, old: str, new: str, user: str, checkpoint: int = 0
    ) -> None:
        self._insert_raw(
            "sys_audit",
            {
                "tablename": table,
                "documentkey": row["sys_id"],
                "fieldname": name,
                "oldvalue": old,
                "newvalue": new,
                "user": user,
                "record_checkpoint": str(checkpoint),
            },
            user,
        )

    def _journal(self, table: str, sys_id: str, element: str, text: str, user: str) -> None:
        self._insert_raw(
            "sys_journal_field",
            {"element_id": sys_id, "element": element, "name": table, "value": text},
            user,
        )

    def _before_update(self, table: str, row: dict[str, str], changed: dict[str, str]) -> None:
        """Business rules that can refuse an update (the platform answers 403)."""
        if table != "change_request" or "state" not in changed:
            return
        old, new = row.get("state", ""), changed["state"]
        if new not in CHANGE_TRANSITIONS.get(old, set()):
            raise Refused(
                "Change Model: Check State Transition",
                table,
                f"State change from {old} to {new} is not allowed",
            )
        if new == "3":
            code = changed.get("close_code", row.get("close_code", ""))
            notes = changed.get("close_notes", row.get("close_notes", ""))
            if not code or not notes:
                raise Refused(
                    "Change Model: Close Code Mandatory",
                    table,
                    "close_code and close_notes are required to close",
                )

    def _request_approval(self, table: str, row: dict[str, str], group_id: str, user: str) -> None:
        for member in self.rows["sys_user_grmember"].values():
            if member["group"] == group_id:
                self._insert_raw(
                    "sysapproval_approver",
                    {
                        "approver": member["user"],
                        "state": "requested",
                        "sysapproval": row["sys_id"],
                        "document_id": row["sys_id"],
                        "source_table": table,
                        "group": group_id,
                    },
                    "system",
                )
        if row.get("approval") == "not requested":
            self.write(table, row["sys_id"], {"approval": "requested"}, user, rules=False)

    def _roll_up(self, task_id: str, user: str) -> None:
        """Approver rows decide the record: any rejection rejects; in a group one approval is
        enough (the others become not_required); every group/person approved approves."""
        found = self._lookup("task", task_id)
        if not found:
            return
        table, task = found
        rows = [r for r in self.rows["sysapproval_approver"].values() if r["sysapproval"] == task_id]
        if any(r["state"] == "rejected" for r in rows):
            verdict = "rejected"
        else:
            for r in rows:
                if r["state"] == "approved" and r["group"]:
                    for other in rows:
                        if other["group"] == r["group"] and other["state"] in ("requested", "not requested"):
                            self.write(
                                "sysapproval_approver",
                                other["sys_id"],
                                {"state": "not_required"},
                                "system",
                                rules=False,
                            )
            voting = [r for r in rows if r["state"] not in NEUTRAL]
            verdict = "approved" if voting and all(r["state"] == "approved" for r in voting) else ""
        if not verdict or task.get("approval") == verdict:
            return
        values = {"approval": verdict}
        if table == "change_request":
            if verdict == "approved" and task["state"] in ("-5", "-4", "-3"):
                values["state"] = "-2"
            elif verdict == "rejected" and task["state"] != "-5":
                values["state"] = "-5"
        self.write(table, task_id, values, user, rules=False)

    # --- notifications ----------------------------------------------------------------------------------
    def _queue_notification(self, table: str, row: dict[str, str]) -> None:
        if not (self.webhook_url and self.webhook_secret and row.get("correlation_id")):
            return
        body = json.dumps(
            {
                "event": "record.updated",
                "event_id": f"{table}:{row['sys_id']}:{row['sys_mod_count']}",
                "table": table,
                "sys_id": row["sys_id"],
                "number": row.get("number", ""),
                "correlation_id": row.get("correlation_id", ""),
                "approval": row.get("approval", ""),
                "state": row.get("state", ""),
                "sys_updated_on": row["sys_updated_on"],
                "sys_mod_count": row["sys_mod_count"],
            },
            separators=(",", ":"),
        ).encode("utf-8")
        stamp = str(int(self.now().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "X-SN-Webhook-Timestamp": stamp,
            "X-SN-Webhook-Signature": sign(self.webhook_secret, stamp, body),
        }
        self._outbox.append((self.webhook_url, body, headers))

    def _flush(self, background: bool = False) -> None:
        """Send queued notifications outside the lock (in a thread when inside a request)."""
        with self.lock:
            batch, self._outbox = self._outbox, []
        if not batch:
            return

        def send() -> None:
            for url, body, headers in batch:
                self.deliver_webhook(url, body, headers)

        if background:
            threading.Thread(target=send, name="servicenow-sim-webhook", daemon=True).start()
        else:
            send()

    # --- people and data (helpers for tests and demos) ----------------------------------------------------
    def add_user(
        self,
        user_name: str,
        *,
        name: str = "",
        email: str = "",
        password: str | None = None,
        roles: Iterable[str] = (),
        groups: Iterable[str] = (),
        web_service_only: bool = False,
    ) -> str:
        with self.lock:
            row = self._insert_raw(
                "sys_user",
                {
                    "user_name": user_name,
                    "name": name or user_name,
                    "email": email or f"{user_name}@example.com",
                    "roles": ",".join(roles),
                    "web_service_access_only": "true" if web_service_only else "false",
                },
            )
            if password is not None:
                self.passwords[user_name] = password
            for group in groups:
                self.add_member(group, user_name)
            return row["sys_id"]

    def add_group(self, name: str, members: Iterable[str] = ()) -> str:
        with self.lock:
            row = self._insert_raw("sys_user_group", {"name": name})
            for member in members:
                self.add_member(name, member)
            return row["sys_id"]

    def add_member(self, group: str, user_name: str) -> None:
        with self.lock:
            self._insert_raw(
                "sys_user_grmember",
                {"user": self._require_user(user_name)["sys_id"], "group": self._group(group)["sys_id"]},
            )

    def add_oauth_client(self, client_id: str, secret: str, acting_user: str) -> None:
        self.oauth_clients[client_id] = (secret, acting_user)

    def require_approval(self, table: str, group: str) -> None:
        """New records of ``table`` get one requested approver row per member of ``group``."""
        self.approval_groups[table] = self._group(group)["sys_id"]

    def set_webhook(self, url: str | None, secret: str | None) -> None:
        self.webhook_url, self.webhook_secret = url, secret

    def _user(self, user_name: str) -> dict[str, str] | None:
        return next((r for r in self.rows["sys_user"].values() if r["user_name"] == user_name), None)

    def _require_user(self, user_name: str) -> dict[str, str]:
        row = self._user(user_name)
        if row is None:
            raise KeyError(f"no sys_user {user_name!r}")
        return row

    def _group(self, name_or_id: str) -> dict[str, str]:
        for row in self.rows["sys_user_group"].values():
            if name_or_id in (row["name"], row["sys_id"]):
                return row
        raise KeyError(f"no sys_user_group {name_or_id!r}")

    def find(self, number: str) -> tuple[str, dict[str, str]]:
        for table in TASK_TABLES:
            for row in self.rows[table].values():
                if row.get("number") == number:
                    return table, row
        raise KeyError(f"no record {number!r}")

    def record(self, number: str) -> dict[str, str]:
        """A copy of the record as stored (journal columns empty, as the API shows them)."""
        with self.lock:
            return dict(self.find(number)[1])

    def records(self, table: str = "change_request") -> list[dict[str, str]]:
        with self.lock:
            return [dict(r) for r in self.rows[table].values()]

    def journal(self, number: str, element: str | None = None) -> list[dict[str, str]]:
        """Journal entries of a record, oldest first."""
        with self.lock:
            sys_id = self.find(number)[1]["sys_id"]
            rows = [
                dict(r)
                for r in self.rows["sys_journal_field"].values()
                if r["element_id"] == sys_id and (element is None or r["element"] == element)
            ]
            return sorted(rows, key=lambda r: (r["sys_created_on"], r["sys_mod_count"]))

    def approvals(self, number: str) -> list[dict[str, str]]:
        with self.lock:
            sys_id = self.find(number)[1]["sys_id"]
            return [dict(r) for r in self.rows["sysapproval_approver"].values() if r["sysapproval"] == sys_id]

    def _vote(self, number: str, as_user: str, state: str, comment: str) -> None:
        with self.lock:
            table, task = self.find(number)
            user = self._require_user(as_user)
            row = next(
                (
                    r
                    for r in self.rows["sysapproval_approver"].values()
                    if r["sysapproval"] == task["sys_id"] and r["approver"] == user["sys_id"]
                ),
                None,
            )
            if row is None:  # an ad-hoc approver (or an admin acting directly)
                row = self._insert_raw(
                    "sysapproval_approver",
                    {
                        "approver": user["sys_id"],
                        "state": "requested",
                        "sysapproval": task["sys_id"],
                        "document_id": task["sys_id"],
                        "source_table": table,
                    },
                    as_user,
                )
            values = {"state": state, **({"comments": comment} if comment else {})}
            self.write("sysapproval_approver", row["sys_id"], values, as_user)
        self._flush()

    def approve(self, number: str, as_user: str, comment: str = "") -> None:
        """``as_user`` approves in the UI: their approver row, then the roll-up to the record."""
        self._vote(number, as_user, "approved", comment)

    def reject(self, number: str, as_user: str, reason: str = "") -> None:
        self._vote(number, as_user, "rejected", reason)

    def set_state(self, number: str, state: str | int, as_user: str) -> None:
        """A person moves the record (state model enforced: Refused on an invalid jump)."""
        self.update(number, as_user, state=str(state))

    def update(self, number: str, as_user: str, **values: Any) -> None:
        """A person edits the record in the UI (business rules apply)."""
        with self.lock:
            self._require_user(as_user)
            table, row = self.find(number)
            self.write(table, row["sys_id"], values, as_user)
        self._flush()


def seeded_demo(
    base_url: str = "https://sim.service-now.test",
    *,
    service_password: str = "svc-password",
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> ServiceNowSimulator:
    """An instance ready for the change-triage example: the connector's account, a change
    manager approving in "CAB Approval", a requester, an outsider, choices and an OAuth client."""
    sim = ServiceNowSimulator(base_url)
    sim.add_user(
        "svc_connector",
        name="Approval Connector",
        password=service_password,
        roles=["itil"],
        web_service_only=True,
    )
    sim.add_user(
        "change.manager",
        name="Casey Manager",
        email="casey.manager@example.com",
        password="manager-password",
        roles=["itil", "change_manager"],
    )
    sim.add_user("requester", name="Riley Requester", roles=["itil"])
    sim.add_user("outsider", name="Oscar Outsider", roles=["itil"])
    sim.add_group("CAB Approval", ["change.manager"])
    sim.add_group("Platform Operations", ["requester"])
    sim.add_oauth_client("connector-client", "connector-client-secret", "svc_connector")
    sim.require_approval("change_request", "CAB Approval")
    sim.add_field("change_request", "u_agent_run")
    sim.read_roles.update({"sys_audit": {"itil"}, "sys_dictionary": {"itil"}, "sys_choice": {"itil"}})
    choices = {
        ("change_request", "state"): [
            ("-5", "New"),
            ("-4", "Assess"),
            ("-3", "Authorize"),
            ("-2", "Scheduled"),
            ("-1", "Implement"),
            ("0", "Review"),
            ("3", "Closed"),
            ("4", "Canceled"),
        ],
        ("change_request", "type"): [
            ("normal", "Normal"),
            ("standard", "Standard"),
            ("emergency", "Emergency"),
        ],
        ("change_request", "category"): [
            ("Software", "Software"),
            ("Hardware", "Hardware"),
            ("Network", "Network"),
            ("Other", "Other"),
        ],
        ("change_request", "risk"): [("1", "Very High"), ("2", "High"), ("3", "Moderate"), ("4", "Low")],
        ("change_request", "close_code"): [
            ("successful", "Successful"),
            ("successful_issues", "Successful with issues"),
            ("unsuccessful", "Unsuccessful"),
        ],
        ("task", "approval"): [
            ("not requested", "Not Yet Requested"),
            ("requested", "Requested"),
            ("approved", "Approved"),
            ("rejected", "Rejected"),
        ],
        ("task", "impact"): [("1", "1 - High"), ("2", "2 - Medium"), ("3", "3 - Low")],
        ("task", "urgency"): [("1", "1 - High"), ("2", "2 - Medium"), ("3", "3 - Low")],
        ("task", "priority"): [
            ("1", "1 - Critical"),
            ("2", "2 - High"),
            ("3", "3 - Moderate"),
            ("4", "4 - Low"),
        ],
        ("incident", "state"): [
            ("1", "New"),
            ("2", "In Progress"),
            ("3", "On Hold"),
            ("6", "Resolved"),
            ("7", "Closed"),
            ("8", "Canceled"),
        ],
        ("sysapproval_approver", "state"): [
            ("not requested", "Not Yet Requested"),
            ("requested", "Requested"),
            ("approved", "Approved"),
            ("rejected", "Rejected"),
            ("cancelled", "Cancelled"),
            ("not_required", "No Longer Required"),
        ],
    }
    for (table, element), values in choices.items():
        for value, label in values:
            sim.add_choice(table, element, value, label)
    if webhook_url and webhook_secret:
        sim.set_webhook(webhook_url, webhook_secret)
    return sim
