"""Votes of quorum routes: each vote the ticket shows is judged once (the connector's own account,
the requester and anyone the route does not allow never count, for every vote), recorded and
listed on the ticket once across replicas, and the votes currently on the ticket are tallied into
the decision the service applies (``connector.core.approvals``)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from connector.core.approvals import Ballot, Tally, tally
from connector.core.models import (
    ApprovalRequest,
    OutcomeReport,
    ReportKind,
    TicketDecision,
    Verdict,
    Vote,
)
from connector.core.reports import outcome_report
from connector.core.settings import RouteConfig

from .context import ServiceContext
from .identity import Identities
from .transitions import Transitions

REOPEN_MARGIN = timedelta(seconds=1)  # waiting_since later than this after creation: re-opened


def vote_key(vote: Vote) -> str:
    return hashlib.sha256(vote.id.encode("utf-8")).hexdigest()


def possible_voters(route: RouteConfig) -> int | None:
    """How many people could vote: known only when the route names individuals only."""
    entries = [a.strip() for a in route.approvers]
    if any(a == "*" or a.casefold().startswith("group:") for a in entries):
        return None
    return len({a.casefold() for a in entries})


def stale(request: ApprovalRequest, vote: Vote) -> bool:
    """A vote cast before the ticket was re-opened for a fresh decision (its approval went stale,
    ``valid_for``) is history: it stays on the ticket but no longer counts."""
    since = request.waiting_since
    reopened = since is not None and since - request.created_at > REOPEN_MARGIN
    return bool(reopened and vote.at is not None and since is not None and vote.at < since)


class VoteCounter:
    def __init__(self, ctx: ServiceContext, transitions: Transitions, identities: Identities) -> None:
        self.ctx = ctx
        self.transitions = transitions
        self.identities = identities

    async def problem(self, request: ApprovalRequest, route: RouteConfig, vote: Vote) -> str | None:
        """Why this vote does not count, or None when it does."""
        actor = vote.actor
        who = actor.display or actor.id
        if vote.verdict not in (Verdict.APPROVED, Verdict.REJECTED):
            return f"{vote.verdict.value} is not a vote"
        own = {n.strip().casefold() for n in await self.ctx.adapter(request.system).service_identities()}
        if own & {n.strip().casefold() for n in actor.names()}:
            return "the connector's own account never votes"
        problem = await self.identities.requester_problem(request, actor)
        if problem:
            return problem
        if not await self.identities.allowed(route, request, actor):
            return f"{who} is not an allowed approver for route {request.route}"
        return None

    async def count(
        self, request: ApprovalRequest, route: RouteConfig, decision: TicketDecision
    ) -> tuple[TicketDecision, datetime | None]:
        """The decision the votes on the ticket reach (PENDING while the quorum is not there), and
        when the first counted approval was made (an edit after it never runs)."""
        if decision.verdict is Verdict.UNKNOWN:
            return decision, None  # an unmapped status fails closed as it always does
        if decision.votes is None:
            reason = f"system {request.system!r} reported no votes for a route with a quorum"
            return decision.model_copy(update={"verdict": Verdict.UNKNOWN, "status": reason}), None
        stored = {row["vote_key"]: row for row in await self.ctx.db(self.ctx.store.votes, request.id)}
        current = {vote_key(v): v for v in decision.votes}
        judged: dict[str, str | None] = {}
        for key, vote in current.items():
            if key in stored:
                judged[key] = None if stored[key]["counted"] else stored[key]["reason"] or "not counted"
            elif stale(request, vote):
                judged[key] = "cast before the ticket was re-opened for a fresh decision"
            else:
                judged[key] = await self.problem(request, route, vote)
        ballots = [
            self._ballot(v, n)
            for n, (key, v) in enumerate(current.items())
            if judged[key] is None and not stale(request, v)
        ]
        result = tally(ballots, route, possible_voters(route))
        new = [(key, v) for key, v in current.items() if key not in stored]
        if new:
            rows = [self._row(request, route, key, vote, judged[key], result) for key, vote in new]
            if await self.ctx.db(self.transitions.voted, request.id, rows):
                self.ctx.recorder.decision("vote")
        shown = self._decision(decision, result, route, current)
        edited = shown.edited_arguments not in (None, request.arguments)
        if edited and not result.approval_times_known and shown.edit_problem is None:
            # an edit counts only if made before the approvals it is judged with; here the system
            # gives no time for each approver (JSM: one time for the whole approval)
            why = (
                "the approvals carry no time of their own, so the edit cannot be shown to come before "
                "them; edit first, then ask for the approvals"
            )
            shown = shown.model_copy(update={"edit_problem": why})
        return shown, result.first_approval or decision.decided_at

    @staticmethod
    def _ballot(vote: Vote, order: int) -> Ballot:
        # the voter's own groups only: the group a ServiceNow row asked is not membership (a
        # delegate or an admin can answer a group's row), and from_groups wants a member
        groups = {g.strip().casefold() for g in vote.actor.groups}
        at = vote.at if vote.at_is_own else None  # an edit is judged against each approver's own time
        return Ballot(vote.actor.id, vote.verdict, at, frozenset(groups), order)

    def _row(
        self,
        request: ApprovalRequest,
        route: RouteConfig,
        key: str,
        vote: Vote,
        problem: str | None,
        result: Tally,
    ) -> tuple[dict, OutcomeReport]:
        who = vote.actor.display or vote.actor.id
        verb = "approve" if vote.verdict is Verdict.APPROVED else "reject"
        if problem is None:
            text = f"Vote recorded: {verb} by {who}. {result.summary(route.quorum)}."
        else:
            text = f"Vote not counted: {verb} by {who} ({problem}). {result.summary(route.quorum)}."
        report = outcome_report(request, ReportKind.VOTE, text)
        report = report.model_copy(update={"report_id": f"{request.id}:vote:{key[:16]}"})
        row = {
            "vote_key": key,
            "vote_id": vote.id,
            "voter": vote.actor.id,
            "voter_name": vote.actor.display,
            "verdict": vote.verdict.value,
            "counted": problem is None,
            "reason": problem,
            "groups": sorted(vote.actor.groups | ({vote.group} - {""})),
            "voted_at": vote.at,
        }
        return row, report

    @staticmethod
    def _decision(
        decision: TicketDecision, result: Tally, route: RouteConfig, current: dict[str, Vote]
    ) -> TicketDecision:
        status = f"{decision.status} ({result.summary(route.quorum)})"
        if result.decisive is None:
            return decision.model_copy(update={"verdict": Verdict.PENDING, "status": status})
        actor = next(v.actor for v in current.values() if v.actor.id == result.decisive.voter)
        return decision.model_copy(
            update={
                "verdict": result.verdict,
                "actor": actor,
                "status": status,
                "decided_at": result.decisive.at or decision.decided_at,
                "reason": decision.reason if result.verdict is Verdict.REJECTED else "",
            }
        )
