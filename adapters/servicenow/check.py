"""``check-config``: offline, the settings and secrets; with ``live``, the instance itself —
credentials, every table, every mapped column (sys_dictionary) and every fixed choice value
(sys_choice). ServiceNow silently drops unknown columns, so this is where typos surface."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from connector.core.errors import AdapterError, ConfigError, NotFoundError, PermissionDenied
from connector.core.models import CheckResult

from .decide import AUDIT_ACL
from .parse import value

if TYPE_CHECKING:
    from .adapter import ServiceNowAdapter


def _secret_names(adapter: ServiceNowAdapter) -> list[tuple[str, str | None]]:
    auth = adapter.settings.auth
    where = f"systems.{adapter.name}.auth"
    names: list[tuple[str, str | None]] = []
    if auth.type == "basic":
        names += [(f"{where}.user_env", auth.user_env), (f"{where}.password_env", auth.password_env)]
    else:
        names += [
            (f"{where}.client_id_env", auth.client_id_env),
            (f"{where}.client_secret_env", auth.client_secret_env),
        ]
        if auth.grant == "password":
            names += [(f"{where}.user_env", auth.user_env), (f"{where}.password_env", auth.password_env)]
    if adapter.settings.webhook is not None:
        names.append((f"systems.{adapter.name}.webhook.secret_env", adapter.settings.webhook.secret_env))
    return names


def _static(template: str) -> bool:
    return "{{" not in template and "{%" not in template


def run_checks(adapter: ServiceNowAdapter, live: bool) -> list[CheckResult]:
    system = adapter.name
    results: list[CheckResult] = []
    secrets_ok = True
    for where, var in _secret_names(adapter):
        try:
            adapter.context.secret(var, where)
            results.append(CheckResult(system=system, item=f"secret {var}", ok=True))
        except ConfigError as exc:
            secrets_ok = False
            results.append(CheckResult(system=system, item=f"secret {var}", ok=False, detail=str(exc)))
    if not live:
        return results
    if not secrets_ok:
        results.append(
            CheckResult(
                system=system, item="live checks", ok=False, detail="skipped: credentials are missing"
            )
        )
        return results
    try:
        results += _live(adapter)
    except AdapterError as exc:
        results.append(CheckResult(system=system, item="live checks", ok=False, detail=str(exc)))
    return results


def _live(adapter: ServiceNowAdapter) -> list[CheckResult]:
    system, client = adapter.name, adapter.client
    out: list[CheckResult] = []
    account = adapter.settings.service_account
    rows = client.list(
        "sys_user", f"user_name={account.user_name}", ["sys_id", "user_name"], limit=2, max_pages=1
    )
    me = [r for r in rows if value(r, "user_name") == account.user_name]
    if not me:
        out.append(
            CheckResult(
                system=system,
                item="credentials",
                ok=True,
                warning=True,
                detail=f"signed in, but sys_user {account.user_name!r} is not readable",
            )
        )
    elif account.sys_id and value(me[0], "sys_id") != account.sys_id:
        out.append(
            CheckResult(
                system=system,
                item="service account",
                ok=False,
                detail=f"{account.user_name} has sys_id {value(me[0], 'sys_id')}, "
                f"config says {account.sys_id}",
            )
        )
    else:
        out.append(
            CheckResult(
                system=system,
                item="credentials",
                ok=True,
                detail=f"signed in; service account {account.user_name} found",
            )
        )

    # What each table must have: column -> fixed values that must be valid choices.
    columns: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    templated: dict[str, set[str]] = defaultdict(set)
    uses_audit = uses_approvers = False
    for route in adapter.routes.values():
        t, d, o = route.ticket, route.decision, route.outcome
        cols = columns[t.table]
        cols[t.correlation_field]
        cols[t.seal_field]
        for name in ("short_description", "description", o.journal_field):
            cols[name]
        if t.window is not None:
            cols[t.window.start]
            cols[t.window.end]
        for name, template in t.fields.items():
            if _static(template):
                cols[name].add(template)
            else:
                cols[name]
                templated[t.table].add(name)
        if d.arguments_field:  # approve with edits: the column, and sys_audit for who edited it
            cols[d.arguments_field]
            uses_audit = True
        if d.source == "approvers":
            uses_approvers = True
        else:
            uses_audit = True
            if d.uses_approval and d.approval_field:
                cols[d.approval_field] |= {*d.approved_values, *d.rejected_values, *d.pending_values}
            if d.uses_state:
                cols[d.state_field] |= {*d.approved_states, *d.rejected_states, *d.pending_states}
        for transition in o.transitions.values():
            cols[o.state_field] |= set(transition.path)
            for name, template in transition.fields.items():
                cols[name] |= {template} if _static(template) else set()

    for table, wanted in sorted(columns.items()):
        out += _check_table(adapter, table, wanted, templated[table])
    out += _timing_rows(adapter)
    if uses_audit:
        why = "decisions: who changed approval/state (or the arguments column)"
        out.append(_readable(adapter, "sys_audit", why, AUDIT_ACL))
    if uses_approvers:
        out.append(_readable(adapter, "sysapproval_approver", "decisions: approver rows"))
    out.append(_readable(adapter, "sys_journal_field", "outcome notes: duplicate check on retry"))
    if adapter.settings.webhook is not None:
        out.append(_batch_api(adapter))
    return out


def _batch_api(adapter: ServiceNowAdapter) -> CheckResult:
    """A webhook hint's re-read is one Batch API call; refused, it still works, one call more."""
    client, item = adapter.client, "Batch API"
    probe = {"me": (client.table_path("sys_user"), client.read_params(["sys_id"], "sys_idISEMPTY", 1))}
    if client.batch_get(probe) is None:
        detail = (
            f"webhook re-reads: refused ({client.batch_refused}); each hint then costs one more call "
            "(allow /api/now/v1/batch for the account, e.g. in a REST API access policy)"
        )
        return CheckResult(system=adapter.name, item=item, ok=True, warning=True, detail=detail)
    return CheckResult(system=adapter.name, item=item, ok=True, detail="webhook re-reads: one call each")


