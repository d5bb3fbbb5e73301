"""Admin webhooks of the simulated Jira: registration (API or UI), and signed deliveries queued
while the state lock is held and sent after it is released (the receiver may call back in)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

from connector.core import clock

from . import views
from .catalog import JiraCatalog
from .entities import SimIssue, SimUser
from .query import parse_jql


class JiraWebhooks(JiraCatalog):
    """``webhooks`` as registered (secrets kept, never shown); ``webhooks_sent`` (base class)
    records every delivery and the receiver's answer."""

    def __init__(self, base_url: str, deployment: str) -> None:
        super().__init__(base_url, deployment)
        self.webhooks: list[dict[str, Any]] = []
        self._webhook_count = 0
        self._outbox: list[tuple[str, bytes, dict[str, str]]] = []

    def add_webhook(
        self,
        url: str,
        events: list[str],
        *,
        name: str = "",
        filters: dict[str, Any] | None = None,
        exclude_body: bool = False,
        secret: str | None = None,
        registered_by: SimUser | None = None,
    ) -> dict[str, Any]:
        """Register an admin webhook; the stored secret is never shown back."""
        self._webhook_count += 1
        hook: dict[str, Any] = {
            "name": name,
            "url": url,
            "events": list(events),
            "filters": filters or {},
            "excludeBody": exclude_body,
            "enabled": True,
            "self": f"{self.base_url}/rest/webhooks/1.0/webhook/{self._webhook_count}",
            "secret": secret or None,
        }
        if registered_by is not None:
            hook["lastUpdatedUser"] = registered_by.account_id
        self.webhooks.append(hook)
        return hook

    def register_webhook(
        self, url: str, secret: str | None, events: list[str] | None = None, jql_filter: str = ""
    ) -> None:
        """What an admin does in the UI (Settings → System → WebHooks)."""
        with self.lock:
            self.add_webhook(
                url,
                events or ["jira:issue_updated"],
                name="ui",
                filters={"issue-related-events-section": jql_filter},
                secret=secret,
            )

    def queue_event(
        self, issue: SimIssue, actor: SimUser, event: str, type_name: str | None, extra: dict[str, Any]
    ) -> None:
        """Queue a signed delivery to every enabled hook subscribed to ``event`` whose JQL filter
        matches the issue; ``flush_webhooks`` sends them."""
        for hook in self.webhooks:
            if not hook.get("enabled") or event not in hook["events"]:
                continue
            jql_filter = (hook.get("filters") or {}).get("issue-related-events-section")
            if jql_filter and not parse_jql(jql_filter)(self, issue):
                continue
            payload: dict[str, Any] = {
                "timestamp": int(clock.utcnow().timestamp() * 1000),
                "webhookEvent": event,
            }
            if type_name:
                payload["issue_event_type_name"] = type_name
            payload["user"] = self.user_json(actor)
            payload["issue"] = views.issue_json(self, issue)
            payload.update(extra)
            body = json.dumps(payload).encode("utf-8")
            headers = {
                "Content-Type": "application/json; charset=UTF-8",
                "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
                "X-Atlassian-Webhook-Flow": "Primary",
            }
            if hook.get("secret"):
                digest = hmac.new(hook["secret"].encode("utf-8"), body, hashlib.sha256).hexdigest()
                headers["X-Hub-Signature"] = f"sha256={digest}"
            self._outbox.append((hook["url"], body, headers))

    def flush_webhooks(self) -> int:
        """Deliver queued webhooks outside the state lock (the receiver may call back into us)."""
        with self.lock:
            queued, self._outbox = self._outbox, []
        for url, body, headers in queued:
            self.deliver_webhook(url, body, headers)
        return len(queued)
