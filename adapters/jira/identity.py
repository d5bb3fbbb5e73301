"""Who a spelling names in Jira, and which groups a person is in, cached for a while: the core
compares requesters and approvers by these identities, and group approvers cost no look-up per
approval.

Cloud: an accountId is looked up as such; anything else goes through the user search and counts
only when exactly one user's accountId, e-mail address, display name or e-mail local part equals
it (case-insensitive; Cloud accounts have no user names). Data Center: the user name (Jira
ignores its case), a ``JIRAUSER…`` key, else the user search with the same exact-match rule.
Surrounding whitespace never matters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connector.core.cache import TtlCache
from connector.core.errors import NotFoundError
from connector.core.models import Actor

from .parse import actor_from_user, with_groups

if TYPE_CHECKING:
    from .client import JiraClient

ACCOUNT_ID = re.compile(
    r"^(?:[0-9a-f]{24}"  # 5b10a2844c20165700ede21a
    r"|\d+:[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}"  # 557058:f58131cb-b67d-43c7-b30d-6b58d40bd077
    r"|qm:[0-9a-f:-]{36,80})$"  # JSM portal customers
)
USER_KEY = re.compile(r"^JIRAUSER\d+$")


def _spellings(user: Mapping[str, Any]) -> set[str]:
    """What a user may be called (case-folded), for the exact match over search hits."""
    out = {str(user.get(k) or "").casefold() for k in ("accountId", "name", "key", "displayName")}
    email = str(user.get("emailAddress") or "").casefold()
    if email:
        out |= {email, email.split("@", 1)[0]}
    return out - {""}


class JiraDirectory:
    def __init__(self, client: JiraClient, ttl: float) -> None:
        self.client = client
        self.people: TtlCache[str, Actor | None] = TtlCache(ttl)
        self.groups: TtlCache[str, frozenset[str]] = TtlCache(ttl)

    def resolve(self, name: str) -> Actor | None:
        spelling = name.strip()
        if not spelling:
            return None
        key = spelling if ACCOUNT_ID.match(spelling) else spelling.casefold()
        return self.people.get_or_load(key, lambda: self._look_up(spelling))

    def _look_up(self, spelling: str) -> Actor | None:
        if self.client.is_cloud and ACCOUNT_ID.match(spelling):
            return actor_from_user(self._user(spelling, by="accountId"))
        if not self.client.is_cloud:
            by = "key" if USER_KEY.match(spelling) else "username"
            found = self._user(spelling, by=by)
            if found:
                return actor_from_user(found)
        wanted = spelling.casefold()
        hits = {}
        for user in self.client.search_users(spelling):
            actor = actor_from_user(user)
            if actor is not None and wanted in _spellings(user):
                hits[actor.id] = actor
        return next(iter(hits.values())) if len(hits) == 1 else None  # ambiguous: nobody

    def _user(self, ident: str, by: str) -> dict[str, Any] | None:
        try:
            return self.client.user(ident, with_groups=False, by=by) or None
        except NotFoundError:
            return None

    def with_groups(self, actor: Actor) -> Actor:
        """The actor with the groups Jira says they are in (GET /user?expand=groups, cached)."""

        def load() -> frozenset[str]:
            by = "accountId" if self.client.is_cloud else "key"
            user = self.client.user(actor.id, with_groups=True, by=by)
            return with_groups(actor, user).groups

        return actor.model_copy(update={"groups": self.groups.get_or_load(actor.id, load)})
