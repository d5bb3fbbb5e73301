"""What changes in the simulated instance and every write that changes it: inserts and updates
(with audit, journal, business rules and notifications), people, OAuth clients, and the
human-side helpers (``approve``, ``reject``, ``set_state``, ``update``) that act as a user.

Helpers take the state lock and send notifications after releasing it; routes run under the lock
already (``SimulatedAPI.handle``) and their notifications go out in a background thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..webhook import sign
from .rules import after_update, before_update, glide_time, request_approval, roll_up
from .schema import TASK_TABLES
from .tables import ServiceNowTables


class ServiceNowState(ServiceNowTables):
    """Credentials (passwords, OAuth clients, tokens), read ACLs, approval groups, the webhook
    target, and every first-page list query the client made (``queries``)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.passwords: dict[str, str] = {}
        self.oauth_clients: dict[str, tuple[str, str]] = {}  # client_id -> (secret, acting user)
        self.tokens: dict[str, tuple[str, datetime]] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.token_lifetime = 1800
        self.read_roles: dict[str, set[str]] = {}  # table -> roles allowed to read (empty: anyone)
        self.approval_groups: dict[str, str] = {}  # table -> group sys_id asked to approve new records
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        # the admin pasted the approver rows' business rule too (setup_script.py prints it for
        # systems with `decision.source: approvers`): each approver's answer notifies
        self.approver_webhooks = True
        self.queries: list[tuple[str, str]] = []  # (table, sysparm_query) of every first-page list call
        self.caller = ""  # the user name the request being handled authenticated as
        self._outbox: list[tuple[str, bytes, dict[str, str]]] = []

    # --- writes (every change goes through here) ---------------------------------------------------------
    def insert(self, table: str, values: dict[str, Any], user: str) -> dict[str, str]:
        """A POST: unknown columns ignored, journals to sys_journal_field, number assigned,
        insert business rules run (approvals requested, audit written)."""
        with self.lock:
            cols = self.columns(table)
            clean = self.cleaned(table, values)
            journals = {k: clean.pop(k) for k in list(clean) if cols[k].type == "journal"}
            meta = self.tables[table]
            if meta.prefix and not clean.get("number"):
                count = self.counters.get(meta.prefix, 30000) + 1
                self.counters[meta.prefix] = count
                clean["number"] = f"{meta.prefix}{count:07d}"
            if "sys_class_name" in cols:
                clean["sys_class_name"] = table
            row = self.insert_raw(table, clean, user)
            if self.audited(table):
                for name, new in clean.items():
                    if new:
                        self.audit(table, row, name, "", new, user)
            for name, text in journals.items():
                self.write_journal(table, row["sys_id"], name, text, user)
            group = self.approval_groups.get(table)
            if group and row.get("type") != "standard":  # a standard change is pre-authorized
                request_approval(self, table, row, group, user)
            if table == "sysapproval_group":  # an approval group added to a task: its members are asked
                found = self.lookup("task", row["parent"])
                if found:
                    request_approval(self, found[0], found[1], row["assignment_group"], user)
            return dict(row)

    def write(
        self, table: str, sys_id: str, values: dict[str, Any], user: str, *, rules: bool = True
    ) -> dict[str, str]:
        """A PATCH: only changed columns count; a journal entry alone still bumps the record."""
        notify = False
        with self.lock:
            row = self.rows[table][sys_id]
            cols = self.columns(table)
            clean = self.cleaned(table, values)
            journals = {k: clean.pop(k) for k in list(clean) if cols[k].type == "journal" and clean[k]}
            clean = {k: v for k, v in clean.items() if cols[k].type != "journal"}
            changed = {k: v for k, v in clean.items() if row.get(k, "") != v}
            if rules:
                before_update(self, table, row, changed)
            if not changed and not journals:
                return dict(row)
            old = {name: row.get(name, "") for name in changed}
            for name, new in changed.items():
                if self.audited(table):
                    self.audit(table, row, name, row.get(name, ""), new, user, int(row["sys_mod_count"]) + 1)
                row[name] = new
            for name, text in journals.items():
                self.write_journal(table, sys_id, name, text, user)
            row["sys_mod_count"] = str(int(row["sys_mod_count"]) + 1)
            row["sys_updated_on"] = self.stamp()
            row["sys_updated_by"] = user
            if rules and table == "sysapproval_approver" and "state" in changed:
                roll_up(self, row["sysapproval"], user)
            if rules:
                after_update(self, table, row, old, user)
            notify = table in TASK_TABLES and bool({"approval", "state"} & set(changed))
            if notify:
                self.queue_notification(table, row)
            if table == "sysapproval_approver" and "state" in changed and self.approver_webhooks:
                self.queue_approver_notification(row)
            return dict(row)

    def cleaned(self, table: str, values: dict[str, Any]) -> dict[str, str]:
        """Known, writable columns as text; a date-time the platform cannot read is dropped to
        empty (as the instance does with an invalid glide_date_time)."""
        cols = self.columns(table)
        clean = {k: self.as_text(v) for k, v in values.items() if k in cols and not k.startswith("sys_")}
        for name, text in clean.items():
            if cols[name].type == "glide_date_time":
                clean[name] = glide_time(text)
        return clean

    @staticmethod
    def as_text(value: Any) -> str:
        if isinstance(value, dict):
            value = value.get("value", "")
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    def audited(self, table: str) -> bool:
        return any(self.tables[t].audited for t in self.chain(table))

    def audit(
        self, table: str, row: dict[str, str], name: str, old: str, new: str, user: str, checkpoint: int = 0
    ) -> None:
        self.insert_raw(
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

    def write_journal(self, table: str, sys_id: str, element: str, text: str, user: str) -> None:
        self.insert_raw(
            "sys_journal_field",
            {"element_id": sys_id, "element": element, "name": table, "value": text},
            user,
        )

    # --- notifications ----------------------------------------------------------------------------------
    def queue_notification(
        self, table: str, row: dict[str, str], approver: dict[str, str] | None = None
    ) -> None:
        """What the pasted business rule posts for a record of ``table`` (setup_script.py); with
        ``approver``, what the rule on ``sysapproval_approver`` posts: the record, plus the
        approver row that changed (its own id and version make the delivery id)."""
        if not (self.webhook_url and self.webhook_secret and row.get("correlation_id")):
            return
        event_id = f"{table}:{row['sys_id']}:{row['sys_mod_count']}"
        extra = {}
        if approver is not None:
            event_id = f"sysapproval_approver:{approver['sys_id']}:{approver['sys_mod_count']}"
            extra = {"approver_sys_id": approver["sys_id"], "approver_mod_count": approver["sys_mod_count"]}
        body = json.dumps(
            {
                "event": "record.updated",
                "event_id": event_id,
                "table": table,
                "sys_id": row["sys_id"],
                "number": row.get("number", ""),
                "correlation_id": row.get("correlation_id", ""),
                "approval": row.get("approval", ""),
                "state": row.get("state", ""),
                "sys_updated_on": row["sys_updated_on"],
                "sys_mod_count": row["sys_mod_count"],
                **extra,
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

    def queue_approver_notification(self, approver: dict[str, str]) -> None:
        for table in TASK_TABLES:
            record = self.rows.get(table, {}).get(approver.get("sysapproval", ""))
            if record is not None:
                self.queue_notification(table, record, approver)
                return

    def flush_notifications(self, background: bool = False) -> None:
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
            row = self.insert_raw(
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
            row = self.insert_raw("sys_user_group", {"name": name})
            for member in members:
                self.add_member(name, member)
            return row["sys_id"]

    def add_member(self, group: str, user_name: str) -> None:
        with self.lock:
            self.insert_raw(
                "sys_user_grmember",
                {"user": self.require_user(user_name)["sys_id"], "group": self.group_row(group)["sys_id"]},
            )

    def add_oauth_client(self, client_id: str, secret: str, acting_user: str) -> None:
        self.oauth_clients[client_id] = (secret, acting_user)

    def require_approval(self, table: str, group: str) -> None:
        """New records of ``table`` get one requested approver row per member of ``group``."""
        self.approval_groups[table] = self.group_row(group)["sys_id"]

    def set_webhook(self, url: str | None, secret: str | None) -> None:
        self.webhook_url, self.webhook_secret = url, secret

    def user_row(self, user_name: str) -> dict[str, str] | None:
        return next((r for r in self.rows["sys_user"].values() if r["user_name"] == user_name), None)

    def require_user(self, user_name: str) -> dict[str, str]:
        row = self.user_row(user_name)
        if row is None:
            raise KeyError(f"no sys_user {user_name!r}")
        return row

    def group_row(self, name_or_id: str) -> dict[str, str]:
        for row in self.rows["sys_user_group"].values():
            if name_or_id in (row["name"], row["sys_id"]):
                return row
        raise KeyError(f"no sys_user_group {name_or_id!r}")

    def is_active(self, user_name: str) -> bool:
        row = self.user_row(user_name)
        return row is not None and row.get("active") == "true"

    def revoke_tokens(self) -> None:
        """Invalidate every access token (the next call gets 401; clients must renew)."""
        with self.lock:
            self.tokens.clear()

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
            user = self.require_user(as_user)
            mine = [
                r
                for r in self.rows["sysapproval_approver"].values()
                if r["sysapproval"] == task["sys_id"] and r["approver"] == user["sys_id"]
            ]
            # the row the approver is asked on now (after a restart the old ones are cancelled)
            open_rows = [r for r in mine if r["state"] in ("requested", "not requested")]
            row = (open_rows or mine or [None])[-1]
            if row is None:  # an ad-hoc approver (or an admin acting directly)
                row = self.insert_raw(
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
        self.flush_notifications()

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
            self.require_user(as_user)
            table, row = self.find(number)
            self.write(table, row["sys_id"], values, as_user)
        self.flush_notifications()
