"""Per-route quorum and separation of duties, as configuration, and the tally of votes: how many
distinct allowed approvers must approve (``quorum``), whether one must come from each of some
groups (``from_groups``), and what a rejection does (``any_reject``). Pure data and arithmetic;
which votes count at all (requester, the connector's own account, allowed approvers) is decided
before the tally by the service (``connector.core.service.votes``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connector.core.models import Verdict


class Approvals(BaseModel):
    """Mixed into a route's configuration."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    quorum: int = Field(default=1, ge=1, le=50, description="distinct allowed approvers needed")
    from_groups: list[str] = Field(
        default_factory=list, description="one approver from each of these groups (names or ids)"
    )
    any_reject: bool = Field(
        default=True,
        description="any allowed rejection rejects; false: only once the quorum can no longer be reached",
    )

    @model_validator(mode="after")
    def _one_per_group_by_default(self) -> Approvals:
        if "quorum" not in self.model_fields_set and self.from_groups:
            self.quorum = max(self.quorum, len(self.from_groups))
        return self

    def quorum_problem(self) -> tuple[str, str] | None:
        """(key, why) when ``from_groups`` and ``quorum`` do not fit together; None when they do.
        An unset quorum takes one approver per group."""
        groups = [g.strip() for g in self.from_groups]
        if any(not g for g in groups) or len({g.casefold() for g in groups}) != len(groups):
            return "from_groups", "name each group once (no empty names)"
        if len(groups) > self.quorum:
            return "quorum", (
                f"quorum {self.quorum} is fewer than the {len(groups)} groups in from_groups: "
                "each group needs its own approver"
            )
        return None

    @property
    def counts_votes(self) -> bool:
        """Whether decisions on this route are tallied from votes (more than one approver)."""
        return self.quorum > 1 or bool(self.from_groups)


@dataclass(frozen=True)
class Ballot:
    """One counted vote, as the tally sees it."""

    voter: str  # the ticketing system's id of the person
    verdict: Verdict
    at: datetime | None = None
    groups: frozenset[str] = frozenset()  # the voter's groups (names and ids, casefolded)
    order: int = 0  # when it was recorded (later wins for a person who changed their mind)


@dataclass
class Tally:
    verdict: Verdict  # APPROVED, REJECTED or PENDING
    approvers: list[str] = field(default_factory=list)  # distinct voters who approve, oldest first
    rejecters: list[str] = field(default_factory=list)
    decisive: Ballot | None = None  # the vote that decided (the newest that counted)
    first_approval: datetime | None = None  # edits must come before this
    approval_times_known: bool = True  # False when a counted approval carries no time of its own
    missing_groups: list[str] = field(default_factory=list)

    def summary(self, quorum: int) -> str:
        text = f"{len(self.approvers)} of {quorum} approvals"
        if self.rejecters:
            text += f", {len(self.rejecters)} rejection(s)"
        if self.missing_groups:
            text += "; still needed from: " + ", ".join(self.missing_groups)
        return text


def latest_per_voter(ballots: Iterable[Ballot]) -> dict[str, Ballot]:
    """The same person twice counts once: their newest vote."""
    latest: dict[str, Ballot] = {}
    for ballot in sorted(ballots, key=lambda b: b.order):
        latest[ballot.voter] = ballot
    return latest


def cover_groups(groups: Sequence[str], approvers: Sequence[Ballot]) -> list[str]:
    """The groups that cannot each get a distinct approver (a bipartite matching, augmenting
    paths: group lists are short)."""
    wanted = [g.strip().casefold() for g in groups]
    match: dict[int, int] = {}  # approver index -> group index

    def assign(g: int, seen: set[int]) -> bool:
        for a, ballot in enumerate(approvers):
            if wanted[g] in ballot.groups and a not in seen:
                seen.add(a)
                if a not in match or assign(match[a], seen):
                    match[a] = g
                    return True
        return False

    return [groups[g] for g in range(len(groups)) if not assign(g, set())]


def tally(ballots: Iterable[Ballot], rules: Approvals, possible_voters: int | None = None) -> Tally:
    """What the counted votes decide. ``possible_voters``: how many people could vote at all
    (the route names individuals only), so that with ``any_reject: false`` rejections decide once
    the quorum can no longer be reached; None when unknown (groups, '*'): then only the deadline
    ends a request that rejections keep from its quorum."""
    latest = latest_per_voter(ballots)
    approving = sorted((b for b in latest.values() if b.verdict is Verdict.APPROVED), key=lambda b: b.order)
    rejecting = sorted((b for b in latest.values() if b.verdict is Verdict.REJECTED), key=lambda b: b.order)
    result = Tally(
        verdict=Verdict.PENDING,
        approvers=[b.voter for b in approving],
        rejecters=[b.voter for b in rejecting],
        first_approval=min((b.at for b in approving if b.at), default=None),
        approval_times_known=all(b.at is not None for b in approving),
    )
    if rejecting and (
        rules.any_reject or (possible_voters is not None and possible_voters - len(rejecting) < rules.quorum)
    ):
        result.verdict, result.decisive = Verdict.REJECTED, rejecting[-1]
        return result
    result.missing_groups = cover_groups(rules.from_groups, approving) if rules.from_groups else []
    if len(approving) >= rules.quorum and not result.missing_groups:
        result.verdict, result.decisive = Verdict.APPROVED, approving[-1]
    return result