def _readable(adapter: ServiceNowAdapter, table: str, why: str, needs: str = "") -> CheckResult:
    """Whether the account can read ``table``; ``needs`` says what to grant when it cannot. An
    empty answer from a table that is never empty on an instance (sys_audit) is a warning: read
    ACLs can filter every row out without refusing the query."""
    item = f"read {table}"
    try:
        rows = adapter.client.list(table, "ORDERBYDESCsys_created_on", ["sys_id"], limit=1, max_pages=1)
    except (PermissionDenied, NotFoundError) as exc:
        detail = f"{why}: {exc}" + (f"; every poll would fail to say who decided: {needs}" if needs else "")
        return CheckResult(system=adapter.name, item=item, ok=False, detail=detail)
    if not rows and needs:
        detail = (
            f"{why}: no row is readable (an ACL may hide them all); if decisions stay unexplained, {needs}"
        )
        return CheckResult(system=adapter.name, item=item, ok=True, warning=True, detail=detail)
    return CheckResult(system=adapter.name, item=item, ok=True, detail=why)


def _check_table(
    adapter: ServiceNowAdapter, table: str, wanted: dict[str, set[str]], templated: set[str]
) -> list[CheckResult]:
    system, client = adapter.name, adapter.client
    out: list[CheckResult] = []
    tables = client.list(
        "sys_db_object", f"name={table}", ["sys_id", "name", "super_class"], limit=2, max_pages=1
    )
    if not [r for r in tables if value(r, "name") == table]:
        return [
            CheckResult(
                system=system,
                item=f"table {table}",
                ok=False,
                detail="no such table (or the account cannot read sys_db_object)",
            )
        ]
    out.append(CheckResult(system=system, item=f"table {table}", ok=True))
    hierarchy = _hierarchy(adapter, table)
    names = ",".join(sorted(wanted))
    rows = client.list(
        "sys_dictionary",
        f"nameIN{','.join(hierarchy)}^elementIN{names}",
        ["name", "element", "internal_type"],
    )
    present = {value(r, "element") for r in rows if value(r, "name") in hierarchy}
    for column in sorted(wanted):
        if column in present:
            out.append(CheckResult(system=system, item=f"field {table}.{column}", ok=True))
        else:
            out.append(
                CheckResult(
                    system=system,
                    item=f"field {table}.{column}",
                    ok=False,
                    detail="not in sys_dictionary; ServiceNow would silently ignore it",
                )
            )
    with_values = {c: v for c, v in wanted.items() if (v or c in templated) and c in present}
    if with_values:
        choices = client.list(
            "sys_choice",
            f"nameIN{','.join(hierarchy)}^elementIN{','.join(sorted(with_values))}^inactive=false",
            ["name", "element", "value"],
        )
        valid: dict[str, set[str]] = defaultdict(set)
        for row in choices:
            if value(row, "name") in hierarchy:
                valid[value(row, "element")].add(value(row, "value"))
        for column, values in sorted(with_values.items()):
            if not valid.get(column):
                continue  # not a choice column: any text is fine
            if column in templated:
                out.append(
                    CheckResult(
                        system=system,
                        item=f"choices {table}.{column}",
                        ok=True,
                        warning=True,
                        detail=f"rendered from the call's arguments; must be one of {sorted(valid[column])}",
                    )
                )
                if not values:
                    continue
            missing = sorted(values - valid[column])
            out.append(
                CheckResult(
                    system=system,
                    item=f"choices {table}.{column}",
                    ok=not missing,
                    detail=f"unknown value(s) {missing}; valid: {sorted(valid[column])}" if missing else "",
                )
            )
    return out


