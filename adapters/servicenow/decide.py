"""Decisions as ServiceNow shows them, for several records with a fixed number of batched reads:
the verdict from the record's columns (who made it from sys_audit) or from its
sysapproval_approver rows, the actor's sys_user row and groups (cached for a while, so a person
who approves again costs no look-up), the rejecting person's comment, and the seal the record
carries. Who a spelling names (``resolve``) uses the same user cache's source, sys_user.

A table the connector's account cannot read (sys_audit is admin-only by default) does not stop
the others: the records it would have explained are decided without an actor (the core refuses
such a decision once and says so on the ticket), and the log names the ACL that is missing."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector.core.cache import TtlCache
from connector.core.errors import AdapterError
from connector.core.models import Actor, Question, TicketDecision, TicketRef, Verdict

from . import approvals
from .parse import (  # noqa: F401 - safe is imported from here by the adapter and the poll
    actor_from_user,
    approver_verdict,
    expand_seal,
    format_time,
    latest_audit,
    parse_time,
    record_verdict,
    safe,
    value,
)
from .settings import ServiceNowRouteSettings

if TYPE_CHECKING:
    from .adapter import ServiceNowAdapter

log = logging.getLogger(__name__)

USER_FIELDS = ["sys_id", "user_name", "email", "name"]
APPROVER_FIELDS = [
    "sys_id",
    "sysapproval",
    "approver",
    "state",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
    "group",
    "group.name",
]
AUDIT_FIELDS = ["documentkey", "fieldname", "newvalue", "user", "sys_created_on", "record_checkpoint"]
UNREADABLE = " (who decided is unreadable: no access to sys_audit)"  # appended to the status
AUDIT_ACL = (
    "the account needs read access to sys_audit (admin-only by default: add a read ACL on sys_audit "
    "for the connector's role, or use decision.source: approvers)"
)


def audit_query(table: str, ids: Sequence[str], fields: Sequence[str]) -> str:
    """The sys_audit rows that can name who set ``fields`` on the records ``ids``."""
    return (
        f"tablename={table}^documentkeyIN{','.join(ids)}^fieldnameIN{','.join(fields)}^ORDERBYsys_created_on"
    )


def approvers_query(ids: Sequence[str]) -> str:
    return f"sysapprovalIN{','.join(ids)}^ORDERBYsys_updated_on"


class Prefetched:
    """The decision rows of one record read with it (one Batch API call): the sys_audit or
    sysapproval_approver rows, or the refusal that answered for them."""

    __slots__ = ("rows", "error")

    def __init__(self, rows: list[dict[str, Any]] | None, error: AdapterError | None = None) -> None:
        self.rows = rows
        self.error = error


class Vote:
    """A verdict and, once looked up, who made it and when."""

    __slots__ = ("verdict", "status", "user", "when", "row_id", "unreadable", "rows")

    def __init__(self, verdict: Verdict, status: str) -> None:
        self.verdict = verdict
        self.status = status
        self.user = ""
        self.when = ""
        self.row_id = ""
        self.unreadable = False  # who decided could not be read (no access), not "nobody"
        self.rows: list[Mapping[str, Any]] = []  # the record's approver rows (source: approvers)


class ServiceNowDecisions:
    def __init__(self, adapter: ServiceNowAdapter) -> None:
        self.adapter = adapter
        self.client = adapter.client
        ttl = adapter.settings.identity_cache_seconds
        self.users: TtlCache[str, Mapping[str, Any] | None] = TtlCache(ttl)  # user_name -> sys_user
        self.groups: TtlCache[str, frozenset[str]] = TtlCache(ttl)  # user sys_id -> group ids, names
        self.people: TtlCache[str, Actor | None] = TtlCache(ttl)  # spelling -> Actor

    # --- questions ---------------------------------------------------------------------------------
    def questions(self, ticket: TicketRef, since: datetime | None, needs_groups: bool) -> list[Question]:
        """People's journal entries on the record since ``since`` (never the connector's own)."""
        if not safe(ticket.id):
            return []
        query = f"element_id={ticket.id}^elementINwork_notes,comments"
        if since is not None:
            query += f"^sys_created_on>={format_time(since)}"
        rows = self.client.list(
            "sys_journal_field",
            query + "^ORDERBYsys_created_on",
            ["sys_id", "element_id", "element", "value", "sys_created_by", "sys_created_on"],
        )
        own = {n.lower() for n in self.adapter.service_identities()}
        rows = [
            r
            for r in rows
            if value(r, "element_id") == ticket.id and value(r, "sys_created_by").lower() not in own | {""}
        ]
        users = self._users({value(r, "sys_created_by") for r in rows})
        groups = self._groups({value(u, "sys_id") for u in users.values()}) if needs_groups else {}
        found = []
        for row in rows:
            name = value(row, "sys_created_by")
            actor = _person(name, users, groups)
            when = value(row, "sys_created_on")
            found.append(
                Question(
                    id=value(row, "sys_id"),
                    actor=actor,
                    text=value(row, "value"),
                    asked_at=parse_time(when) if when else None,
                )
            )
        return found

    # --- decisions ---------------------------------------------------------------------------------
    def decide(
        self,
        route: ServiceNowRouteSettings,
        records: Sequence[Mapping[str, Any]],
        needs_groups: bool,
        prefetched: Prefetched | None = None,
    ) -> dict[str, TicketDecision]:
        """Decisions for ``records`` (rows read with the route's record fields), keyed by sys_id;
        ``prefetched``: the decision rows of the one record, already read with it."""
        if route.decision.source == "approvers":
            votes = self._approver_votes(route, [value(r, "sys_id") for r in records], prefetched)
        else:
            votes = self._record_votes(route, records, prefetched)
        voters = {value(r, "sys_updated_by") for v in votes.values() for r in v.rows}
        users = self._users({v.user for v in votes.values() if v.user} | voters)
        groups = self._groups({value(u, "sys_id") for u in users.values()}) if needs_groups else {}
        reasons = self._reasons(
            [(sid, v) for sid, v in votes.items() if v.verdict is Verdict.REJECTED and v.user]
        )
        seals = {value(r, "sys_id"): expand_seal(value(r, route.ticket.seal_field)) for r in records}
        out: dict[str, TicketDecision] = {}

        def person(name: str) -> Actor:
            return _person(name, users, groups)

        for sys_id, vote in votes.items():
            verdict, reason = vote.verdict, reasons.get(sys_id, "")
            actor = None
            if vote.user:
                actor = person(vote.user)
            elif verdict is Verdict.APPROVED and not vote.unreadable:
                # Nothing says who approved: fail closed rather than guess from sys_updated_by.
                verdict, reason = Verdict.UNKNOWN, "approved, but ServiceNow shows no record of who approved"
            out[sys_id] = TicketDecision(
                verdict=verdict,
                actor=actor,
                status=vote.status,
                reason=reason,
                decided_at=parse_time(vote.when) if vote.when else None,
                ticket_id=sys_id,
                shown_seal=seals.get(sys_id),
            )
            if route.decision.source == "approvers":
                out[sys_id].votes = approvals.votes_of(vote.rows, route.decision, person)
        approvals.attach_edits(
            self._list, route, records, out, lambda audits: self._actors(audits, needs_groups)
        )
        return out

    def _actors(self, rows: Mapping[str, Mapping[str, Any]], needs_groups: bool) -> dict[str, Actor]:
        """The person each row's ``user`` names, keyed like ``rows``."""
        users = self._users({value(r, "user") for r in rows.values()})
        groups = self._groups({value(u, "sys_id") for u in users.values()}) if needs_groups else {}
        out = {}
        for key, row in rows.items():
            out[key] = _person(value(row, "user"), users, groups)
        return out

    def _list(self, table: str, query: str, fields: list[str], **options: Any) -> list[dict[str, Any]] | None:
        """A batched read; None when the account may not read it (a refusal that retrying will not
        change). Transient failures still raise: the whole poll is tried again."""
        try:
            return self.client.list(table, query, fields, **options)
        except AdapterError as exc:
            if exc.transient:
                raise
            log.warning("%s: cannot read %s (%s)", self.adapter.name, table, exc)
            return None

    def _record_votes(
        self,
        route: ServiceNowRouteSettings,
        records: Sequence[Mapping[str, Any]],
        prefetched: Prefetched | None = None,
    ) -> dict[str, Vote]:
        d = route.decision
        votes: dict[str, Vote] = {}
        wanted: dict[str, tuple[str, str]] = {}  # sys_id -> (field, value) whose audit names the actor
        for record in records:
            sys_id = value(record, "sys_id")
            verdict, status = record_verdict(record, d)
            votes[sys_id] = Vote(verdict, status)
            if verdict in (Verdict.APPROVED, Verdict.REJECTED):
                approval = value(record, d.approval_field) if d.uses_approval else ""
                if d.uses_approval and (verdict is Verdict.APPROVED or approval in d.rejected_values):
                    wanted[sys_id] = (d.approval_field or "approval", approval)
                else:
                    wanted[sys_id] = (d.state_field, value(record, d.state_field))
        ids = [i for i in wanted if safe(i)]
        if not ids:
            return votes
        fields = sorted({f for f, _ in wanted.values()})
        if prefetched is None:
            rows = self._list("sys_audit", audit_query(route.ticket.table, ids, fields), AUDIT_FIELDS)
        elif prefetched.error is not None:
            log.warning("%s: cannot read sys_audit (%s)", self.adapter.name, prefetched.error)
            rows = None
        else:
            rows = prefetched.rows
        if rows is None:
            log.warning(
                "%s: %s; %d decision(s) left without an actor", self.adapter.name, AUDIT_ACL, len(ids)
            )
            for sys_id in ids:
                votes[sys_id].unreadable = True
                votes[sys_id].status += UNREADABLE
            return votes
        by_doc: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for row in rows:
            by_doc[value(row, "documentkey")].append(row)
        for sys_id, (field_name, new) in wanted.items():
            audit = latest_audit(by_doc.get(sys_id, []), field_name, new)
            if audit is not None:
                votes[sys_id].user = value(audit, "user")
                votes[sys_id].when = value(audit, "sys_created_on")
        return votes

    def _approver_votes(
        self, route: ServiceNowRouteSettings, sys_ids: list[str], prefetched: Prefetched | None = None
    ) -> dict[str, Vote]:
        ids = [i for i in sys_ids if i and safe(i)]
        if prefetched is not None:
            if prefetched.error is not None:
                raise prefetched.error
            rows = prefetched.rows or []
        elif ids:
            rows = self.client.list("sysapproval_approver", approvers_query(ids), APPROVER_FIELDS)
        else:
            rows = []
        by_doc: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for row in rows:
            by_doc[value(row, "sysapproval")].append(row)
        votes: dict[str, Vote] = {}
        for sys_id in sys_ids:
            vote = approver_verdict(by_doc.get(sys_id, []), route.decision)
            v = Vote(vote.verdict, vote.status)
            v.rows = by_doc.get(sys_id, [])
            if vote.row is not None and vote.verdict in (Verdict.APPROVED, Verdict.REJECTED):
                # Who acted: the row's last updater (a delegate may act for the approver).
                v.user = value(vote.row, "sys_updated_by")
                v.when = value(vote.row, "sys_updated_on")
                v.row_id = value(vote.row, "sys_id")
            votes[sys_id] = v
        return votes

    # --- people ------------------------------------------------------------------------------------
    def _users(self, names: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        """sys_user rows by user_name, from the cache or one batched query for the rest."""
        wanted = sorted(n for n in names if n and safe(n))
        known = self.users.get_many(wanted)
        missing = [n for n in wanted if n not in known]
        if missing:
            rows = self._list("sys_user", f"user_nameIN{','.join(missing)}", USER_FIELDS) or []
            found = {value(r, "user_name"): r for r in rows if value(r, "user_name") in missing}
            for name in missing:
                self.users.put(name, found.get(name))
                known[name] = found.get(name)
        return {name: row for name, row in known.items() if row is not None}

    def _groups(self, user_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        """Group sys_ids and names per user sys_id, cached; one batched query for the rest."""
        wanted = sorted(i for i in user_ids if i and safe(i))
        known = self.groups.get_many(wanted)
        missing = [i for i in wanted if i not in known]
        if missing:
            rows = self._list(
                "sys_user_grmember", f"userIN{','.join(missing)}", ["user", "group", "group.name"]
            )
            if rows is None:
                return known  # unreadable: nobody gets groups from this query (not cached)
            found: dict[str, set[str]] = defaultdict(set)
            for row in rows:
                if value(row, "user") in missing:
                    found[value(row, "user")] |= {value(row, "group"), value(row, "group.name")} - {""}
            for user_id in missing:
                known[user_id] = frozenset(found.get(user_id, ()))
                self.groups.put(user_id, known[user_id])
        return known

    def resolve(self, name: str) -> Actor | None:
        """The sys_user a user name, e-mail or sys_id names (case and surrounding whitespace do
        not matter for names and e-mails); None for nobody, or for a spelling two users fit."""
        spelling = name.strip()
        if not spelling or not safe(spelling):
            return None
        return self.people.get_or_load(spelling.casefold(), lambda: self._look_up(spelling))

    def _look_up(self, spelling: str) -> Actor | None:
        forms = sorted({spelling, spelling.lower()})
        terms = [f"{column}={form}" for column in ("user_name", "email") for form in forms]
        rows = self.client.list("sys_user", "^OR".join([*terms, f"sys_id={spelling}"]), USER_FIELDS, limit=10)
        wanted = spelling.casefold()
        hits = {
            value(r, "sys_id"): r
            for r in rows
            if wanted in {value(r, "user_name").casefold(), value(r, "email").casefold()}
            or value(r, "sys_id") == spelling
        }
        if len(hits) != 1:
            return None
        row = next(iter(hits.values()))
        return actor_from_user(value(row, "user_name"), row)

    # --- why it was rejected -------------------------------------------------------------------------
    def _reasons(self, rejected: list[tuple[str, Vote]]) -> dict[str, str]:
        """The rejecting person's newest comment on the record or their approver row."""
        if not rejected:
            return {}
        rows_of: dict[str, set[str]] = defaultdict(set)  # record -> its approver rows (comments live there)
        for sid, vote in rejected:
            rows_of[sid] |= {vote.row_id} - {""}
        without_rows = [sid for sid, v in rejected if not v.row_id and safe(sid)]
        if without_rows:  # decided by record columns: find the rejecting approver rows too
            query = f"sysapprovalIN{','.join(without_rows)}^stateINrejected"
            for row in self._list("sysapproval_approver", query, ["sys_id", "sysapproval"]) or []:
                rows_of[value(row, "sysapproval")].add(value(row, "sys_id"))
        element_ids = {sid for sid, _ in rejected} | {r for ids in rows_of.values() for r in ids}
        ids = sorted(i for i in element_ids if safe(i))
        rows = self._list(
            "sys_journal_field",
            f"element_idIN{','.join(ids)}^elementINcomments,work_notes^ORDERBYDESCsys_created_on",
            ["element_id", "element", "value", "sys_created_by", "sys_created_on"],
            limit=50,
            max_pages=1,
        )
        out: dict[str, str] = {}
        for sys_id, vote in rejected:
            mine = [
                r
                for r in rows or []
                if value(r, "element_id") in {sys_id, *rows_of[sys_id]}
                and value(r, "sys_created_by") == vote.user
            ]
            if mine:
                newest = max(mine, key=lambda r: value(r, "sys_created_on"))
                out[sys_id] = value(newest, "value").strip()[:1000]
        return out


def _person(name: str, users: Mapping[str, Mapping[str, Any]], groups: Mapping[str, Sequence[str]]) -> Actor:
    """The actor a user name stands for, with the groups read for them (one rule for questions,
    decisions, votes and edits)."""
    user = users.get(name)
    return actor_from_user(name, user, groups.get(value(user, "sys_id"), ()) if user else ())
