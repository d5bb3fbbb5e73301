"""The tally of a quorum route's votes, as arithmetic: distinct people, the newest vote of each,
one approver per group (a matching, not a count), and what a rejection does with and without
``any_reject``."""

from __future__ import annotations

from connector.core.approvals import Approvals, Ballot, tally
from connector.core.models import Verdict

A, R = Verdict.APPROVED, Verdict.REJECTED


def ballots(*votes: tuple[str, Verdict, set[str]]) -> list[Ballot]:
    return [Ballot(who, verdict, groups=frozenset(g), order=n) for n, (who, verdict, g) in enumerate(votes)]


def test_distinct_people_make_the_quorum_and_a_changed_mind_counts_once():
    rules = Approvals(quorum=2)
    assert tally(ballots(("alice", A, set()), ("alice", A, set())), rules).verdict is Verdict.PENDING
    result = tally(ballots(("alice", A, set()), ("bob", A, set())), rules)
    assert result.verdict is Verdict.APPROVED and result.decisive.voter == "bob"
    changed = tally(ballots(("alice", A, set()), ("bob", A, set()), ("bob", R, set())), rules)
    assert changed.verdict is Verdict.REJECTED and changed.approvers == ["alice"]


def test_one_approver_per_group_is_a_matching():
    rules = Approvals(from_groups=["ops", "security"])
    assert rules.quorum == 2  # an unset quorum takes one approver per group
    both_in_ops = ballots(("alice", A, {"ops", "security"}), ("bob", A, {"ops"}))
    assert tally(both_in_ops, rules).verdict is Verdict.APPROVED  # alice can stand for security
    only_ops = tally(ballots(("bob", A, {"ops"}), ("dave", A, {"ops"})), rules)
    assert only_ops.verdict is Verdict.PENDING and only_ops.missing_groups == ["security"]
    one_person = tally(ballots(("alice", A, {"ops", "security"})), rules)
    assert one_person.verdict is Verdict.PENDING  # one person never fills two groups


def test_without_any_reject_a_rejection_decides_only_when_the_quorum_is_out_of_reach():
    rules = Approvals(quorum=2, any_reject=False)
    one_no = ballots(("alice", A, set()), ("bob", R, set()))
    assert tally(one_no, rules, possible_voters=3).verdict is Verdict.PENDING  # carol may still approve
    assert tally(one_no, rules, possible_voters=2).verdict is Verdict.REJECTED
    assert (
        tally(one_no, rules, possible_voters=None).verdict is Verdict.PENDING
    )  # unknown: the deadline ends it
    assert tally(one_no, Approvals(quorum=2)).verdict is Verdict.REJECTED  # any_reject (the default)


def test_the_proposal_text_round_trips_and_is_left_empty_when_too_long():
    from connector.core.arguments_text import parse_edit, proposal_text

    arguments = {"to": "jane@example.com", "subject": "Grüße", "cc": []}
    assert parse_edit(proposal_text(arguments), "f") == (arguments, None)
    assert proposal_text(arguments, limit=10) == ""
    assert parse_edit("", "f") == (None, None)
    assert parse_edit("[1]", "field x")[1] == "field x must hold a JSON object of arguments, not a list"
    assert "line 1, column 2" in (parse_edit("{oops", "f")[1] or "")
