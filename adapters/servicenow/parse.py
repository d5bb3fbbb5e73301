"""Pure functions from Table API rows to the connector's vocabulary. No I/O here, so every
variant can be tested against a recorded fixture in one line."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from connector.core.models import Actor, Verdict

from .settings import DecisionSettings

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Approver-row states that take a row out of the vote without deciding anything.
NEUTRAL_APPROVER_STATES = frozenset({"not_required", "cancelled", "skipped"})


_SAFE_VALUE = re.compile(r"^[^\^,\r\n]*$")


def safe(text: str) -> bool:
    """Whether a value can go into an encoded query without changing its meaning."""
    return bool(_SAFE_VALUE.match(text))


def value(row: Mapping[str, Any], name: str) -> str:
    """A column as the plain string the Table API sends. Tolerates the other shapes it can send
    ({"value", "link"} references, {"value", "display_value"} with display_value=all)."""
    raw = row.get(name, "")
    if isinstance(raw, dict):
        raw = raw.get("value", "")
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def parse_time(text: str) -> datetime | None:
    """A Table API timestamp ('YYYY-MM-DD HH:MM:SS', always UTC in value mode)."""
    try:
        return datetime.strptime(text.strip(), TIME_FORMAT).replace(tzinfo=timezone.utc)
    except (ValueError, AttributeError):
        return None


def format_time(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime(TIME_FORMAT)


def _classify(raw: str, approved: list[str], rejected: list[str], pending: list[str]) -> Verdict:
    if raw in approved:
        return Verdict.APPROVED
    if raw in rejected:
        return Verdict.REJECTED
    if raw in pending:
        return Verdict.PENDING
    return Verdict.UNKNOWN


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """Several columns vote: any rejection rejects, an unknown value fails closed, and only a
    unanimous approval approves; otherwise the record is still waiting."""
    votes = list(verdicts)
    if not votes:
        return Verdict.UNKNOWN
    if Verdict.REJECTED in votes:
        return Verdict.REJECTED
    if Verdict.UNKNOWN in votes:
        return Verdict.UNKNOWN
    if all(v is Verdict.APPROVED for v in votes):
        return Verdict.APPROVED
    return Verdict.PENDING


def record_verdict(record: Mapping[str, Any], decision: DecisionSettings) -> tuple[Verdict, str]:
    """Verdict of a record under ``source: record`` and the raw status it came from."""
    votes: list[Verdict] = []
    status: list[str] = []
    if decision.uses_approval:
        raw = value(record, decision.approval_field or "approval")
        votes.append(
            _classify(raw, decision.approved_values, decision.rejected_values, decision.pending_values)
        )
        status.append(f"{decision.approval_field}={raw}")
    if decision.uses_state:
        raw = value(record, decision.state_field)
        votes.append(
            _classify(raw, decision.approved_states, decision.rejected_states, decision.pending_states)
        )
        status.append(f"{decision.state_field}={raw}")
    return combine(votes), " ".join(status)


@dataclass(frozen=True)
class ApproverVote:
    """The sysapproval_approver row that decided a record (None when nothing decided yet)."""

    verdict: Verdict
    row: Mapping[str, Any] | None
    status: str


def approver_verdict(rows: Iterable[Mapping[str, Any]], decision: DecisionSettings) -> ApproverVote:
    """Roll-up of approver rows: a rejected row rejects; ``rule: any`` approves on the first
    approved row, ``all`` once every voting row approved. The deciding row is the newest one of
    that verdict. A state that is neither decided, pending nor neutral is UNKNOWN (fail closed)."""
    rows = sorted(rows, key=lambda r: (value(r, "sys_updated_on"), value(r, "sys_id")))
    rejected = [r for r in rows if value(r, "state") in decision.rejected_values]
    if rejected:
        row = rejected[-1]
        return ApproverVote(Verdict.REJECTED, row, f"sysapproval_approver.state={value(row, 'state')}")
    unknown = [
        r
        for r in rows
        if value(r, "state")
        not in {*decision.approved_values, *decision.pending_values, *NEUTRAL_APPROVER_STATES}
    ]
    if unknown:
        row = unknown[-1]
        return ApproverVote(Verdict.UNKNOWN, row, f"sysapproval_approver.state={value(row, 'state')}")
    approved = [r for r in rows if value(r, "state") in decision.approved_values]
    voting = [r for r in rows if value(r, "state") not in NEUTRAL_APPROVER_STATES]
    if approved and (decision.rule == "any" or len(approved) == len(voting)):
        row = approved[-1]
        return ApproverVote(Verdict.APPROVED, row, f"sysapproval_approver.state={value(row, 'state')}")
    return ApproverVote(
        Verdict.PENDING, None, "sysapproval_approver: waiting" if rows else "no approvers yet"
    )


def actor_from_user(user_name: str, user: Mapping[str, Any] | None, groups: Iterable[str] = ()) -> Actor:
    """The person ServiceNow says acted. ``id`` is the sys_id when the sys_user row is readable
    (else the login name); every identifier a route's approver list may use is an alias."""
    if user is None:
        return Actor(
            id=user_name, display=user_name, aliases=frozenset({user_name}) - {""}, groups=frozenset(groups)
        )
    sys_id = value(user, "sys_id")
    login = value(user, "user_name") or user_name
    aliases = {login, sys_id, value(user, "email")}
    return Actor(
        id=sys_id or login,
        display=value(user, "name") or login,
        aliases=frozenset(a for a in aliases if a),
        groups=frozenset(g for g in groups if g),
    )


def latest_audit(
    rows: Iterable[Mapping[str, Any]], field_name: str, new_value: str
) -> Mapping[str, Any] | None:
    """The newest sys_audit row that set ``field_name`` to ``new_value``: who made the decision,
    even if someone edited the record afterwards."""
    matching = [r for r in rows if value(r, "fieldname") == field_name and value(r, "newvalue") == new_value]
    if not matching:
        return None
    return max(matching, key=lambda r: (value(r, "sys_created_on"), _int(value(r, "record_checkpoint"))))


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return -1


def compact_seal(seal: str) -> str:
    """The ticket seal (``acr1:<hex digest>:<hex mac>``, 110 characters) as it is stored on the
    record: the same bytes in base64url (76 characters), so it fits a 100-character column such
    as ``correlation_display``."""
    prefix, *parts = seal.split(":")
    return ":".join([prefix, *(_b64(part) for part in parts)])


def expand_seal(stored: str) -> str | None:
    """The seal a record shows, back in the core's hex form; None when the column is empty. A
    value that is not a compact seal is handed on as it is (the core then refuses it)."""
    text = stored.strip()
    if not text:
        return None
    prefix, *parts = text.split(":")
    try:
        return ":".join([prefix, *(_hex(part) for part in parts)])
    except (ValueError, binascii.Error):
        return text


def _b64(hex_text: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(hex_text)).decode("ascii").rstrip("=")


def _hex(b64_text: str) -> str:
    if not b64_text or len(b64_text) % 4 == 1:
        raise ValueError("not base64url")
    padded = b64_text + "=" * (-len(b64_text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii")).hex()
