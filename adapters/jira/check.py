"""``check-config`` for Jira (Airflow-style: one "check once" pass, no loop). Offline: templates,
mappings, environment variables. Live: credentials, deployment, project, issue type, fields,
statuses and transitions named by each route, so a typo shows up before the first approval."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.core.errors import AdapterError, ConfigError
from connector.core.models import CheckResult
from connector.core.templates import validate_template

from . import jql
from .parse import StatusInfo, status_matches

if TYPE_CHECKING:
    from .adapter import JiraAdapter
    from .settings import JiraRouteSettings, TransitionSpec

_FROM_STATUSES = {
    "on_success": "approved",
    "on_failure": "approved",
    "on_in_doubt": "approved",
    "on_rejection": "rejected",
    "on_expiry": "pending",
    "on_unauthorized": "approved",
    "on_shadow": "approved",
    "on_window_closed": "approved",
    "on_reopen": "approved",
}


def run(adapter: JiraAdapter, live: bool) -> list[CheckResult]:
    results = offline(adapter)
    if live:
        results += online(adapter)
    return results


def _row(adapter: JiraAdapter, item: str, ok: bool, detail: str = "", warning: bool = False) -> CheckResult:
    return CheckResult(system=adapter.name, item=item, ok=ok, detail=detail, warning=warning)


def offline(adapter: JiraAdapter) -> list[CheckResult]:
    rows: list[CheckResult] = []
    env = adapter.context.env
    auth = adapter.settings.auth
    for label, var in (
        ("auth.email_env", auth.email_env),
        ("auth.token_env", auth.token_env),
        ("auth.pat_env", auth.pat_env),
    ):
        if var:
            ok = bool(env.get(var))
            rows.append(_row(adapter, label, ok, f"{var} is {'set' if ok else 'not set'}"))
    secret = adapter.settings.webhook.secret_env
    if secret:
        ok = bool(env.get(secret))
        rows.append(_row(adapter, "webhook.secret_env", ok, f"{secret} is {'set' if ok else 'not set'}"))
    else:
        rows.append(
            _row(adapter, "webhook", True, "no secret configured: decisions by polling only", warning=True)
        )
    for name, route in adapter.routes.items():
        where = f"route {name}"
        if route.ticket is None:
            rows.append(
                _row(
                    adapter,
                    f"{where}: ticket",
                    True,
                    "no ticket settings: this route cannot open issues (fine for auto and deny routes)",
                    warning=True,
                )
            )
            continue
        templates = {"ticket.summary": route.ticket.summary}
        if route.ticket.description is not None:
            templates["ticket.description"] = route.ticket.description
        templates.update(
            {f"ticket.fields.{k}": v for k, v in route.ticket.fields.items() if isinstance(v, str)}
        )
        for key, source in templates.items():
            try:
                validate_template(source, f"{where}: {key}")
                rows.append(_row(adapter, f"{where}: {key}", True, "template parses"))
            except ConfigError as exc:
                rows.append(_row(adapter, f"{where}: {key}", False, str(exc)))
        rows += _approvals_rows(adapter, name, route)
        outcome = route.outcome
        if outcome.on_success is None:
            rows.append(
                _row(
                    adapter,
                    f"{where}: outcome.on_success",
                    True,
                    "no transition: approved issues stay in their status",
                    warning=True,
                )
            )
    return rows


def online(adapter: JiraAdapter) -> list[CheckResult]:
    client = adapter.client
    rows: list[CheckResult] = []
    try:
        me = client.myself()
    except (AdapterError, ConfigError) as exc:
        return [_row(adapter, "credentials", False, str(exc))]
    who = me.get("accountId") or me.get("name") or "?"
    rows.append(_row(adapter, "credentials", True, f"authenticated as {me.get('displayName') or who}"))
    deployment = str(client.server_info.get("deploymentType") or "")
    configured = adapter.settings.deployment
    is_cloud = deployment.lower() == "cloud"
    if configured != "auto" and (configured == "cloud") != is_cloud:
        rows.append(_row(adapter, "deployment", False, f"configured {configured}, server says {deployment}"))
    else:
        rows.append(_row(adapter, "deployment", True, deployment or "unknown"))
    try:
        field_list = client.fields()
    except AdapterError as exc:
        return rows + [_row(adapter, "fields", False, str(exc))]
    field_ids = {str(f.get("id")) for f in field_list}
    field_names = {str(f.get("name", "")).lower() for f in field_list}
    if adapter.settings.request_id_field:
        rows.append(
            _field_row(adapter, "request_id_field", adapter.settings.request_id_field, field_ids, field_names)
        )
    for name, route in adapter.routes.items():
        rows += _route_rows(adapter, name, route, field_ids, field_names)
    return rows


def _field_row(adapter: JiraAdapter, item: str, key: str, ids: set[str], names: set[str]) -> CheckResult:
    ok = key in ids or key.lower() in names
    return _row(adapter, item, ok, f"field {key!r} {'exists' if ok else 'not found in GET /field'}")


def _route_rows(
    adapter: JiraAdapter, name: str, route: JiraRouteSettings, field_ids: set[str], field_names: set[str]
) -> list[CheckResult]:
    client = adapter.client
    where = f"route {name}"
    t = route.ticket
    if t is None:
        return []
    rows: list[CheckResult] = []
    try:
        project = client.project(t.project)
    except AdapterError as exc:
        return [_row(adapter, f"{where}: project {t.project}", False, str(exc))]
    rows.append(_row(adapter, f"{where}: project {t.project}", True, str(project.get("name") or "")))
    types = project.get("issueTypes") or []
    found = any(
        t.issue_type in (str(it.get("id")),) or str(it.get("name", "")).lower() == t.issue_type.lower()
        for it in types
    )
    known = ", ".join(str(it.get("name")) for it in types) or "none"
    rows.append(
        _row(
            adapter,
            f"{where}: issue type {t.issue_type}",
            found,
            "exists" if found else f"not in project (has: {known})",
        )
    )
    for key in t.fields:
        rows.append(_field_row(adapter, f"{where}: ticket.fields.{key}", key, field_ids, field_names))
    if t.window is not None:
        for part, key in (("start", t.window.start), ("end", t.window.end)):
            rows.append(_field_row(adapter, f"{where}: ticket.window.{part}", key, field_ids, field_names))
    if route.decision.arguments_field:
        key = route.decision.arguments_field
        rows.append(_field_row(adapter, f"{where}: decision.arguments_field", key, field_ids, field_names))
    statuses: dict[str, StatusInfo] = {}
    try:
        for entry in client.project_statuses(t.project):
            if (
                types
                and str(entry.get("name", "")).lower() != t.issue_type.lower()
                and str(entry.get("id")) != t.issue_type
            ):
                continue
            for s in entry.get("statuses") or []:
                info = StatusInfo(
                    str(s.get("id")),
                    str(s.get("name")),
                    str((s.get("statusCategory") or {}).get("key") or ""),
                )
                statuses[info.id] = info
    except AdapterError as exc:
        rows.append(_row(adapter, f"{where}: statuses", False, str(exc)))
        return rows
    for group in ("pending", "approved", "rejected"):
        for entry in getattr(route.decision, group):
            ok = any(status_matches([entry], s) for s in statuses.values())
            rows.append(
                _row(
                    adapter,
                    f"{where}: decision.{group} status {entry!r}",
                    ok,
                    "exists" if ok else "no such status in the project's workflow",
                )
            )
    for attr, from_group in _FROM_STATUSES.items():
        spec = getattr(route.outcome, attr)
        if spec is not None:
            rows.append(
                _transition_row(
                    adapter, where, attr, spec, getattr(route.decision, from_group), t.project, statuses
                )
            )
    return rows


def _transition_row(
    adapter: JiraAdapter,
    where: str,
    attr: str,
    spec: TransitionSpec,
    from_entries: list[str],
    project: str,
    statuses: dict[str, StatusInfo],
) -> CheckResult:
    """Transitions are only listed per issue: read them on one issue in the 'from' status."""
    item = f"{where}: outcome.{attr} transition {spec.transition!r}"
    query = f"project = {jql.quote(project)} AND status in {jql.status_list(from_entries)}"
    try:
        sample: dict[str, Any] | None = next(iter(adapter.client.search(query, ["status"])), None)
        if sample is None:
            target_ok = any(s.name.lower() == spec.transition.lower() for s in statuses.values())
            detail = "no issue in " + ", ".join(from_entries) + " to read transitions from; "
            detail += "a status of that name exists" if target_ok else "cannot verify it yet"
            return _row(adapter, item, True, detail, warning=True)
        transitions = adapter.client.transitions(str(sample["key"]), with_fields=True)
    except AdapterError as exc:
        return _row(adapter, item, False, str(exc))
    wanted = spec.transition.strip().lower()
    for transition in transitions:
        names = {
            str(transition.get("id")),
            str(transition.get("name", "")).lower(),
            str((transition.get("to") or {}).get("name", "")).lower(),
        }
        if wanted in names or spec.transition.strip() in names:
            required = [
                k
                for k, f in (transition.get("fields") or {}).items()
                if f.get("required") and k not in spec.fields
            ]
            if required:
                return _row(
                    adapter,
                    item,
                    False,
                    f"transition {transition.get('name')!r} requires fields {', '.join(required)}: "
                    "set them under the transition's fields",
                )
            return _row(adapter, item, True, f"available from {sample['key']} ({transition.get('name')})")
    offered = ", ".join(str(t.get("name")) for t in transitions) or "none"
    return _row(adapter, item, False, f"not offered on {sample['key']} (offered: {offered})")


def _approvals_rows(adapter: JiraAdapter, name: str, route: JiraRouteSettings) -> list[CheckResult]:
    """Approve with edits and votes, offline: the arguments field is the connector's own."""
    where, d, rows = f"route {name}", route.decision, []
    if d.arguments_field:
        mapped = route.ticket is not None and d.arguments_field in route.ticket.fields
        detail = (
            "is also mapped in ticket.fields: the connector alone writes the proposal there"
            if mapped
            else "the proposal is written here as JSON; an approver edits it, then approves"
        )
        rows.append(_row(adapter, f"{where}: decision.arguments_field", not mapped, detail))
    if name in adapter.context.vote_routes:
        how = "JSM approvers" if d.mode == "jsm" else f"comments {d.vote_approve!r} / {d.vote_reject!r}"
        rows.append(_row(adapter, f"{where}: votes", True, f"votes are {how} and the status move"))
    return rows
