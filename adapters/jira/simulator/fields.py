"""Checks the ``fields`` of a create request the way Jira's create screen does: every problem is
collected into ``errors`` (one 400 for all), unknown or off-screen fields are refused, values are
normalised to what GET issue shows back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .entities import PRIORITIES, Refusal, SimProject, SimUser

if TYPE_CHECKING:
    from .catalog import JiraCatalog


@dataclass
class NewIssue:
    project: SimProject
    issuetype: str
    fields: dict[str, Any]
    reporter: SimUser | None


def parse_create_fields(sim: JiraCatalog, given: dict[str, Any], caller: SimUser | None) -> NewIssue:
    """Raises Refusal(400) naming every bad field; the reporter defaults to the caller."""
    fields = dict(given)
    errors: dict[str, str] = {}
    pref = fields.pop("project", None) or {}
    project = sim.project(str(pref.get("key") or pref.get("id") or ""))
    if project is None:
        raise Refusal(400, errors={"project": "Specify a valid project ID or key"})
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
    reporter = caller
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
            if not isinstance(value, list) or any(not isinstance(v, str) or " " in v or not v for v in value):
                errors[key] = "The label can't contain spaces."
            else:
                stored[key] = list(dict.fromkeys(value))
        elif key == "priority":
            pid = _priority(value)
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
            user = sim.user_from_ref(value)
            if user is None:
                errors[key] = f"Specify a valid value for {key}"
            elif key == "reporter":
                reporter = user
            else:
                stored[key] = sim.user_json(user)
        elif key in sim.custom_fields:
            shown, problem = custom_value(sim, key, value)
            if problem:
                errors[key] = problem
            else:
                stored[key] = shown
        else:
            errors[key] = f"Field '{key}' cannot be set. It is not on the appropriate screen, or unknown."
    if errors:
        raise Refusal(400, errors=errors)
    return NewIssue(project, issuetype or "", stored, reporter)


def custom_value(sim: JiraCatalog, key: str, value: Any) -> tuple[Any, str | None]:
    """A custom field's value as Jira stores and shows it: a date-time field accepts ISO 8601 with
    an offset and shows it in the server's time zone (``sim.zone``) with its offset, like
    2026-05-04T22:00:00.000+0200; a date field takes and shows yyyy-MM-dd; null clears."""
    kind = sim.custom_fields[key]["schema"]["type"]
    if value is None or kind not in ("datetime", "date"):
        return value, None
    if kind == "date":
        try:
            return datetime.strptime(str(value), "%Y-%m-%d").date().isoformat(), None
        except ValueError:
            return None, 'Invalid date format. Please enter the date in the format "yyyy-MM-dd".'
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"):
        try:
            moment = datetime.strptime(str(value), fmt)
        except ValueError:
            continue
        local = moment.astimezone(sim.zone)
        return local.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + local.strftime("%z"), None
    return None, "Invalid date format. Please enter the date in the format \"yyyy-MM-dd'T'HH:mm:ss.SSSZ\"."


def _priority(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    return next(
        (
            i
            for i, n in PRIORITIES.items()
            if value.get("id") == i or str(value.get("name", "")).lower() == n.lower()
        ),
        None,
    )