def _hierarchy(adapter: ServiceNowAdapter, table: str) -> list[str]:
    """The table and its parents (fields like approval and work_notes live on task)."""
    chain, current = [table], table
    for _ in range(6):
        rows = adapter.client.list(
            "sys_db_object", f"name={current}", ["name", "super_class"], limit=1, max_pages=1
        )
        parent_id = value(rows[0], "super_class") if rows else ""
        if not parent_id:
            break
        parents = adapter.client.list("sys_db_object", f"sys_id={parent_id}", ["name"], limit=1, max_pages=1)
        parent = value(parents[0], "name") if parents else ""
        if not parent or parent in chain:
            break
        chain.append(parent)
        current = parent
    return chain


def _timing_rows(adapter: ServiceNowAdapter) -> list[CheckResult]:
    """Standard change templates (through the Change Management API) and escalation groups."""
    system, client = adapter.name, adapter.client
    out: list[CheckResult] = []
    for name, route in adapter.routes.items():
        template = route.ticket.standard_template
        if template:
            item = f"route {name}: standard change template {template}"
            try:
                found = client.standard_template(template)
                out.append(CheckResult(system=system, item=item, ok=True, detail=value(found, "name")))
            except AdapterError as exc:
                detail = f"{exc} (is the Change Management API active, and the template shared?)"
                out.append(CheckResult(system=system, item=item, ok=False, detail=detail))
        escalation = route.escalation
        for group in (
            [g for g in (escalation.assignment_group, escalation.approval_group) if g] if escalation else []
        ):
            item = f"route {name}: escalation group {group}"
            rows = client.list(
                "sys_user_group", f"name={group}^ORsys_id={group}", ["sys_id", "name"], limit=2
            )
            ok = len(rows) == 1
            out.append(
                CheckResult(system=system, item=item, ok=ok, detail="exists" if ok else f"{len(rows)} match")
            )
    return out
