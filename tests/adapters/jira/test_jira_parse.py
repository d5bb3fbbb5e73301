"""Parsers against recorded payloads, one fixture per variant (Zulip-style one-line tests)."""

from __future__ import annotations

from datetime import datetime, timezone

from adapters.jira.parse import (
    StatusInfo,
    actor_from_user,
    change_into,
    changelog_complete,
    decision_from_approvals,
    decision_from_issue,
    parse_time,
    request_id_from_labels,
    request_label,
    route_from_labels,
    route_label,
    status_of,
    verdict_for,
    with_groups,
)
from adapters.jira.settings import DecisionSettings
from connector.core.models import Verdict
from tests.adapters.jira.jira_testlib import fixture

D = DecisionSettings()
BOT = "712020:0b9d5a1e-1111-4c2e-9f00-bot000000001"
MIA = "5b10a2844c20165700ede21g"


def decide(name: str, decision: DecisionSettings = D):
    return decision_from_issue(fixture(name), decision)


def test_approved_fixture_is_approved():
    assert decide("issue.get.approved.expand-changelog.json").verdict is Verdict.APPROVED


def test_approved_fixture_actor_is_changelog_author_not_reporter():
    assert decide("issue.get.approved.expand-changelog.json").actor.id == MIA


def test_actor_aliases_hold_email_and_account_id_but_not_display_name():
    actor = decide("issue.get.approved.expand-changelog.json").actor
    assert actor.aliases == {MIA, "mia@example.com"} and "Mia Krystof" not in actor.names()


def test_decided_at_is_the_status_change_time():
    when = decide("issue.get.approved.expand-changelog.json").decided_at
    assert when == datetime(2026, 1, 21, 10, 14, 5, 412000, tzinfo=timezone.utc)


def test_pending_fixture_is_pending_without_actor():
    got = decide("issue.get.pending.json")
    assert (got.verdict, got.actor) == (Verdict.PENDING, None)


def test_status_by_id_counts_like_by_name():
    assert decide(
        "issue.get.approved.expand-changelog.json", DecisionSettings(approved=["10101"])
    ).verdict is (Verdict.APPROVED)


def test_status_names_are_case_insensitive():
    assert verdict_for(StatusInfo("1", "APPROVED", "indeterminate"), D) is Verdict.APPROVED


def test_done_category_not_approved_counts_as_rejected():
    assert verdict_for(StatusInfo("9", "Won't do", "done"), D) is Verdict.REJECTED


def test_category_fallback_can_be_switched_off():
    assert verdict_for(StatusInfo("9", "Won't do", "done"), DecisionSettings(rejected_categories=[])) is (
        Verdict.UNKNOWN
    )


def test_unmapped_in_progress_status_is_unknown():
    assert verdict_for(StatusInfo("10105", "In Review", "indeterminate"), D) is Verdict.UNKNOWN


def test_listed_approved_status_in_done_category_stays_approved():
    assert verdict_for(StatusInfo("5", "Approved", "done"), D) is Verdict.APPROVED


def test_search_page1_first_issue_status():
    assert status_of(fixture("search.jql.page1.json")["issues"][0]) == StatusInfo(
        "10101", "Approved", "indeterminate"
    )


def test_search_page1_second_issue_is_rejected():
    assert verdict_for(status_of(fixture("search.jql.page1.json")["issues"][1]), D) is Verdict.REJECTED


def test_search_page2_issue_is_pending():
    assert verdict_for(status_of(fixture("search.jql.page2.json")["issues"][0]), D) is Verdict.PENDING


def test_dc_search_issue_status():
    assert status_of(fixture("search.legacy.datacenter.page.json")["issues"][0]).name == "Approved"


def test_changelog_page_oldest_first_still_finds_latest_change():
    histories = fixture("issue.changelog.page.json")["values"]
    status = StatusInfo(str(histories[-1]["items"][0]["to"]), "", "")
    found = change_into(histories, status)
    assert (
        found is not None
        and found["id"]
        == max(
            (
                h
                for h in histories
                if any(i["field"] == "status" and str(i["to"]) == status.id for i in h["items"])
            ),
            key=lambda h: h["created"],
        )["id"]
    )


