"""Who is who: requesters and approvers compared as the ticketing system's identities, never as
loose strings. A spelling (an e-mail, a user name, an id; whatever case and surrounding spaces)
is resolved through the adapter; a requester the system cannot resolve fails closed against any
approver one of its spellings could name."""

from __future__ import annotations

from connector.core.models import Actor, ApprovalRequest
from connector.core.settings import RouteConfig

from .context import ServiceContext


def spellings(name: str) -> set[str]:
    """The ways a person's name may be written: trimmed and case-folded, and for an e-mail its
    local part too ("Bob@Example.com " → {"bob@example.com", "bob"})."""
    text = name.strip().casefold()
    if not text:
        return set()
    out = {text}
    if "@" in text:
        out.add(text.split("@", 1)[0])
    return out


def actor_spellings(actor: Actor) -> set[str]:
    out: set[str] = set()
    for name in (*actor.names(), actor.display):
        out |= spellings(name)
    return out


class Identities:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    async def resolve(self, system: str, name: str) -> Actor | None:
        if not name.strip():
            return None
        return await self.ctx.adapter(system).resolve_identity(name.strip())

    async def requester_problem(self, request: ApprovalRequest, actor: Actor) -> str | None:
        """Why ``actor`` is (or may be) the person who asked for this call; None when not."""
        requester = request.requester.strip()
        if not requester:
            return None
        who = actor.display or actor.id
        resolved = await self.resolve(request.system, requester)
        if resolved is not None:
            if resolved.id == actor.id or resolved.names() & actor.names():
                return f"{who} requested this call and cannot approve it"
            return None
        if spellings(requester) & actor_spellings(actor):
            return (
                f"the requester {requester!r} is unknown to {request.system} and could be {who}; "
                "a requester who cannot be told apart from the approver cannot be approved for"
            )
        return None

    async def allowed(self, route: RouteConfig | None, request: ApprovalRequest, actor: Actor) -> bool:
        """Whether the route's approvers name this actor: ``*``, one of its groups, one of its
        ids (case and spaces aside), or a spelling that resolves to it."""
        if route is None:
            return False
        names = {n.strip().casefold() for n in actor.names()}
        groups = {g.strip().casefold() for g in actor.groups}
        unresolved = []
        for entry in route.approvers:
            allowed = entry.strip()
            if allowed == "*":
                return True
            if allowed.casefold().startswith("group:"):
                if allowed[6:].strip().casefold() in groups:
                    return True
            elif allowed.casefold() in names:
                return True
            else:
                unresolved.append(allowed)
        for allowed in unresolved:
            resolved = await self.resolve(request.system, allowed)
            if resolved is not None and resolved.id == actor.id:
                return True
        return False
