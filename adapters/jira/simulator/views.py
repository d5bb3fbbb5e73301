"""The JSON shapes the simulated Jira answers with, built from its state (Cloud shows accountIds,
Data Center names and keys). Read-only: nothing here changes the state."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from .entities import CATEGORIES, SimIssue, SimStatus, SimTransition, SimUser, now_text, stamp_of
from .properties import entry_json, select

if TYPE_CHECKING:
    from .catalog import JiraCatalog

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


def user_json(sim: JiraCatalog, user: SimUser | None) -> dict[str, Any] | None:
    if user is None:
        return None
    if sim.cloud:
        return {
            "self": f"{sim.base_url}/rest/api/2/user?accountId={user.account_id}",
            "accountId": user.account_id,
            "displayName": user.display,
            "emailAddress": user.email,
            "active": True,
            "timeZone": "Etc/UTC",
            "accountType": user.account_type,
        }
    return {
        "self": f"{sim.base_url}/rest/api/2/user?username={user.name}",
        "name": user.name,
        "key": user.key,
        "emailAddress": user.email,
        "displayName": user.display,
        "active": True,
        "timeZone": "Europe/Berlin",
    }


def status_json(sim: JiraCatalog, status: SimStatus) -> dict[str, Any]:
    return {
        "self": f"{sim.base_url}/rest/api/2/status/{status.id}",
        "description": "",
        "name": status.name,
        "id": status.id,
        "statusCategory": dict(CATEGORIES[status.category]),
    }


def history_json(sim: JiraCatalog, history: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": history["id"],
        "author": user_json(sim, sim.users[history["author"]]),
        "created": history["created"],
        "items": history["items"],
    }


def comment_json(sim: JiraCatalog, comment: dict[str, Any], with_properties: bool = False) -> dict[str, Any]:
    """``updateAuthor``/``updated`` differ from ``author``/``created`` once someone edited it;
    ``with_properties`` (``expand=properties``) lists its properties as [{key, value}]."""
    out = {
        "self": f"{sim.base_url}/rest/api/2/issue/{comment['issue']}/comment/{comment['id']}",
        "id": comment["id"],
        "author": user_json(sim, sim.users[comment["author"]]),
        "body": comment["body"],
        "updateAuthor": user_json(sim, sim.users[comment["update_author"]]),
        "created": comment["created"],
        "updated": comment["updated"],
    }
    if sim.cloud:
        out["jsdPublic"] = not comment.get("internal", False)
    if comment.get("visibility"):
        out["visibility"] = comment["visibility"]
    if with_properties:
        out["properties"] = [entry_json(k, v) for k, v in comment["properties"].items()]
    return out


def issue_json(
    sim: JiraCatalog,
    issue: SimIssue,
    fields: list[str] | None = None,
    expand: str = "",
    changelog_cap: int | None = None,
    properties: list[str] | None = None,
) -> dict[str, Any]:
    """``properties`` (the ``properties=`` parameter) adds the selected entity properties as
    ``{"properties": {key: value}}``; without it the issue shows none."""
    project = sim.projects[issue.project]
    everything: dict[str, Any] = {
        **issue.fields,
        "status": status_json(sim, sim.statuses[issue.status]),
        "issuetype": {
            "id": issue.issuetype,
            "name": project.issue_types[issue.issuetype],
            "subtask": False,
        },
        "project": {"id": project.id, "key": project.key, "name": project.name},
        "reporter": user_json(sim, sim.users[issue.reporter]),
        "creator": user_json(sim, sim.users[issue.creator or issue.reporter]),
        "created": issue.created,
        "updated": issue.updated,
        "comment": {
            "comments": [comment_json(sim, c) for c in issue.comments],
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
        "self": f"{sim.base_url}/rest/api/2/issue/{issue.id}",
        "key": issue.key,
        "fields": shown,
    }
    if "changelog" in expand:
        histories = [history_json(sim, h) for h in reversed(issue.histories)]  # newest first
        cap = changelog_cap if changelog_cap is not None else len(histories)
        out["changelog"] = {
            "startAt": 0,
            "maxResults": cap,
            "total": len(histories),
            "histories": histories[:cap],
        }
    if properties is not None:
        out["properties"] = select(issue.properties, properties)
    return out


def transition_json(sim: JiraCatalog, t: SimTransition, with_fields: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": t.id,
        "name": t.name,
        "to": status_json(sim, sim.statuses[t.to]),
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


def _approval_date(value: datetime | None) -> dict[str, Any] | None:
    if value is None:
        return None
    stamp = stamp_of(value)
    return {"epochMillis": int(value.timestamp() * 1000), "friendly": stamp, "iso8601": stamp, "jira": stamp}


def approval_json(sim: JiraCatalog, issue: SimIssue, approval: dict[str, Any]) -> dict[str, Any]:
    out = {
        "id": approval["id"],
        "name": approval["name"],
        "finalDecision": approval["finalDecision"],
        "canAnswerApproval": approval["finalDecision"] == "pending",
        "approvers": [
            {"approver": user_json(sim, sim.users[e["user"]]), "approverDecision": e["approverDecision"]}
            for e in approval["approvers"]
        ],
        "createdDate": _approval_date(approval["created"]),
        "_links": {
            "self": f"{sim.base_url}/rest/servicedeskapi/request/{issue.id}/approval/{approval['id']}"
        },
    }
    if approval["completed"]:
        out["completedDate"] = _approval_date(approval["completed"])
    return out


SERVERS = {  # deployment -> version, deployment type, build number, title
    "cloud": ("1001.0.0-SNAPSHOT", "Cloud", 100300, "Jira (simulated)"),
    "datacenter": ("9.12.15", "Server", 9120015, "Jira DC (simulated)"),
}


def server_info(sim: JiraCatalog) -> dict[str, Any]:
    version, deployment_type, build, title = SERVERS[sim.deployment]
    return {
        "baseUrl": sim.base_url,
        "version": version,
        "versionNumbers": [int(part) for part in version.split("-")[0].split(".")],
        "deploymentType": deployment_type,
        "buildNumber": build,
        "serverTime": now_text(),
        "serverTitle": title,
    }


def field_list(sim: JiraCatalog) -> list[dict[str, Any]]:
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
    for fid, spec in sim.custom_fields.items():
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
