"""What changes in the simulated Jira, and every transition that changes it: issues, workflow
moves, comments, JSM approvals. Routes and the human-side helpers (``transition``, ``comment``,
``set_status``, ``answer_approval``) both change state only through these methods.

Helpers take the state lock and send queued webhooks after releasing it (the receiver may call
back into the simulator); routes run under the lock already (``SimulatedAPI.handle``)."""

from __future__ import annotations

from typing import Any

from connector.core import clock

from . import views
from .edits import JiraEdits
from .entities import RESOLUTIONS, Refusal, SimIssue, SimProject, SimTransition, SimUser, now_after, now_text
from .properties import check_key, check_value


class JiraState(JiraEdits):
    """Issues (with comments and changelog), approvals, and what the client sent (``bodies``)."""

    def __init__(
        self, base_url: str, deployment: str, *, search_lag: int = 0, changelog_cap: int = 40
    ) -> None:
        super().__init__(base_url, deployment)
        self.search_lag = search_lag
        self.changelog_cap = changelog_cap
        self.issues: dict[str, SimIssue] = {}
        self.approvals: dict[str, list[dict[str, Any]]] = {}
        self.approval_transitions: dict[str, str] = {}  # finalDecision -> transition name
        self.drop_create_answers = 0  # create the issue, then lose the answer (timeout)
        self.bodies: list[tuple[str, str, Any]] = []  # (method, path, JSON body) the client sent
        self.caller: SimUser | None = None  # who the request being handled authenticated as
        self._ids = {"issue": 10200, "history": 40000, "comment": 50000, "approval": 7}

    # --- issues -------------------------------------------------------------------------------------
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

    def issue_json(
        self,
        issue: SimIssue,
        fields: list[str] | None = None,
        expand: str = "",
        changelog_cap: int | None = None,
        properties: list[str] | None = None,
    ) -> dict[str, Any]:
        """``expand=transitions`` lists what the caller may do from the current status, as
        GET …/transitions would (the same ``transitions`` array on the issue)."""
        out = views.issue_json(self, issue, fields, expand, changelog_cap, properties)
        if "transitions" in [e.strip() for e in expand.split(",")]:
            options = self.available(issue, self.caller)
            out["transitions"] = [views.transition_json(self, t, False) for t in options]
        return out

    def new_issue(
        self,
        project: SimProject,
        issuetype: str,
        fields: dict[str, Any],
        reporter: SimUser | None,
        creator: SimUser | None = None,
    ) -> SimIssue:
        """``creator`` is who created it (the caller); ``reporter`` defaults to them."""
        self._ids["issue"] += 1
        project.counter += 1
        stamp = now_text()
        reporter = reporter or creator or next(iter(self.users.values()))
        issue = SimIssue(
            id=str(self._ids["issue"]),
            key=f"{project.key}-{project.counter}",
            project=project.key,
            issuetype=issuetype,
            status=project.initial_status,
            fields=fields,
            reporter=reporter.name,
            creator=(creator or reporter).name,
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
            issue = self.new_issue(
                proj,
                type_id,
                {"summary": summary, "labels": list(labels or []), **(fields or {})},
                self.users[reporter],
            )
            issue.hidden_searches = 0
            if status is not None:
                issue.status = self.lookup_status(status).id
            return issue

    # --- transitions --------------------------------------------------------------------------------
    def available(self, issue: SimIssue, user: SimUser | None) -> list[SimTransition]:
        """The transitions the workflow offers ``user`` from the issue's current status."""
        out = []
        for t in self.workflow:
            if t.sources is not None and issue.status not in t.sources:
                continue
            if t.groups is not None and (user is None or not (user.groups & t.groups)):
                continue
            out.append(t)
        return out

    def check_transition(self, t: SimTransition, fields: dict[str, Any], has_comment: bool) -> None:
        """Refusal(400) when fields are off the transition screen, missing or invalid."""
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
        if errors:
            raise Refusal(400, errors=errors)

    def apply_transition(
        self,
        issue: SimIssue,
        t: SimTransition,
        actor: SimUser,
        fields: dict[str, Any],
        comment: str | None,
        comment_properties: dict[str, Any] | None = None,
    ) -> None:
        """Move the issue, record who did it, add the transition's comment (with its properties),
        queue the signed webhook (sent after the lock)."""
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
            self.add_comment(issue, actor, comment, properties=comment_properties)
        self.queue_event(
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
            try:
                self.check_transition(transition, fields or {}, comment is not None)
            except Refusal as exc:
                raise ValueError(f"{key}: {exc.body}") from None
            self.apply_transition(issue, transition, user, fields or {}, comment)
        self.flush_webhooks()

    def set_status(self, key: str, status: str, actor: str = "alice") -> None:
        """Force a status outside the workflow (an admin edit, a bulk move) with a changelog entry."""
        with self.lock:
            issue = self.issue(key)
            move = SimTransition("0", "admin move", self.lookup_status(status).id, None)
            self.apply_transition(issue, move, self.users[actor], {}, None)
        self.flush_webhooks()

    # --- comments -----------------------------------------------------------------------------------
    def add_comment(
        self,
        issue: SimIssue,
        author: SimUser,
        body: str,
        internal: bool = False,
        visibility: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A comment is internal (JSM) when asked or when its ``sd.public.comment`` property says
        so; an internal one carries that property, as JSM stores it."""
        props = dict(properties or {})
        flag = props.get("sd.public.comment")
        internal = internal or (isinstance(flag, dict) and bool(flag.get("internal")))
        if internal:
            props.setdefault("sd.public.comment", {"internal": True})
        self._ids["comment"] += 1
        stamp = now_text()
        comment = {
            "id": str(self._ids["comment"]),
            "issue": issue.id,
            "author": author.name,
            "body": body,
            "created": stamp,
            "update_author": author.name,
            "updated": stamp,
            "internal": internal,
            "visibility": visibility,
            "properties": props,
        }
        issue.comments.append(comment)
        issue.updated = stamp
        return comment

    def find_comment(self, comment_id: str) -> tuple[SimIssue, dict[str, Any]] | None:
        for issue in self.issues.values():
            for comment in issue.comments:
                if comment["id"] == str(comment_id):
                    return issue, comment
        return None

    def comment(self, key: str, body: str, actor: str = "alice") -> None:
        """A human comments (e.g. a rejection reason)."""
        with self.lock:
            issue = self.issue(key)
            comment = self.add_comment(issue, self.users[actor], body)
            self.comment_events(issue, self.users[actor], comment, "comment_created", "issue_commented")
        self.flush_webhooks()

    def comment_events(
        self, issue: SimIssue, user: SimUser, comment: dict[str, Any], event: str, type_name: str
    ) -> None:
        """What Jira sends for a comment: its own event, and jira:issue_updated told apart by
        ``issue_event_type_name`` (each to the hooks subscribed to it)."""
        shown = {"comment": views.comment_json(self, comment)}
        self.queue_event(issue, user, event, None, shown)
        self.queue_event(issue, user, "jira:issue_updated", type_name, shown)

    def edit_comment(self, key: str, comment_id: str, body: str, actor: str) -> None:
        """``actor`` edits a comment in the UI (e.g. rewrites the connector's outcome note): the
        body changes, ``updateAuthor`` and ``updated`` show who and when (``updated`` always
        later than before). Their own comment needs Edit Own Comments, anyone else's Edit All
        Comments; ValueError when they lack it or the issue has no such comment."""
        with self.lock:
            issue = self.issue(key)
            user = self.users[actor]
            comment = next((c for c in issue.comments if c["id"] == str(comment_id)), None)
            if comment is None:
                raise ValueError(f"{key}: no comment {comment_id!r}")
            needed = "EDIT_OWN_COMMENTS" if comment["author"] == user.name else "EDIT_ALL_COMMENTS"
            if not self.has_permission(user, self.projects[issue.project], needed):
                raise ValueError(f"{key}: {actor} may not edit comment {comment_id} (no {needed})")
            stamp = now_after(comment["updated"])
            comment.update(body=body, update_author=user.name, updated=stamp)
            issue.updated = stamp
            self.comment_events(issue, user, comment, "comment_updated", "issue_comment_edited")
        self.flush_webhooks()

    # --- entity properties --------------------------------------------------------------------------
    def require_edit(self, issue: SimIssue, user: SimUser | None) -> None:
        """Refusal(403) unless ``user`` holds Edit issues in the issue's project."""
        if not self.has_permission(user, self.projects[issue.project], "EDIT_ISSUES"):
            raise Refusal(403, "You do not have permission to edit this issue.")

    def put_issue_property(self, issue: SimIssue, key: str, value: Any, user: SimUser | None) -> bool:
        """Set an issue property as ``user`` (Edit issues needed); True when it was new. Setting a
        property changes neither the issue's ``updated`` nor its changelog."""
        self.require_edit(issue, user)
        check_key(key)
        created = key not in issue.properties
        issue.properties[key] = value
        return created

    def set_issue_property(self, key: str, property_key: str, value: Any, actor: str) -> None:
        """``actor`` sets an issue property through the API, e.g. an editor (or an attacker with
        Edit issues) rewriting the request id the connector stored. ValueError when refused."""
        with self.lock:
            issue = self.issue(key)
            try:
                check_value(value)
                self.put_issue_property(issue, property_key, value, self.users[actor])
            except Refusal as exc:
                raise ValueError(f"{key}: {exc.body}") from None

    def delete_issue_property(self, key: str, property_key: str, actor: str) -> None:
        """``actor`` deletes an issue property (DELETE …/properties/{key}; Edit issues needed).
        ValueError when refused or absent."""
        with self.lock:
            issue = self.issue(key)
            try:
                self.remove_issue_property(issue, property_key, self.users[actor])
            except Refusal as exc:
                raise ValueError(f"{key}: {exc.body}") from None

    def remove_issue_property(self, issue: SimIssue, key: str, user: SimUser | None) -> None:
        self.require_edit(issue, user)
        if key not in issue.properties:
            raise Refusal(404, f"The property with key '{key}' does not exist.")
        del issue.properties[key]

    # --- JSM approvals ------------------------------------------------------------------------------
    def add_approval(
        self, key: str, approvers: list[str], name: str = "Waiting for approval", required: int = 1
    ) -> str:
        """Open a JSM approval on the issue for these users (by user name); it is approved once
        ``required`` of them approved (JSM's "number of approvers" condition), declined by one."""
        with self.lock:
            issue = self.issue(key)
            self._ids["approval"] += 1
            approval = {
                "id": str(self._ids["approval"]),
                "name": name,
                "finalDecision": "pending",
                "approvers": [{"user": a, "approverDecision": "pending"} for a in approvers],
                "created": clock.utcnow(),
                "completed": None,
                "required": required,
            }
            self.approvals.setdefault(issue.id, []).append(approval)
            return approval["id"]

    def answer_approval(self, key: str, actor: str, decision: str) -> None:
        """An approver answers (approve | decline); the workflow transition runs as that user."""
        with self.lock:
            try:
                self.answer(self.issue(key), None, self.users[actor], decision)
            except Refusal as exc:
                raise ValueError(f"{key}: {exc.body}") from None
        self.flush_webhooks()

    def answer(
        self, issue: SimIssue, approval_id: str | None, user: SimUser, decision: str
    ) -> dict[str, Any]:
        """Record ``user``'s decision on the approval (the latest one when no id is given) and run
        the transition mapped to the final decision; Refusal when it cannot be answered."""
        pending = [a for a in self.approvals.get(issue.id, []) if approval_id in (None, a["id"])]
        if not pending:
            raise Refusal(404, "Approval not found")
        approval = pending[-1]
        if approval["finalDecision"] != "pending":
            raise Refusal(409, "The approval has already been completed.")
        entry = next((e for e in approval["approvers"] if e["user"] == user.name), None)
        if entry is None:
            raise Refusal(403, "You are not an approver of this request.")
        if decision not in ("approve", "decline"):
            raise Refusal(400, "decision must be approve or decline")
        if entry["approverDecision"] != "pending":
            raise Refusal(409, "You have already answered this approval.")
        entry["approverDecision"] = "approved" if decision == "approve" else "declined"
        issue.updated = now_after(issue.updated)  # the answer shows on the issue (its Approvals field)
        approved = sum(e["approverDecision"] == "approved" for e in approval["approvers"])
        if entry["approverDecision"] == "approved" and approved < approval.get("required", 1):
            return approval  # more approvers needed: the approval stays pending
        approval["finalDecision"] = entry["approverDecision"]
        approval["completed"] = clock.utcnow()
        target = self.approval_transitions.get(approval["finalDecision"])
        if target:
            transition = next((t for t in self.available(issue, user) if t.name == target), None)
            if transition is not None:
                self.apply_transition(issue, transition, user, {}, None)
        return approval