def test_latest_change_into_status_wins_over_older_one():
    older = {
        "id": "1",
        "created": "2026-01-01T10:00:00.000+0000",
        "author": {"accountId": "old"},
        "items": [{"field": "status", "to": "7", "toString": "Approved"}],
    }
    newer = {
        "id": "2",
        "created": "2026-01-02T10:00:00.000+0000",
        "author": {"accountId": "new"},
        "items": [{"field": "status", "to": "7", "toString": "Approved"}],
    }
    assert change_into([older, newer], StatusInfo("7", "Approved", ""))["author"]["accountId"] == "new"


def test_label_only_history_is_not_a_status_change():
    issue = fixture("issue.get.approved.expand-changelog.json")
    bot_history = [h for h in issue["changelog"]["histories"] if h["author"]["accountId"] == BOT]
    assert change_into(bot_history, status_of(issue)) is None


def test_changelog_completeness():
    assert changelog_complete(fixture("issue.get.approved.expand-changelog.json"))


def test_truncated_changelog_is_incomplete():
    issue = fixture("issue.get.approved.expand-changelog.json")
    issue["changelog"]["total"] = 60
    assert not changelog_complete(issue)


def test_cloud_user_actor():
    assert actor_from_user(fixture("myself.cloud.json")).id == BOT


def test_dc_user_actor_is_key_with_name_alias():
    user = fixture("webhook.datacenter.issue_updated.transition.json")["user"]
    assert actor_from_user(user).id == "JIRAUSER10400" and "mkrystof" in actor_from_user(user).aliases


def test_user_without_identity_is_no_actor():
    assert actor_from_user({"displayName": "Someone"}) is None


def test_groups_added_from_user_expand():
    actor = actor_from_user({"accountId": "a"})
    user = {"groups": {"items": [{"name": "change-approvers", "groupId": "g1"}]}}
    assert with_groups(actor, user).groups == {"change-approvers", "g1"}


def test_jsm_pending_approval_is_pending():
    status = StatusInfo("10100", "Awaiting Approval", "new")
    assert decision_from_approvals(fixture("jsm.approvals.list.json"), status, D).verdict is Verdict.PENDING


def test_jsm_approved_approval_names_the_approver():
    data = fixture("jsm.approvals.list.json")
    data["values"][0]["finalDecision"] = "approved"
    data["values"][0]["approvers"][0]["approverDecision"] = "approved"
    got = decision_from_approvals(data, StatusInfo("10101", "Approved", "indeterminate"), D)
    assert (got.verdict, got.actor.id) == (Verdict.APPROVED, MIA)


def test_jsm_declined_is_rejected():
    data = fixture("jsm.approvals.list.json")
    data["values"][0]["finalDecision"] = "declined"
    data["values"][0]["approvers"][0]["approverDecision"] = "declined"
    assert decision_from_approvals(data, StatusInfo("1", "Rejected", "done"), D).verdict is Verdict.REJECTED


def test_jsm_status_moved_without_completed_approval_is_unknown():
    status = StatusInfo("10101", "Approved", "indeterminate")
    assert decision_from_approvals(fixture("jsm.approvals.list.json"), status, D).verdict is Verdict.UNKNOWN


def test_request_label_round_trip():
    assert request_id_from_labels(["approval-connector", request_label("r-42"), route_label("x")]) == "r-42"


def test_route_label_round_trip():
    assert route_from_labels(["acr-r-42", route_label("customer-email")]) == "customer-email"


def test_request_label_has_no_spaces():
    assert " " not in request_label("id with spaces")


def test_parse_time_offset():
    assert parse_time("2026-01-21T11:14:05.000+0100") == datetime(2026, 1, 21, 10, 14, 5, tzinfo=timezone.utc)


def test_parse_time_garbage():
    assert parse_time("yesterday") is None
