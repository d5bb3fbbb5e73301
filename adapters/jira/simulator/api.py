"""``JiraSimulator``: the state (``state``) served through the route table (``routes``) on the
``SimulatedAPI`` base, so it runs in-process on ``responses`` and as a real HTTP server, with
fault injection, call counting and signed webhooks sent after each request."""

from __future__ import annotations

import re
from typing import Any

from connector.testing.simulator import Handler, SimRequest, SimResponse

from . import handling, routes
from .entities import Refusal
from .seeded import DEMO_ENV, seed_demo
from .state import JiraState


class JiraSimulator(JiraState):
    """In-memory Jira. ``deployment`` is 'cloud' (accountIds, basic e-mail+token, /search/jql,
    legacy /search → 410) or 'datacenter' (names/keys, bearer PAT, /search with startAt)."""

    def __init__(
        self,
        base_url: str = "https://jira.example.test",
        deployment: str = "cloud",
        *,
        search_lag: int = 0,
        changelog_cap: int = 40,
    ) -> None:
        super().__init__(base_url, deployment, search_lag=search_lag, changelog_cap=changelog_cap)
        for method, pattern, route in routes.ROUTES:
            self.add_route(method, pattern, self._bound(route))

    def _bound(self, route: handling.Route) -> Handler:
        def handler(request: SimRequest, match: re.Match) -> SimResponse:
            try:
                return route(self, request, match)
            except Refusal as refusal:
                return refusal.response()

        return handler

    @classmethod
    def seeded_demo(
        cls, base_url: str = "https://ops.example.test", deployment: str = "cloud", **options: Any
    ) -> JiraSimulator:
        """Project OPS with Awaiting Approval → Approved/Rejected → Done/Failed/Cancelled, and users
        bot (the connector, admin), alice (approver, group change-approvers), bob (requester),
        mallory (outsider). Credentials: see ``demo_env()``."""
        sim = cls(base_url, deployment, **options)
        seed_demo(sim)
        return sim

    def demo_env(self) -> dict[str, str]:
        """Environment variables matching config/jira-customer-email.yaml for the bot account."""
        return dict(DEMO_ENV)

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        return handling.authenticate(self, request)

    def handle(self, request: SimRequest) -> SimResponse:
        try:
            return super().handle(request)
        finally:
            self.flush_webhooks()  # a change whose answer was lost still tells the webhooks
