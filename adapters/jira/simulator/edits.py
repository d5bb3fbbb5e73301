"""Edits a person makes on a simulated issue besides moving it: a custom field (a planner setting
the planned start, an approver editing the arguments field; checked and shown as Jira would) and
the assignee (PUT …/assignee), each with its changelog entry and webhook."""

from __future__ import annotations

from typing import Any

from .entities import Refusal, SimIssue, SimUser, now_after, now_text
from .fields import custom_value
from .webhooks import JiraWebhooks


class JiraEdits(JiraWebhooks):
    issues: dict[str, SimIssue]
    _ids: dict[str, int]

    def edit_field(self, key: str, field: str, value: Any, actor: str = "alice") -> None:
        """``actor`` edits a custom field in the UI (a planner setting the planned start): the
        value is checked and shown as Jira would, with a changelog entry. ValueError if refused."""
        with self.lock:
            issue = self.issue(key)  # type: ignore[attr-defined]
            user = self.users[actor]
            if field not in self.custom_fields:
                raise ValueError(f"{key}: no field {field!r}")
            try:
                self.require_edit(issue, user)  # type: ignore[attr-defined]
            except Refusal as exc:
                raise ValueError(f"{key}: {exc.body}") from None
            shown, problem = custom_value(self, field, value)
            if problem:
                raise ValueError(f"{key}: {field}: {problem}")
            self.record_change(issue, user, field, issue.fields.get(field), shown)
            issue.fields[field] = shown
        self.flush_webhooks()

    def assign(self, issue: SimIssue, assignee: SimUser, actor: SimUser) -> None:
        """PUT …/assignee: the issue's assignee, with a changelog entry (no change: nothing)."""
        current = (issue.fields.get("assignee") or {}).get("displayName")
        if current == assignee.display:
            return
        self.record_change(issue, actor, "assignee", current, assignee.display)
        issue.fields["assignee"] = self.user_json(assignee)

    def record_change(self, issue: SimIssue, actor: SimUser, field: str, old: Any, new: Any) -> None:
        self._ids["history"] += 1
        stamp = now_after(issue.updated) if issue.updated else now_text()  # later than what came before
        item = {"field": field, "fieldtype": "custom" if field.startswith("customfield_") else "jira"}
        item.update(fieldId=field, fromString=None if old is None else str(old), toString=str(new))
        history = {"id": str(self._ids["history"]), "author": actor.name, "created": stamp, "items": [item]}
        issue.histories.append(history)
        issue.updated = stamp
        self.queue_event(issue, actor, "jira:issue_updated", "issue_updated", {"changelog": history})
