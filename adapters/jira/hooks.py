"""The Jira adapter's webhook side: HMAC verification of admin-webhook deliveries, hints parsed
from them, and the set-up (printed, or registered through the API). Pure except registration:
a delivery is verified and parsed on the event loop, without I/O."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING

from connector.core.errors import ConfigError, WebhookRejected
from connector.core.models import DecisionEvent

from . import jql
from . import webhook as wh
from .parse import vote_word

if TYPE_CHECKING:
    pass


class JiraWebhooks:
    def _webhook_secret(self) -> str:
        var = self.settings.webhook.secret_env
        if not var:
            raise WebhookRejected(
                f"{self.name}: webhooks are not configured (webhook.secret_env)", status=404
            )
        try:
            return self.context.secret(var, f"systems.{self.name}.webhook.secret_env")
        except ConfigError:  # the operator's misconfiguration, not the sender's fault
            raise WebhookRejected("webhook secret not configured", status=503) from None

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        wh.verify_signature(self._webhook_secret(), headers, body)

    def webhook_delivery_id(self, headers: Mapping[str, str], body: bytes) -> str | None:
        return wh.delivery_id(headers)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[DecisionEvent]:
        return wh.parse_payload(self.name, headers, body, self.settings.label, self._vote_words)

    @cached_property
    def _vote_words(self) -> frozenset[str]:
        """The vote comments of this system's quorum routes that vote by comment (a JSM
        approval's answers move no comment): a comment starting with one is hinted at once."""
        words: set[str] = set()
        for name, route in self.routes.items():
            if name in self.context.vote_routes and route.decision.mode != "jsm":
                words |= {vote_word(route.decision.vote_approve), vote_word(route.decision.vote_reject)}
        return frozenset(words)

    def webhook_url(self, public_url: str) -> str:
        url = public_url.rstrip("/")
        suffix = f"/webhooks/{self.name}"
        return url if url.endswith(suffix) else url + suffix

    def webhook_filter(self) -> str:
        projects = sorted({r.ticket.project for r in self.routes.values() if r.ticket is not None})
        query = f"labels = {jql.quote(self.settings.label)}"
        if projects:
            query = f"project in {jql.in_list(projects)} AND " + query
        return query

    def webhook_setup(self, public_url: str) -> str:
        secret_var = self.settings.webhook.secret_env or "<set webhook.secret_env>"
        return "\n".join(
            [
                f"{self.name}: create an admin webhook in Jira (Settings → System → WebHooks):",
                f"  URL:        {self.webhook_url(public_url)}",
                f"  Events:     {', '.join(self.settings.webhook.events)}",
                f"  JQL filter: {self.webhook_filter()}",
                f"  Secret:     the value of the environment variable {secret_var}",
                "  Deliveries are hints: every decision is re-read from the API, and polling stays on.",
            ]
        )

    def register_webhook(self, public_url: str) -> str:
        secret = self._register_secret()
        body = {
            "name": f"approval-connector {self.name}",
            "url": self.webhook_url(public_url),
            "events": list(self.settings.webhook.events),
            "filters": {"issue-related-events-section": self.webhook_filter()},
            "excludeBody": False,
            "secret": secret,
        }
        created = self.client.register_webhook(body)
        where = created.get("self") or "(no id returned)"
        return f"{self.name}: webhook created at {where} for {body['url']} (secret from env, not shown)"

    def _register_secret(self) -> str:
        var = self.settings.webhook.secret_env
        if not var:
            raise ConfigError(f"systems.{self.name}.webhook.secret_env: name the variable holding the secret")
        return self.context.secret(var, f"systems.{self.name}.webhook.secret_env")
