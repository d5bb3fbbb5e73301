"""A stateful Jira (Cloud or Data Center) for tests and demos, moto-style: in-memory state, thin
routes, explicit transitions. Works in-process on ``responses`` (``sim.install(rsps)``) and as a
real HTTP server (``with sim.serve() as url``), and sends signed admin webhooks on transitions.

Human actions go through helpers, e.g. ``sim.transition("OPS-1", "Approve", actor="alice")``.
``JiraSimulator.seeded_demo()`` gives project OPS with an approval workflow and four users."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from connector.testing.simulator import SimRequest, SimResponse, SimulatedAPI

CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
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
SYSTEM_FIELDS = {
    "summary": ("Summary", {"type": "string", "system": "summary"}),
    "description": ("Description", {"type": "string", "system": "description"}),
    "status": ("Status", {"type": "status", "system": "status"}),
    "labels": ("Labels", {"type": "array", "items": "string", "system": "labels"}),
    "priority": ("Priority", {"type": "priority", "system": "priority"}),
    "components": ("Component/s", {"type": "array", "items": "component", "system": "components"}),
    "assignee": ("Assignee", {"type": "user", "system": "assignee"}),
    "reporter": ("Reporter", {"type": "user", "system": "reporter"}),
    "issuetype": ("Issue Type", {"type": "issuetype", "system": "issuetype"}),
    "project": ("Project", {"type": "project", "system": "project"}),
    "resolution": ("Resolution", {"type": "resolution", "system": "resolution"}),
    "created": ("Created", {"type": "datetime", "system": "created"}),
    "updated": ("Updated", {"type": "datetime", "system": "updated"}),
    "comment": ("Comment", {"type": "comments-page", "system": "comment"}),
}
CREATABLE = {
    "summary",
    "description",
    "labels",
    "priority",
    "components",
    "assignee",
    "reporter",
    "issuetype",
    "project",
}
PRIORITIES = {"1": "Highest", "2": "High", "3": "Medium", "4": "Low", "5": "Lowest"}
RESOLUTIONS = {"10000": "Done", "10001": "Won't Do", "10002": "Failed"}


def now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _error(status: int, *messages: str, errors: dict[str, str] | None = None) -> SimResponse:
    return SimResponse(status, {"errorMessages": list(messages), "errors": errors or {}})


class JqlError(ValueError):
    """A query the simulated Jira refuses (answered with 400, like the real one)."""


@dataclass
class SimUser:
    name: str
    account_id: str
    email: str
    display: str
    token: str = ""
    key: str = ""
    groups: set[str] = field(default_factory=set)
    admin: bool = False
    account_type: str = "atlassian"


@dataclass
class SimStatus:
    id: str
    name: str
    category: str


@dataclass
class SimTransition:
    id: str
    name: str
    to: str
    sources: list[str] | None  # None = global
    screen_fields: list[str] = field(default_factory=list)
    required_fields: list[str] = field(default_factory=list)
    comment_allowed: bool = True
    groups: set[str] | None = None  # condition: only members may run it


@dataclass
class SimProject:
    id: str
    key: str
    name: str
    issue_types: dict[str, str]  # id -> name
    initial_status: str
    components: dict[str, str] = field(default_factory=dict)  # id -> name
    counter: int = 0


@dataclass
class SimIssue:
    id: str
    key: str
    project: str
    issuetype: str
    status: str
    fields: dict[str, Any]
    reporter: str
    created: str
    updated: str
    comments: list[dict[str, Any]] = field(default_factory=list)
    histories: list[dict[str, Any]] = field(default_factory=list)
    hidden_searches: int = 0


class JiraSimulator(SimulatedAPI):
    """In-memory Jira. ``deployment`` is 'cloud' (accountIds, basic e-mail+token, /search/jql,
    legacy /search → 410) or 'datacenter' (names/keys, bearer PAT, /search with startAt)."""

    system_name = "jira"

    def __init__(
        self,
        base_url: str = "https://jira.example.test",
        deployment: str = "cloud",
        *,
        search_lag: int = 0,
        changelog_cap: int = 40,
    ) -> None:
        super().__init__(base_url)
        if deployment not in ("cloud", "datacenter"):
            raise ValueError("deployment must be 'cloud' or 'datacenter'")
        self.deployment = deployment
        self.search_lag = search_lag
        self.changelog_cap = changelog_cap
        self.users: dict[str, SimUser] = {}
        self.statuses: dict[str, SimStatus] = {}
        self.workflow: list[SimTransition] = []
        self.projects: dict[str, SimProject] = {}
        self.custom_fields: dict[str, dict[str, Any]] = {}
        self.issues: dict[str, SimIssue] = {}
        self.webhooks: list[dict[str, Any]] = []
        self.approvals: dict[str, list[dict[str, Any]]] = {}
        self.approval_transitions: dict[str, str] = {}  # finalDecision -> transition name
        self.drop_create_answers = 0  # create the issue, then lose the answer (timeout)
        self.bodies: list[tuple[str, str, Any]] = []  # (method, path, JSON body) the client sent
        self._ids = {"issue": 10200, "history": 40000, "comment": 50000, "approval": 7, "webhook": 0}
        self._outbox: list[tuple[str, bytes, dict[str, str]]] = []
        self._current: SimUser | None = None
        self._register_routes()

    @property
    def cloud(self) -> bool:
        return self.deployment == "cloud"

    # --- seeding ------------------------------------------------------------------------------------
    def add_user(
        self,
        name: str,
        display: str,
        email: str,
        *,
        token: str = "",
        account_id: str = "",
        groups: set[str] | None = None,
        admin: bool = False,
    ) -> SimUser:
        user = SimUser(
            name=name,
            account_id=account_id or "5b10a28" + hashlib.sha256(name.encode()).hexdigest()[:17],
            email=email,
            display=display,
            token=token,
            key=f"JIRAUSER{10000 + len(self.users)}",
            groups=set(groups or ()),
            admin=admin,
        )
        self.users[name] = user
        return user

    def add_status(self, status_id: str, name: str, category: str) -> SimStatus:
        status = SimStatus(status_id, name, category)
        self.statuses[status_id] = status
        return status

    def add_transition(
        self, transition_id: str, name: str, sources: list[str] | None, to: str, **options: Any
    ) -> SimTransition:
        transition = SimTransition(
            transition_id,
            name,
            self._status(to).id,
            [self._status(s).id for s in sources] if sources is not None else None,
            **options,
        )
        self.workflow.append(transition)
        return transition

    def add_project(
        self,
        key: str,
        name: str,
        project_id: str,
        issue_types: dict[str, str],
        initial_status: str,
        components: dict[str, str] | None = None,
    ) -> SimProject:
        project = SimProject(
            project_id, key, name, dict(issue_types), self._status(initial_status).id, dict(components or {})
        )
        self.projects[key] = project
        return project

    def add_custom_field(self, field_id: str, name: str, kind: str = "textfield") -> None:
        schema: dict[str, Any] = {
            "type": "string",
            "custom": f"com.atlassian.jira.plugin.system.customfieldtypes:{kind}",
            "customId": int(field_id.split("_")[-1]),
        }
        self.custom_fields[field_id] = {"name": name, "schema": schema}

    @classmethod
    def seeded_demo(
        cls, base_url: str = "https://ops.example.test", deployment: str = "cloud", **options: Any
    ) -> JiraSimulator:
        """Project OPS with Awaiting Approval → Approved/Rejected → Done/Failed/Cancelled, and users
        bot (the connector, admin), alice (approver, group change-approvers), bob (requester),
        mallory (outsider). Credentials: see ``demo_env()``."""
        sim = cls(base_url, deployment, **options)
        sim.add_user(
            "svc-approval",
            "Approval Connector Bot",
            "jira-bot@example.com",
            token="bot-token",
            account_id="712020:0b9d5a1e-1111-4c2e-9f00-bot000000001",
            admin=True,
            groups={"jira-software-users"},
        )
        sim.add_user(
            "alice",
            "Alice Approver",
            "alice@example.com",
            token="alice-token",
            account_id="5b10a2844c20165700ede21a",
            groups={"change-approvers", "jira-software-users"},
        )
        sim.add_user(
            "bob",
            "Bob Requester",
            "bob@example.com",
            token="bob-token",
            account_id="5b10a2844c20165700ede21b",
            groups={"jira-software-users"},
        )
        sim.add_user(
            "mallory",
            "Mallory Outsider",
            "mallory@example.com",
            token="mallory-token",
            account_id="5b10a2844c20165700ede21c",
            groups={"jira-software-users"},
        )
        for sid, name, cat in (
            ("10100", "Awaiting Approval", "new"),
            ("10101", "Approved", "indeterminate"),
            ("10102", "Rejected", "done"),
            ("10001", "Done", "done"),
            ("10103", "Failed", "done"),
            ("10104", "Cancelled", "done"),
            ("10105", "In Review", "indeterminate"),
        ):
            sim.add_status(sid, name, cat)
        sim.add_transition("21", "Approve", ["Awaiting Approval"], "Approved")
        sim.add_transition("31", "Reject", ["Awaiting Approval"], "Rejected")
        sim.add_transition(
            "41",
            "Mark executed",
            ["Approved"],
            "Done",
            screen_fields=["resolution"],
            required_fields=["resolution"],
        )
        sim.add_transition("51", "Mark failed", ["Approved"], "Failed")
        sim.add_transition("61", "Cancel", ["Awaiting Approval"], "Cancelled")
        sim.add_transition("71", "Close", ["Rejected"], "Done")
        sim.add_transition("81", "Start review", ["Awaiting Approval"], "In Review")
        sim.add_transition("91", "Reopen", ["Approved", "Rejected", "In Review"], "Awaiting Approval")
        sim.add_project(
            "OPS",
            "Operations",
            "10000",
            {"10002": "Task", "10003": "Change"},
            "Awaiting Approval",
            {"10300": "Email", "10301": "CRM"},
        )
        sim.add_custom_field("customfield_10050", "Agent Request ID")
        sim.add_custom_field("customfield_10051", "Approvers", "multiuserpicker")
        sim.add_custom_field("customfield_10060", "Customer Email")
        return sim

    def demo_env(self) -> dict[str, str]:
        """Environment variables matching config/jira-customer-email.yaml for the bot account."""
        return {
            "JIRA_EMAIL": "jira-bot@example.com",
            "JIRA_API_TOKEN": "bot-token",
            "JIRA_PAT": "bot-token",
            "JIRA_WEBHOOK_SECRET": "demo-webhook-secret",
        }

    # --- lookups ------------------------------------------------------------------------------------
    def _status(self, ref: str) -> SimStatus:
        if ref in self.statuses:
            return self.statuses[ref]
        for status in self.statuses.values():
            if status.name.lower() == str(ref).lower():
                return status
        raise KeyError(f"no status {ref!r}")

    def find_issue(self, ref: str) -> SimIssue | None:
        if ref in self.issues:
            return self.issues[ref]
        for issue in self.issues.values():
            if issue.key.lower() == str(ref).lower():
                return issue
        return None

    def issue(self, ref: str) -> SimIssue:
        found = self.find_issue(ref)
        if found is None:
            raise KeyError(f"no issue {ref!r}")
        return found

    def status_of(self, ref: str) -> str:
        return self.statuses[self.issue(ref).status].name

    def comment_bodies(self, ref: str) -> list[str]:
        return [c["body"] for c in self.issue(ref).comments]

    def user(self, ident: str) -> SimUser | None:
        for user in self.users.values():
            if ident in (user.name, user.account_id, user.key, user.email):
                return user
        return None

    # --- JSON shapes --------------------------------------------------------------------------------
    def user_json(self, user: SimUser | None) -> dict[str, Any] | None:
        if user is None:
            return None
        if self.cloud:
            return {
                "self": f"{self.base_url}/rest/api/2/user?accountId={user.account_id}",
                "accountId": user.account_id,
                "displayName": user.display,
                "emailAddress": user.email,
                "active": True,
                "timeZone": "Etc/UTC",
                "accountType": user.account_type,
            }
        return {
            "self": f"{self.base_url}/rest/api/2/user?username={user.name}",
            "name": user.name,
            "key": user.key,
            "emailAddress": user.email,
            "displayName": user.display,
            "active": True,
            "timeZone": "Europe/Berlin",
        }

    def status_json(self, status: SimStatus) -> dict[str, Any]:
        return {
            "self": f"{self.base_url}/rest/api/2/status/{status.id}",
            "description": "",
            "name": status.name,
            "id": status.id,
            "statusCategory": dict(CATEGORIES[status.category]),
        }

    def _history_json(self, history: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": history["id"],
            "author": self.user_json(self.users[history["author"]]),
            "created": history["created"],
            "items": history["items"],
        }

    def _comment_json(self, comment: dict[str, Any]) -> dict[str, Any]:
        author = self.user_json(self.users[comment["author"]])
        out = {
            "self": f"{self.base_url}/rest/api/2/issue/{comment['issue']}/comment/{comment['id']}",
            "id": comment["id"],
            "author": author,
            "body": comment["body"],
            "updateAuthor": author,
            "created": comment["created"],
            "updated": comment["created"],
        }
        if self.cloud:
            out["jsdPublic"] = not comment.get("internal", False)
        if comment.get("visibility"):
            out["visibility"] = comment["visibility"]
        return out

    def issue_json(
        self,
        issue: SimIssue,
        fields: list[str] | None = None,
        expand: str = "",
        changelog_cap: int | None = None,
    ) -> dict[str, Any]:
        project = self.projects[issue.project]
        everything: dict[str, Any] = {
            **issue.fields,
            "status": self.status_json(self.statuses[issue.status]),
            "issuetype": {
                "id": issue.issuetype,
                "name": project.issue_types[issue.issuetype],
                "subtask": False,
            },
            "project": {"id": project.id, "key": project.key, "name": project.name},
            "reporter": self.user_json(self.users[issue.reporter]),
            "creator": self.user_json(self.users[issue.reporter]),
            "created": issue.created,
            "updated": issue.updated,
            "comment": {
                "comments": [self._comment_json(c) for c in issue.comments],
                "maxResults": len(issue.comments),
                "total": len(issue.comments),
                "startAt": 0,
            },
        }
        everything.setdefault("labels", [])
        everything.setdefault("resolution", None)
        if fields and "*all" not in fields and "*navigable" not in fields:
            shown = {k: v for k, v in everything.items() if k in fields}
        else:
            shown = everything
        out: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog",
            "id": issue.id,
            "self": f"{self.base_url}/rest/api/2/issue/{issue.id}",
            "key": issue.key,
            "fields": shown,
        }
        if "changelog" in expand:
            histories = [self._history_json(h) for h in reversed(issue.histories)]  # newest first
            cap = changelog_cap if changelog_cap is not None else len(histories)
            out["changelog"] = {
                "startAt": 0,
                "maxResults": cap,
                "total": len(histories),
                "histories": histories[:cap],
            }
        return out

    # --- auth ---------------------------------------------------------------------------------------
    def authenticate(self, request: SimRequest) -> SimResponse | None:
        self._current = None
        if request.path.endswith("/serverInfo"):
            return None
        header = request.header("Authorization") or ""
        user = None
        if self.cloud and header.startswith("Basic "):
            try:
                email, _, token = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                email, token = "", ""
            user = next(
                (
                    u
                    for u in self.users.values()
                    if u.email == email and u.token and hmac.compare_digest(u.token, token)
                ),
                None,
            )
        elif not self.cloud and header.startswith("Bearer "):
            token = header[7:]
            user = next(
                (u for u in self.users.values() if u.token and hmac.compare_digest(u.token, token)), None
            )
        if user is None:
            return _error(401, "Client must be authenticated to access this resource.")
        self._current = user
        return None

    def handle(self, request: SimRequest) -> SimResponse:
        response = super().handle(request)
        self.flush_webhooks()
        return response

    # --- routes -------------------------------------------------------------------------------------
    def _register_routes(self) -> None:
        api = r"/rest/api/(?:2|3|latest)"
        self.add_route("GET", f"{api}/serverInfo", self._server_info)
        self.add_route("GET", f"{api}/myself", lambda r, m: SimResponse(200, self._myself()))
        self.add_route("GET", f"{api}/field", lambda r, m: SimResponse(200, self._field_list()))
        self.add_route("GET", f"{api}/user", self._get_user)
        self.add_route("GET", f"{api}/project/(?P<key>[^/]+)", self._get_project)
        self.add_route("GET", f"{api}/project/(?P<key>[^/]+)/statuses", self._project_statuses)
        self.add_route("POST", f"{api}/issue", self._create_issue)
        self.add_route("GET", f"{api}/issue/(?P<key>[^/]+)", self._get_issue)
        self.add_route("GET", f"{api}/issue/(?P<key>[^/]+)/changelog", self._get_changelog)
        self.add_route("GET", f"{api}/issue/(?P<key>[^/]+)/transitions", self._get_transitions)
        self.add_route("POST", f"{api}/issue/(?P<key>[^/]+)/transitions", self._post_transition)
        self.add_route("GET", f"{api}/issue/(?P<key>[^/]+)/comment", self._get_comments)
        self.add_route("POST", f"{api}/issue/(?P<key>[^/]+)/comment", self._post_comment)
        for method in ("GET", "POST"):
            self.add_route(method, f"{api}/search/jql", self._search_jql)
            self.add_route(method, f"{api}/search", self._search_legacy)
        self.add_route(
            "GET", "/rest/webhooks/1.0/webhook", lambda r, m: SimResponse(200, self._webhook_list())
        )
        self.add_route("POST", "/rest/webhooks/1.0/webhook", self._register_webhook)
        sd = "/rest/servicedeskapi/request/(?P<key>[^/]+)"
        self.add_route("GET", f"{sd}/approval", self._get_approvals)
        self.add_route("POST", f"{sd}/approval/(?P<aid>[^/]+)", self._answer_approval_route)
        self.add_route("POST", f"{sd}/comment", self._jsm_comment)

    def _body(self, request: SimRequest) -> Any:
        body = request.json()
        self.bodies.append((request.method, request.path, body))
        return body

    def _server_info(self, request: SimRequest, match: re.Match) -> SimResponse:
        if self.cloud:
            return SimResponse(
                200,
                {
                    "baseUrl": self.base_url,
                    "version": "1001.0.0-SNAPSHOT",
                    "versionNumbers": [1001, 0, 0],
                    "deploymentType": "Cloud",
                    "buildNumber": 100300,
                    "serverTime": now_text(),
                    "serverTitle": "Jira (simulated)",
                },
            )
        return SimResponse(
            200,
            {
                "baseUrl": self.base_url,
                "version": "9.12.15",
                "versionNumbers": [9, 12, 15],
                "deploymentType": "Server",
                "buildNumber": 9120015,
                "serverTime": now_text(),
                "serverTitle": "Jira DC (simulated)",
            },
        )

    def _myself(self) -> dict[str, Any]:
        out = dict(self.user_json(self._current) or {})
        out["groups"] = {"size": len(self._current.groups) if self._current else 0, "items": []}
        return out

    def _field_list(self) -> list[dict[str, Any]]:
        fields = [
            {
                "id": fid,
                "key": fid,
                "name": name,
                "custom": False,
                "orderable": fid in CREATABLE,
                "navigable": True,
                "searchable": True,
                "clauseNames": [fid],
                "schema": schema,
            }
            for fid, (name, schema) in SYSTEM_FIELDS.items()
        ]
        for fid, spec in self.custom_fields.items():
            num = fid.split("_")[-1]
            fields.append(
                {
                    "id": fid,
                    "key": fid,
                    "name": spec["name"],
                    "untranslatedName": spec["name"],
                    "custom": True,
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": [f"cf[{num}]", spec["name"]],
                    "schema": spec["schema"],
                }
            )
        return fields

    def _get_user(self, request: SimRequest, match: re.Match) -> SimResponse:
        ident = request.arg("accountId") if self.cloud else (request.arg("username") or request.arg("key"))
        user = self.user(ident or "")
        if user is None or (self.cloud and ident != user.account_id):
            return _error(404, "The user does not exist.")
        out = dict(self.user_json(user) or {})
        if "groups" in (request.arg("expand") or ""):
            items = [{"name": g, "groupId": f"gid-{g}"} for g in sorted(user.groups)]
            out["groups"] = {"size": len(items), "items": items}
        return SimResponse(200, out)

    def _project(self, ref: str) -> SimProject | None:
        for project in self.projects.values():
            if ref in (project.key, project.id):
                return project
        return None

    def _get_project(self, request: SimRequest, match: re.Match) -> SimResponse:
        project = self._project(match["key"])
        if project is None:
            return _error(404, f"No project could be found with key '{match['key']}'.")
        return SimResponse(
            200,
            {
                "self": f"{self.base_url}/rest/api/2/project/{project.id}",
                "id": project.id,
                "key": project.key,
                "name": project.name,
                "projectTypeKey": "software",
                "issueTypes": [
                    {"id": i, "name": n, "subtask": False} for i, n in project.issue_types.items()
                ],
                "components": [{"id": i, "name": n} for i, n in project.components.items()],
            },
        )

    def _project_statuses(self, request: SimRequest, match: re.Match) -> SimResponse:
        project = self._project(match["key"])
        if project is None:
            return _error(404, f"No project could be found with key '{match['key']}'.")
        used = {project.initial_status} | {t.to for t in self.workflow}
        for t in self.workflow:
            used |= set(t.sources or ())
        statuses = [self.status_json(self.statuses[s]) for s in sorted(used)]
        return SimResponse(
            200,
            [
                {"id": i, "name": n, "subtask": False, "statuses": statuses}
                for i, n in project.issue_types.items()
            ],
        )

    # --- issues -------------------------------------------------------------------------------------
    def _user_from_ref(self, value: Any) -> SimUser | None:
        if not isinstance(value, dict):
            return None
        ident = value.get("accountId") if self.cloud else (value.get("name") or value.get("key"))
        user = self.user(str(ident or ""))
        if user is None or (self.cloud and user.account_id != ident):
            return None
        return user

    def _create_issue(self, request: SimRequest, match: re.Match) -> SimResponse:
        body = self._body(request)
        if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
            return _error(400, "Can not deserialize instance of fields")
        unknown = set(body) - CREATE_KEYS
        if unknown:
            return _error(400, f"Unrecognized field {sorted(unknown)[0]!r}")
        fields = dict(body["fields"])
        errors: dict[str, str] = {}
        pref = fields.pop("project", None) or {}
        project = self._project(str(pref.get("key") or pref.get("id") or ""))
        if project is None:
            return _error(400, errors={"project": "Specify a valid project ID or key"})
        tref = fields.pop("issuetype", None) or {}
        issuetype = next(
            (
                i
                for i, n in project.issue_types.items()
                if i == str(tref.get("id")) or n.lower() == str(tref.get("name", "")).lower()
            ),
            None,
        )
        if issuetype is None:
            errors["issuetype"] = "Specify an issue type"
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > 255 or "\n" in summary:
            errors["summary"] = "Summary must be less than 255 characters and a single line."
        stored: dict[str, Any] = {}
        reporter = self._current
        for key, value in fields.items():
            if key == "summary":
                stored[key] = value
            elif key == "description":
                if not isinstance(value, str):
                    errors[key] = "Operation value must be a string"  # REST v2: no ADF
                elif len(value) > 32767:
                    errors[key] = "The entered text is too long."
                else:
                    stored[key] = value
            elif key == "labels":
                if not isinstance(value, list) or any(
                    not isinstance(v, str) or " " in v or not v for v in value
                ):
                    errors[key] = "The label can't contain spaces."
                else:
                    stored[key] = list(dict.fromkeys(value))
            elif key == "priority":
                pid = next(
                    (
                        i
                        for i, n in PRIORITIES.items()
                        if isinstance(value, dict)
                        and (value.get("id") == i or str(value.get("name", "")).lower() == n.lower())
                    ),
                    None,
                )
                if pid is None:
                    errors[key] = "Specify the Priority (id or name) in the string format"
                else:
                    stored[key] = {"id": pid, "name": PRIORITIES[pid]}
            elif key == "components":
                comps = []
                for comp in value if isinstance(value, list) else [None]:
                    cid = next(
                        (
                            i
                            for i, n in project.components.items()
                            if isinstance(comp, dict) and (comp.get("id") == i or comp.get("name") == n)
                        ),
                        None,
                    )
                    if cid is None:
                        errors[key] = f"Component name '{comp}' is not valid"
                        break
                    comps.append({"id": cid, "name": project.components[cid]})
                stored[key] = comps
            elif key in ("assignee", "reporter"):
                user = self._user_from_ref(value)
                if user is None:
                    errors[key] = f"Specify a valid value for {key}"
                elif key == "reporter":
                    reporter = user
                else:
                    stored[key] = self.user_json(user)
            elif key in self.custom_fields:
                stored[key] = value
            else:
                errors[key] = f"Field '{key}' cannot be set. It is not on the appropriate screen, or unknown."
        if errors:
            return _error(400, errors=errors)
        issue = self._new_issue(project, issuetype or "", stored, reporter)
        if self.drop_create_answers > 0:
            self.drop_create_answers -= 1
            raise requests.exceptions.ReadTimeout("simulated: the answer to this create was lost")
        return SimResponse(
            201, {"id": issue.id, "key": issue.key, "self": f"{self.base_url}/rest/api/2/issue/{issue.id}"}
        )

    def _new_issue(
        self, project: SimProject, issuetype: str, fields: dict[str, Any], reporter: SimUser | None
    ) -> SimIssue:
        self._ids["issue"] += 1
        project.counter += 1
        stamp = now_text()
        issue = SimIssue(
            id=str(self._ids["issue"]),
            key=f"{project.key}-{project.counter}",
            project=project.key,
            issuetype=issuetype,
            status=project.initial_status,
            fields=fields,
            reporter=(reporter or next(iter(self.users.values()))).name,
            created=stamp,
            updated=stamp,
            hidden_searches=self.search_lag,
        )
        self.issues[issue.id] = issue
        return issue

    def create_issue(
        self,
        project: str = "OPS",
        summary: str = "seeded issue",
        *,
        status: str | None = None,
        labels: list[str] | None = None,
        fields: dict[str, Any] | None = None,
        reporter: str = "bob",
        issuetype: str = "Task",
    ) -> SimIssue:
        """Seed an issue directly (not through the API), optionally already in ``status``."""
        with self.lock:
            proj = self.projects[project]
            type_id = next(i for i, n in proj.issue_types.items() if n == issuetype or i == issuetype)
            issue = self._new_issue(
                proj,
                type_id,
                {"summary": summary, "labels": list(labels or []), **(fields or {})},
                self.users[reporter],
            )
            issue.hidden_searches = 0
            if status is not None:
                issue.status = self._status(status).id
            return issue

    def _get_issue(self, request: SimRequest, match: re.Match) -> SimResponse:
        issue = self.find_issue(match["key"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        fields = [f for f in (request.arg("fields") or "").split(",") if f] or None
        return SimResponse(200, self.issue_json(issue, fields, request.arg("expand") or ""))

    def _get_changelog(self, request: SimRequest, match: re.Match) -> SimResponse:
        if not self.cloud:
            return _error(404, "null for uri")
        issue = self.find_issue(match["key"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        start = int(request.arg("startAt") or 0)
        size = min(int(request.arg("maxResults") or 100), 100)
        values = [self._history_json(h) for h in issue.histories]  # oldest first
        page = values[start : start + size]
        return SimResponse(
            200,
            {
                "startAt": start,
                "maxResults": size,
                "total": len(values),
                "isLast": start + size >= len(values),
                "values": page,
            },
        )

    # --- transitions ----------------------------------------------------------------------------------
    def available(self, issue: SimIssue, user: SimUser | None) -> list[SimTransition]:
        out = []
        for t in self.workflow:
            if t.sources is not None and issue.status not in t.sources:
                continue
            if t.groups is not None and (user is None or not (user.groups & t.groups)):
                continue
            out.append(t)
        return out

    def _transition_json(self, t: SimTransition, with_fields: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": t.id,
            "name": t.name,
            "to": self.status_json(self.statuses[t.to]),
            "hasScreen": bool(t.screen_fields),
            "isGlobal": t.sources is None,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": t.groups is not None,
            "isLooped": False,
        }
        if with_fields:
            out["fields"] = {
                f: {
                    "required": f in t.required_fields,
                    "name": f.title(),
                    "key": f,
                    "operations": ["set"],
                    "schema": {"type": f, "system": f},
                }
                for f in t.screen_fields
            }
        return out

    def _get_transitions(self, request: SimRequest, match: re.Match) -> SimResponse:
        issue = self.find_issue(match["key"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        with_fields = "transitions.fields" in (request.arg("expand") or "")
        return SimResponse(
            200,
            {
                "expand": "transitions",
                "transitions": [
                    self._transition_json(t, with_fields) for t in self.available(issue, self._current)
                ],
            },
        )

    def _post_transition(self, request: SimRequest, match: re.Match) -> SimResponse:
        body = self._body(request)
        issue = self.find_issue(match["key"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        if not isinstance(body, dict) or not isinstance(body.get("transition"), dict):
            return _error(400, "Missing 'transition' identifier")
        unknown = set(body) - TRANSITION_KEYS
        if unknown:
            return _error(400, f"Unrecognized field {sorted(unknown)[0]!r}")
        tid = str(body["transition"].get("id"))
        transition = next((t for t in self.available(issue, self._current) if t.id == tid), None)
        if transition is None:
            return _error(400, f"Transition id '{tid}' is not valid for this issue.")
        comment = None
        for op in (body.get("update") or {}).get("comment") or []:
            comment = (op.get("add") or {}).get("body")
        problem = self._apply_checks(transition, body.get("fields") or {}, comment is not None)
        if problem:
            return problem
        assert self._current is not None
        self._apply(issue, transition, self._current, body.get("fields") or {}, comment)
        return SimResponse(204, None)

    def _apply_checks(
        self, t: SimTransition, fields: dict[str, Any], has_comment: bool
    ) -> SimResponse | None:
        errors = {}
        for key in fields:
            if key not in t.screen_fields:
                errors[key] = f"Field '{key}' cannot be set. It is not on the appropriate screen, or unknown."
        for key in t.required_fields:
            if key not in fields:
                errors[key] = f"{key.title()} is required."
        if has_comment and not t.comment_allowed:
            errors["comment"] = (
                "Field 'comment' cannot be set. It is not on the appropriate screen, or unknown."
            )
        if "resolution" in fields:
            value = fields["resolution"]
            if not isinstance(value, dict) or not any(
                value.get("id") == i or value.get("name") == n for i, n in RESOLUTIONS.items()
            ):
                errors["resolution"] = "Resolution is invalid."
        return _error(400, errors=errors) if errors else None

    def _apply(
        self, issue: SimIssue, t: SimTransition, actor: SimUser, fields: dict[str, Any], comment: str | None
    ) -> None:
        """Move the issue, record who did it, queue the signed webhook (sent after the lock)."""
        old = self.statuses[issue.status]
        new = self.statuses[t.to]
        items = [
            {
                "field": "status",
                "fieldtype": "jira",
                "fieldId": "status",
                "from": old.id,
                "fromString": old.name,
                "to": new.id,
                "toString": new.name,
            }
        ]
        if "resolution" in fields:
            rid = next(
                i
                for i, n in RESOLUTIONS.items()
                if fields["resolution"].get("id") == i or fields["resolution"].get("name") == n
            )
            issue.fields["resolution"] = {"id": rid, "name": RESOLUTIONS[rid]}
            items.append(
                {
                    "field": "resolution",
                    "fieldtype": "jira",
                    "fieldId": "resolution",
                    "from": None,
                    "fromString": None,
                    "to": rid,
                    "toString": RESOLUTIONS[rid],
                }
            )
        issue.status = new.id
        self._ids["history"] += 1
        stamp = now_text()
        history = {"id": str(self._ids["history"]), "author": actor.name, "created": stamp, "items": items}
        issue.histories.append(history)
        issue.updated = stamp
        if comment is not None:
            self._add_comment(issue, actor, comment)
        self._queue_event(
            issue,
            actor,
            "jira:issue_updated",
            "issue_generic",
            {"changelog": {"id": history["id"], "items": items}},
        )

    def transition(
        self,
        key: str,
        to: str,
        actor: str = "alice",
        fields: dict[str, Any] | None = None,
        comment: str | None = None,
    ) -> None:
        """A human moves the issue: ``to`` is a transition id/name or the target status name.
        Raises ValueError when the workflow does not offer it to that user."""
        with self.lock:
            issue = self.issue(key)
            user = self.users[actor]
            wanted = str(to).lower()
            options = self.available(issue, user)
            transition = next(
                (t for t in options if t.id == str(to) or t.name.lower() == wanted), None
            ) or next((t for t in options if self.statuses[t.to].name.lower() == wanted), None)
            if transition is None:
                raise ValueError(f"{key}: no transition {to!r} for {actor} from {self.status_of(key)!r}")
            problem = self._apply_checks(transition, fields or {}, comment is not None)
            if problem is not None:
                raise ValueError(f"{key}: {problem.body}")
            self._apply(issue, transition, user, fields or {}, comment)
        self.flush_webhooks()

    def set_status(self, key: str, status: str, actor: str = "alice") -> None:
        """Force a status outside the workflow (an admin edit, a bulk move) with a changelog entry."""
        with self.lock:
            issue = self.issue(key)
            self._apply(
                issue,
                SimTransition("0", "admin move", self._status(status).id, None),
                self.users[actor],
                {},
                None,
            )
        self.flush_webhooks()

    # --- comments -------------------------------------------------------------------------------------
    def _add_comment(
        self,
        issue: SimIssue,
        author: SimUser,
        body: str,
        internal: bool = False,
        visibility: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._ids["comment"] += 1
        comment = {
            "id": str(self._ids["comment"]),
            "issue": issue.id,
            "author": author.name,
            "body": body,
            "created": now_text(),
            "internal": internal,
            "visibility": visibility,
        }
        issue.comments.append(comment)
        issue.updated = comment["created"]
        return comment

    def comment(self, key: str, body: str, actor: str = "alice") -> None:
        """A human comments (e.g. a rejection reason)."""
        with self.lock:
            issue = self.issue(key)
            comment = self._add_comment(issue, self.users[actor], body)
            self._queue_event(
                issue, self.users[actor], "comment_created", None, {"comment": self._comment_json(comment)}
            )
        self.flush_webhooks()

    def _get_comments(self, request: SimRequest, match: re.Match) -> SimResponse:
        issue = self.find_issue(match["key"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        start = int(request.arg("startAt") or 0)
        size = min(int(request.arg("maxResults") or 50), 100)
        page = issue.comments[start : start + size]
        return SimResponse(
            200,
            {
                "startAt": start,
                "maxResults": size,
                "total": len(issue.comments),
                "comments": [self._comment_json(c) for c in page],
            },
        )

    def _post_comment(self, request: SimRequest, match: re.Match) -> SimResponse:
        body = self._body(request)
        issue = self.find_issue(match["key"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"].strip():
            return _error(400, errors={"comment": "Comment body can not be empty!"})
        unknown = set(body) - {"body", "visibility", "properties"}
        if unknown:
            return _error(400, f"Unrecognized field {sorted(unknown)[0]!r}")
        internal = any(
            p.get("key") == "sd.public.comment" and (p.get("value") or {}).get("internal")
            for p in body.get("properties") or []
        )
        assert self._current is not None
        comment = self._add_comment(issue, self._current, body["body"], internal, body.get("visibility"))
        return SimResponse(201, self._comment_json(comment))

    # --- search ---------------------------------------------------------------------------------------
    def _search_params(self, request: SimRequest) -> dict[str, Any]:
        if request.method == "POST":
            body = self._body(request) or {}
            if not isinstance(body, dict):
                raise JqlError("body must be an object")
            return body
        params: dict[str, Any] = {k: v[0] for k, v in request.query.items()}
        if "fields" in request.query:
            params["fields"] = [f for v in request.query["fields"] for f in v.split(",") if f]
        return params

    def _run_search(self, jql_text: str) -> list[SimIssue]:
        query = parse_jql(jql_text)
        query(self, None)  # validate, like Jira does before searching
        visible = [i for i in self.issues.values() if i.hidden_searches <= 0]
        for issue in self.issues.values():
            issue.hidden_searches -= 1
        hits = [i for i in visible if query(self, i)]
        return sorted(hits, key=lambda i: int(i.id))

    def _search_jql(self, request: SimRequest, match: re.Match) -> SimResponse:
        if not self.cloud:
            return _error(404, "null for uri: /rest/api/2/search/jql")
        try:
            params = self._search_params(request)
            if request.method == "POST":
                unknown = set(params) - SEARCH_BEAN_KEYS
                if unknown:
                    raise JqlError(f"Unrecognized field {sorted(unknown)[0]!r}")
            jql_text = str(params.get("jql") or "")
            if not jql_text.strip() or re.match(r"^\s*order\s+by", jql_text, re.I):
                raise JqlError("Unbounded JQL queries are not allowed here. Please add a search restriction.")
            hits = self._run_search(jql_text)
        except JqlError as exc:
            return _error(400, str(exc))
        offset = 0
        token = params.get("nextPageToken")
        if token:
            try:
                offset = int(base64.urlsafe_b64decode(str(token).encode()).decode().removeprefix("off:"))
            except ValueError:
                return _error(400, "Invalid nextPageToken")
        size = max(1, min(int(params.get("maxResults") or 50), 100))
        page = hits[offset : offset + size]
        fields = params.get("fields") or ["id"]
        if isinstance(fields, str):
            fields = fields.split(",")
        expand = params.get("expand") or ""
        issues = [self._search_issue(i, fields, expand) for i in page]
        out: dict[str, Any] = {"issues": issues, "isLast": offset + size >= len(hits)}
        if offset + size < len(hits):
            out["nextPageToken"] = base64.urlsafe_b64encode(f"off:{offset + size}".encode()).decode()
        return SimResponse(200, out)

    def _search_issue(self, issue: SimIssue, fields: list[str], expand: Any) -> dict[str, Any]:
        if isinstance(expand, list):
            expand = ",".join(expand)
        out = self.issue_json(
            issue,
            [f for f in fields if f != "id"] or ["__none__"],
            str(expand),
            changelog_cap=self.changelog_cap,
        )
        return out

    def _search_legacy(self, request: SimRequest, match: re.Match) -> SimResponse:
        if self.cloud:
            return _error(
                410,
                "The requested API has been removed. Please migrate to the "
                "/rest/api/3/search/jql API. A full migration guideline is available at "
                "https://developer.atlassian.com/changelog/#CHANGE-2046",
            )
        try:
            params = self._search_params(request)
            hits = self._run_search(str(params.get("jql") or ""))
        except JqlError as exc:
            return _error(400, str(exc))
        start = int(params.get("startAt") or 0)
        size = max(1, min(int(params.get("maxResults") or 50), 100))
        fields = params.get("fields") or ["*navigable"]
        if isinstance(fields, str):
            fields = fields.split(",")
        page = hits[start : start + size]
        return SimResponse(
            200,
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": size,
                "total": len(hits),
                "issues": [self._search_issue(i, fields, params.get("expand") or "") for i in page],
            },
        )

    # --- webhooks -------------------------------------------------------------------------------------
    def _webhook_list(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in w.items() if k != "secret"} for w in self.webhooks]

    def _register_webhook(self, request: SimRequest, match: re.Match) -> SimResponse:
        body = self._body(request)
        if self._current is None or not self._current.admin:
            return _error(403, "Only Jira administrators can register webhooks.")
        if not isinstance(body, dict) or not body.get("url") or not body.get("events"):
            return _error(400, "name, url and events are required")
        if body.get("filters", {}).get("issue-related-events-section"):
            try:
                parse_jql(body["filters"]["issue-related-events-section"])(self, None)
            except JqlError as exc:
                return _error(400, f"Invalid JQL filter: {exc}")
        self._ids["webhook"] += 1
        hook = {
            "name": body.get("name", ""),
            "url": body["url"],
            "events": list(body["events"]),
            "filters": body.get("filters") or {},
            "excludeBody": bool(body.get("excludeBody")),
            "enabled": True,
            "self": f"{self.base_url}/rest/webhooks/1.0/webhook/{self._ids['webhook']}",
            "secret": body.get("secret") or None,
            "lastUpdatedUser": self._current.account_id,
        }
        self.webhooks.append(hook)
        return SimResponse(201, {k: v for k, v in hook.items() if k != "secret"})

    def register_webhook(
        self, url: str, secret: str | None, events: list[str] | None = None, jql_filter: str = ""
    ) -> None:
        """What an admin does in the UI (Settings → System → WebHooks)."""
        with self.lock:
            self._ids["webhook"] += 1
            self.webhooks.append(
                {
                    "name": "ui",
                    "url": url,
                    "events": events or ["jira:issue_updated"],
                    "filters": {"issue-related-events-section": jql_filter},
                    "excludeBody": False,
                    "enabled": True,
                    "secret": secret,
                    "self": f"{self.base_url}/rest/webhooks/1.0/webhook/{self._ids['webhook']}",
                }
            )

    def _queue_event(
        self, issue: SimIssue, actor: SimUser, event: str, type_name: str | None, extra: dict[str, Any]
    ) -> None:
        for hook in self.webhooks:
            if not hook.get("enabled") or event not in hook["events"]:
                continue
            jql_filter = (hook.get("filters") or {}).get("issue-related-events-section")
            if jql_filter and not parse_jql(jql_filter)(self, issue):
                continue
            payload: dict[str, Any] = {
                "timestamp": int(datetime.now(timezone.utc).timestamp() * 1000),
                "webhookEvent": event,
            }
            if type_name:
                payload["issue_event_type_name"] = type_name
            payload["user"] = self.user_json(actor)
            payload["issue"] = self.issue_json(issue)
            payload.update(extra)
            body = json.dumps(payload).encode("utf-8")
            headers = {
                "Content-Type": "application/json; charset=UTF-8",
                "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
                "X-Atlassian-Webhook-Flow": "Primary",
            }
            if hook.get("secret"):
                digest = hmac.new(hook["secret"].encode("utf-8"), body, hashlib.sha256).hexdigest()
                headers["X-Hub-Signature"] = f"sha256={digest}"
            self._outbox.append((hook["url"], body, headers))

    def flush_webhooks(self) -> int:
        """Deliver queued webhooks outside the state lock (the receiver may call back into us)."""
        with self.lock:
            queued, self._outbox = self._outbox, []
        for url, body, headers in queued:
            self.deliver_webhook(url, body, headers)
        return len(queued)

    # --- JSM approvals --------------------------------------------------------------------------------
    def add_approval(self, key: str, approvers: list[str], name: str = "Waiting for approval") -> str:
        """Open a JSM approval on the issue for these users (by user name)."""
        with self.lock:
            issue = self.issue(key)
            self._ids["approval"] += 1
            approval = {
                "id": str(self._ids["approval"]),
                "name": name,
                "finalDecision": "pending",
                "approvers": [{"user": a, "approverDecision": "pending"} for a in approvers],
                "created": datetime.now(timezone.utc),
                "completed": None,
            }
            self.approvals.setdefault(issue.id, []).append(approval)
            return approval["id"]

    def answer_approval(self, key: str, actor: str, decision: str) -> None:
        """An approver answers (approve | decline); the workflow transition runs as that user."""
        with self.lock:
            error = self._answer(self.issue(key), None, self.users[actor], decision)
            if error is not None:
                raise ValueError(f"{key}: {error.body}")
        self.flush_webhooks()

    def _answer(
        self, issue: SimIssue, approval_id: str | None, user: SimUser, decision: str
    ) -> SimResponse | None:
        pending = [a for a in self.approvals.get(issue.id, []) if approval_id in (None, a["id"])]
        if not pending:
            return _error(404, "Approval not found")
        approval = pending[-1]
        if approval["finalDecision"] != "pending":
            return _error(409, "The approval has already been completed.")
        entry = next((e for e in approval["approvers"] if e["user"] == user.name), None)
        if entry is None:
            return _error(403, "You are not an approver of this request.")
        if decision not in ("approve", "decline"):
            return _error(400, "decision must be approve or decline")
        entry["approverDecision"] = "approved" if decision == "approve" else "declined"
        approval["finalDecision"] = entry["approverDecision"]
        approval["completed"] = datetime.now(timezone.utc)
        target = self.approval_transitions.get(approval["finalDecision"])
        if target:
            transition = next((t for t in self.available(issue, user) if t.name == target), None)
            if transition is not None:
                self._apply(issue, transition, user, {}, None)
        return None

    def _approval_json(self, issue: SimIssue, approval: dict[str, Any]) -> dict[str, Any]:
        def date(value: datetime | None) -> dict[str, Any] | None:
            if value is None:
                return None
            stamp = value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
            return {
                "epochMillis": int(value.timestamp() * 1000),
                "friendly": stamp,
                "iso8601": stamp,
                "jira": stamp,
            }

        out = {
            "id": approval["id"],
            "name": approval["name"],
            "finalDecision": approval["finalDecision"],
            "canAnswerApproval": approval["finalDecision"] == "pending",
            "approvers": [
                {"approver": self.user_json(self.users[e["user"]]), "approverDecision": e["approverDecision"]}
                for e in approval["approvers"]
            ],
            "createdDate": date(approval["created"]),
            "_links": {
                "self": f"{self.base_url}/rest/servicedeskapi/request/{issue.id}/approval/{approval['id']}"
            },
        }
        if approval["completed"]:
            out["completedDate"] = date(approval["completed"])
        return out

    def _get_approvals(self, request: SimRequest, match: re.Match) -> SimResponse:
        issue = self.find_issue(match["key"])
        if issue is None:
            return _error(404, "Request does not exist")
        values = [self._approval_json(issue, a) for a in self.approvals.get(issue.id, [])]
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

    def _answer_approval_route(self, request: SimRequest, match: re.Match) -> SimResponse:
        body = self._body(request) or {}
        issue = self.find_issue(match["key"])
        if issue is None or self._current is None:
            return _error(404, "Request does not exist")
        error = self._answer(issue, match["aid"], self._current, str(body.get("decision")))
        if error is not None:
            return error
        approval = next(a for a in self.approvals[issue.id] if a["id"] == match["aid"])
        return SimResponse(200, self._approval_json(issue, approval))

    def _jsm_comment(self, request: SimRequest, match: re.Match) -> SimResponse:
        body = self._body(request) or {}
        issue = self.find_issue(match["key"])
        if issue is None or self._current is None:
            return _error(404, "Request does not exist")
        if not isinstance(body.get("body"), str) or not body["body"]:
            return _error(400, "body is required")
        comment = self._add_comment(issue, self._current, body["body"], internal=not body.get("public", True))
        return SimResponse(
            201,
            {
                "id": comment["id"],
                "body": comment["body"],
                "public": not comment["internal"],
                "author": self.user_json(self._current),
            },
        )


# --- a small JQL evaluator (the subset the connector and its users' tests write) --------------------

_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>!=|!~|>=|<=|=|~|>|<|,|\(|\))|'
    r"(?P<word>cf\[\d+\]|[^\s=!~<>,()\"]+))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise JqlError(f"Error in the JQL Query: unexpected character at position {pos}")
        pos = m.end()
        if m["str"] is not None:
            out.append(("str", re.sub(r"\\(.)", r"\1", m["str"][1:-1])))
        elif m["op"] is not None:
            out.append(("op", m["op"]))
        else:
            out.append(("word", m["word"]))
    return out


Predicate = Any  # Callable[[JiraSimulator, SimIssue], bool]


def parse_jql(text: str) -> Predicate:
    """AND / OR / NOT / parentheses over: project, key, id, labels, status, statusCategory,
    issuetype, summary, cf[N] or a custom field name; =, !=, ~, in, not in, is (not) EMPTY.
    ORDER BY is accepted and ignored (results come in id order)."""
    tokens = _tokens(re.split(r"(?i)\border\s+by\b", text)[0])
    pos = 0

    def peek(kind: str | None = None, value: str | None = None) -> bool:
        if pos >= len(tokens):
            return False
        k, v = tokens[pos]
        return (kind is None or k == kind) and (value is None or v.lower() == value.lower())

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise JqlError("Error in the JQL Query: the query ended too soon")
        pos += 1
        return tokens[pos - 1]

    def values() -> list[str]:
        if peek("op", "("):
            take()
            out = []
            while True:
                out.append(take()[1])
                if peek("op", ","):
                    take()
                    continue
                if take() != ("op", ")"):
                    raise JqlError("Error in the JQL Query: expected ')'")
                return out
        return [take()[1]]

    def clause() -> Predicate:
        if peek("op", "("):
            take()
            inner = disjunction()
            if take() != ("op", ")"):
                raise JqlError("Error in the JQL Query: expected ')'")
            return inner
        if peek("word", "not"):
            take()
            inner = clause()
            return lambda sim, issue: True if issue is None else not inner(sim, issue)
        field_name = take()[1]
        kind, op = take()
        op = op.lower()
        if kind == "word" and op == "not" and peek("word", "in"):
            take()
            op = "not in"
        elif kind == "word" and op == "is":
            op = "is"
            if peek("word", "not"):
                take()
                op = "is not"
        elif kind == "word" and op != "in":
            raise JqlError(f"Error in the JQL Query: unknown operator {op!r}")
        wanted = values()
        return _predicate(field_name, op, wanted)

    def conjunction() -> Predicate:
        parts = [clause()]
        while peek("word", "and"):
            take()
            parts.append(clause())
        return lambda sim, issue: _combine(all, parts, sim, issue)

    def disjunction() -> Predicate:
        parts = [conjunction()]
        while peek("word", "or"):
            take()
            parts.append(conjunction())
        return lambda sim, issue: _combine(any, parts, sim, issue)

    predicate = disjunction()
    if pos != len(tokens):
        raise JqlError(f"Error in the JQL Query: unexpected {tokens[pos][1]!r}")
    return predicate


def _predicate(field_name: str, op: str, wanted: list[str]) -> Predicate:
    name = field_name.lower()

    def values_of(sim: JiraSimulator, issue: SimIssue) -> list[str]:
        if name == "project":
            project = sim.projects[issue.project]
            return [project.key.lower(), project.id]
        if name in ("key", "issuekey", "issue"):
            return [issue.key.lower()]
        if name == "id":
            return [issue.id]
        if name == "labels":
            return [str(v) for v in issue.fields.get("labels") or []]
        if name == "status":
            status = sim.statuses[issue.status]
            return [status.id, status.name.lower()]
        if name == "statuscategory":
            cat = CATEGORIES[sim.statuses[issue.status].category]
            return [str(cat["id"]), cat["key"], str(cat["name"]).lower()]
        if name == "issuetype":
            return [issue.issuetype, sim.projects[issue.project].issue_types[issue.issuetype].lower()]
        if name in ("summary", "description", "text"):
            return [str(issue.fields.get(name if name != "text" else "summary") or "")]
        if name in ("updated", "created"):
            return [issue.updated if name == "updated" else str(issue.fields.get("created") or issue.updated)]
        fid = _custom_field(sim, field_name)
        value = issue.fields.get(fid)
        return [] if value is None else [str(v) for v in (value if isinstance(value, list) else [value])]

    def check(sim: JiraSimulator) -> None:
        if name == "status":
            for w in wanted:
                try:
                    sim._status(w)
                except KeyError:
                    raise JqlError(f"The value '{w}' does not exist for the field 'status'.") from None
        elif name not in (
            "project",
            "key",
            "issuekey",
            "issue",
            "id",
            "labels",
            "statuscategory",
            "issuetype",
            "summary",
            "description",
            "text",
            "updated",
            "created",
        ):
            _custom_field(sim, field_name)
        if name in ("updated", "created") and op not in (">=", ">", "<=", "<"):
            raise JqlError(f"Error in the JQL Query: operator {op!r} is not supported for {field_name}")

    def predicate(sim: JiraSimulator, issue: SimIssue | None) -> bool:
        check(sim)
        if issue is None:
            return True
        have = values_of(sim, issue)
        norm = [w if name == "labels" else w.lower() for w in wanted]
        if op in ("=", "in"):
            return any(w in have for w in norm)
        if op in ("!=", "not in"):
            return not any(w in have for w in norm)
        if op == "~":
            needle = norm[0].strip('"').lower()
            return any(needle in h.lower() for h in have)
        if op in (">=", ">", "<=", "<"):
            return _compare_dates(have[0] if have else "", op, wanted[0])
        if op == "is":
            return not have
        if op == "is not":
            return bool(have)
        raise JqlError(f"Error in the JQL Query: operator {op!r} is not supported for {field_name}")

    return predicate


_RELATIVE = re.compile(r"^-(\d+)([mhdw])$")
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def _compare_dates(stamp: str, op: str, value: str) -> bool:
    """Relative JQL dates (-30m, -2d, -1w), as Jira evaluates them: against the server's now."""
    match = _RELATIVE.match(value.strip('"'))
    if not match:
        raise JqlError(f"Error in the JQL Query: date value {value!r} is not supported by the simulator")
    threshold = datetime.now(timezone.utc) - timedelta(seconds=int(match[1]) * _UNIT[match[2]])
    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z")
    return {">=": when >= threshold, ">": when > threshold, "<=": when <= threshold, "<": when < threshold}[
        op
    ]


def _combine(mode: Any, parts: list[Predicate], sim: JiraSimulator, issue: SimIssue | None) -> bool:
    """``issue`` None validates every clause (unknown fields/statuses fail even with no issues)."""
    if issue is None:
        for part in parts:
            part(sim, None)
        return True
    return mode(part(sim, issue) for part in parts)


def _custom_field(sim: JiraSimulator, ref: str) -> str:
    m = re.fullmatch(r"cf\[(\d+)\]", ref, re.I)
    if m and f"customfield_{m[1]}" in sim.custom_fields:
        return f"customfield_{m[1]}"
    for fid, spec in sim.custom_fields.items():
        if spec["name"].lower() == ref.lower() or fid == ref:
            return fid
    raise JqlError(f"Field '{ref}' does not exist or you do not have permission to view it.")
