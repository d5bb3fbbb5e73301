"""Admin-webhook deliveries: verify the HMAC over the raw bytes, then turn them into hints. A hint
only makes the service re-read the issue; nothing in a webhook body is trusted as a decision."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from connector.core.errors import WebhookRejected
from connector.core.http import header
from connector.core.models import DecisionEvent

from .parse import request_id_from_labels, vote_word

SIGNATURE_HEADER = "X-Hub-Signature"
DELIVERY_HEADER = "X-Atlassian-Webhook-Identifier"
ISSUE_EVENTS = frozenset({"jira:issue_updated", "jira:issue_created"})
# a comment arrives as its own event (when subscribed) and as jira:issue_updated with one of these
COMMENT_EVENTS = frozenset({"comment_created", "comment_updated"})
COMMENT_TYPES = frozenset({"issue_commented", "issue_comment_edited"})


def sign(secret: str, body: bytes) -> str:
    """The header value Jira sends: 'sha256=' + lowercase hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Constant-time check; WebhookRejected(401) when the signature is missing or wrong."""
    given = header(headers, SIGNATURE_HEADER)
    if not given:
        raise WebhookRejected("missing X-Hub-Signature", status=401)
    given = given.strip()
    if not given.lower().startswith("sha256="):
        raise WebhookRejected("unsupported signature method", status=401)
    expected = sign(secret, body)
    if not hmac.compare_digest(given.lower().encode("ascii", "replace"), expected.encode("ascii")):
        raise WebhookRejected("signature mismatch", status=401)


def delivery_id(headers: Mapping[str, str]) -> str | None:
    value = header(headers, DELIVERY_HEADER)
    return value.strip() if value and value.strip() else None


def _load(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # nested 100,000 deep: not Jira's
        raise WebhookRejected("body is not JSON", status=400) from None
    if not isinstance(data, dict) or not isinstance(data.get("webhookEvent"), str):
        raise WebhookRejected("not a Jira webhook payload (no webhookEvent)", status=400)
    return data


def _status_changed(data: dict[str, Any]) -> bool:
    # parsed JSON: objects are plain dicts (isinstance(_, dict) is exact, and cheaper than Mapping)
    changelog = data.get("changelog")
    if not isinstance(changelog, dict):
        return False
    items = changelog.get("items")
    if not isinstance(items, list):
        return False
    return any(
        isinstance(i, dict) and (i.get("field") == "status" or i.get("fieldId") == "status") for i in items
    )


def _vote_comment(data: dict[str, Any], vote_words: frozenset[str]) -> bool:
    """A comment (new or edited) whose first line is one of ``vote_words``: on a quorum route's
    issue it may be a vote, so the issue is re-read now rather than at the next poll. Only a hint:
    whether it counts is decided from the issue as the API shows it."""
    event, type_name = data["webhookEvent"], data.get("issue_event_type_name")
    commented = event == "jira:issue_updated" and isinstance(type_name, str) and type_name in COMMENT_TYPES
    if not vote_words or not (event in COMMENT_EVENTS or commented):
        return False
    comment = data.get("comment")
    text = comment.get("body") if isinstance(comment, dict) else None
    if not isinstance(text, str) or not text.strip():
        return False  # (a body in the document format is left to the poll)
    return vote_word(text) in vote_words


def parse_payload(
    system: str, headers: Mapping[str, str], body: bytes, label: str, vote_words: frozenset[str] = frozenset()
) -> list[DecisionEvent]:
    """Hints for issue events that changed a status on an approval issue, and for comments that
    may be votes (``vote_words``: the quorum routes' vote comments, casefolded); [] for anything
    else."""
    data = _load(body)
    status_moved = data["webhookEvent"] in ISSUE_EVENTS and _status_changed(data)
    if not status_moved and not _vote_comment(data, vote_words):
        return []
    issue = data.get("issue")
    if not isinstance(issue, dict) or not isinstance(issue.get("key"), str) or not issue["key"]:
        raise WebhookRejected("issue event without an issue key", status=400)
    fields = issue.get("fields") if isinstance(issue.get("fields"), dict) else {}
    labels = fields.get("labels")
    if isinstance(labels, list) and label not in labels:
        return []  # not one of ours (the webhook's JQL filter should already exclude it)
    request_id = request_id_from_labels(labels) if isinstance(labels, list) else None
    return [
        DecisionEvent(
            system=system,
            ticket_key=issue["key"],
            request_id=request_id,
            decision=None,
            source="webhook",
            delivery_id=delivery_id(headers),
        )
    ]
