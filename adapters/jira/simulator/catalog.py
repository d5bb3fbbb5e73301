"""Who and what exists in the simulated Jira: the deployment (Cloud or Data Center), users,
statuses, the workflow's transitions, projects and custom fields; how to seed them and look them
up. The layers above (webhooks, state) hold what changes while the simulator runs."""

from __future__ import annotations

import hashlib
from datetime import timezone, tzinfo
from typing import Any

from connector.testing.simulator import SimulatedAPI

from . import views
from .entities import SimProject, SimStatus, SimTransition, SimUser


class JiraCatalog(SimulatedAPI):
    """``deployment`` is 'cloud' (accountIds) or 'datacenter' (names/keys); it changes
    identities and JSON shapes."""

    system_name = "jira"

    def __init__(self, base_url: str, deployment: str) -> None:
        super().__init__(base_url)
        if deployment not in ("cloud", "datacenter"):
            raise ValueError("deployment must be 'cloud' or 'datacenter'")
        self.deployment = deployment
        self.users: dict[str, SimUser] = {}
        self.statuses: dict[str, SimStatus] = {}
        self.workflow: list[SimTransition] = []
        self.projects: dict[str, SimProject] = {}
        self.custom_fields: dict[str, dict[str, Any]] = {}
        self.zone: tzinfo = timezone.utc  # the server's time zone: date-time fields show its offset

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
            self.lookup_status(to).id,
            [self.lookup_status(s).id for s in sources] if sources is not None else None,
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
        permissions: dict[str, set[str]] | None = None,
    ) -> SimProject:
        """``permissions`` grants a project permission to groups only (see ``has_permission``)."""
        project = SimProject(
            project_id,
            key,
            name,
            dict(issue_types),
            self.lookup_status(initial_status).id,
            dict(components or {}),
            permissions={k: set(v) for k, v in (permissions or {}).items()},
        )
        self.projects[key] = project
        return project

    def add_custom_field(self, field_id: str, name: str, kind: str = "textfield") -> None:
        """``kind``: textfield, textarea (multi-line text), multiuserpicker, datetime (a date and
        time) or datepicker (a day)."""
        schema: dict[str, Any] = {
            "type": {"datetime": "datetime", "datepicker": "date"}.get(kind, "string"),
            "custom": f"com.atlassian.jira.plugin.system.customfieldtypes:{kind}",
            "customId": int(field_id.split("_")[-1]),
        }
        self.custom_fields[field_id] = {"name": name, "schema": schema}

    # --- lookups ------------------------------------------------------------------------------------
    def lookup_status(self, ref: str) -> SimStatus:
        """A status by id or (case-insensitive) name; KeyError when there is none."""
        if ref in self.statuses:
            return self.statuses[ref]
        for status in self.statuses.values():
            if status.name.lower() == str(ref).lower():
                return status
        raise KeyError(f"no status {ref!r}")

    def user(self, ident: str) -> SimUser | None:
        for user in self.users.values():
            if ident in (user.name, user.account_id, user.key, user.email):
                return user
        return None

    def user_by_name(self, name: str) -> SimUser | None:
        """Data Center user names are case-insensitive."""
        return next((u for u in self.users.values() if name and u.name.lower() == name.lower()), None)

    def user_by_key(self, key: str) -> SimUser | None:
        return next((u for u in self.users.values() if key and u.key == key), None)

    def search_users(self, text: str) -> list[SimUser]:
        """Users whose display name or e-mail (and, on Data Center, user name) starts with
        ``text``, case-insensitively, in user-name order."""
        wanted = text.lower()
        hits = []
        for user in sorted(self.users.values(), key=lambda u: u.name):
            values = [user.display, user.email] + ([] if self.cloud else [user.name])
            if any(v.lower().startswith(wanted) for v in values if v):
                hits.append(user)
        return hits

    def user_from_ref(self, value: Any) -> SimUser | None:
        """A user reference in a request body: {accountId} on Cloud, {name} or {key} on DC."""
        if not isinstance(value, dict):
            return None
        ident = value.get("accountId") if self.cloud else (value.get("name") or value.get("key"))
        user = self.user(str(ident or ""))
        if user is None or (self.cloud and user.account_id != ident):
            return None
        return user

    def has_permission(self, user: SimUser | None, project: SimProject, permission: str) -> bool:
        """Whether ``user`` holds a project permission: granted to every user unless the project
        lists groups for it, then only to their members."""
        if user is None:
            return False
        granted = project.permissions.get(permission)
        return granted is None or bool(user.groups & granted)

    def project(self, ref: str) -> SimProject | None:
        for project in self.projects.values():
            if ref in (project.key, project.id):
                return project
        return None

    # --- JSON shapes (see views) --------------------------------------------------------------------
    def user_json(self, user: SimUser | None) -> dict[str, Any] | None:
        return views.user_json(self, user)

    def status_json(self, status: SimStatus) -> dict[str, Any]:
        return views.status_json(self, status)
