"""Parsers against recorded payloads: one fixture file per variant, one line per case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.servicenow.parse import (
    actor_from_user,
    approver_verdict,
    combine,
    latest_audit,
    parse_time,
    record_verdict,
    value,
)
from adapters.servicenow.settings import DecisionSettings
from connector.core.models import Verdict

FIXTURES = Path(__file__).parent / "fixtures"
CHANGE = DecisionSettings(approved_states=["-2"], rejected_states=["4"], pending_states=["-5", "-4", "-3"])
APPROVAL_ONLY = DecisionSettings()
STATES_ONLY = DecisionSettings(
    approval_field=None, approved_states=["-2"], rejected_states=["4"], pending_states=["-5", "-4", "-3"]
)
APPROVERS = DecisionSettings(source="approvers")
APPROVERS_ALL = DecisionSettings(source="approvers", rule="all")


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())["result"]


@pytest.mark.parametrize(
    ("fixture", "decision", "verdict"),
    [
        ("record__approved_scheduled.json", CHANGE, Verdict.APPROVED),
        ("record__approved_still_authorize.json", CHANGE, Verdict.PENDING),
        ("record__approved_still_authorize.json", APPROVAL_ONLY, Verdict.APPROVED),
        ("record__rejected_back_to_new.json", CHANGE, Verdict.REJECTED),
        ("record__canceled.json", CHANGE, Verdict.REJECTED),
        ("record__canceled.json", APPROVAL_ONLY, Verdict.PENDING),
        ("record__waiting_assess.json", CHANGE, Verdict.PENDING),
        ("record__unknown_approval_cancelled.json", CHANGE, Verdict.UNKNOWN),
        ("record__unknown_approval_cancelled.json", APPROVAL_ONLY, Verdict.UNKNOWN),
        ("record__unknown_legacy_state.json", CHANGE, Verdict.UNKNOWN),
        ("record__unknown_legacy_state.json", STATES_ONLY, Verdict.UNKNOWN),
        ("record__approved_scheduled.json", STATES_ONLY, Verdict.APPROVED),
        ("change_request_post.response_201.json", APPROVAL_ONLY, Verdict.PENDING),
        ("change_request_get_display_all.response_200.json", APPROVAL_ONLY, Verdict.PENDING),
    ],
)
def test_record_verdict(fixture: str, decision: DecisionSettings, verdict: Verdict) -> None:
    assert record_verdict(load(fixture), decision)[0] is verdict


def test_record_status_names_the_raw_values() -> None:
    assert record_verdict(load("record__approved_scheduled.json"), CHANGE)[1] == "approval=approved state=-2"


def test_list_fixture_rows() -> None:
    rows = load("change_request_list_updated_since.response_200.json")
    assert [record_verdict(r, APPROVAL_ONLY)[0] for r in rows] == [Verdict.APPROVED, Verdict.REJECTED]


@pytest.mark.parametrize(
    ("fixture", "decision", "verdict", "row_id"),
    [
        (
            "approvers__approved_one_not_required.json",
            APPROVERS,
            Verdict.APPROVED,
            "0e9a4c1f1b2c3d4e5f6a7b8c9d0e1f2a",
        ),
        (
            "approvers__approved_one_not_required.json",
            APPROVERS_ALL,
            Verdict.APPROVED,
            "0e9a4c1f1b2c3d4e5f6a7b8c9d0e1f2a",
        ),
        ("approvers__one_rejected.json", APPROVERS, Verdict.REJECTED, "r2"),
        ("approvers__waiting.json", APPROVERS, Verdict.PENDING, None),
        ("approvers__unknown_state.json", APPROVERS, Verdict.UNKNOWN, "r1"),
        ("approvers__half_approved.json", APPROVERS, Verdict.APPROVED, "r1"),
        ("approvers__half_approved.json", APPROVERS_ALL, Verdict.PENDING, None),
        ("table_list_empty.response_200.json", APPROVERS, Verdict.PENDING, None),
    ],
)
def test_approver_verdict(
    fixture: str, decision: DecisionSettings, verdict: Verdict, row_id: str | None
) -> None:
    vote = approver_verdict(load(fixture), decision)
    assert vote.verdict is verdict
    assert (value(vote.row, "sys_id") if vote.row else None) == row_id


def test_audit_names_the_approver_not_a_later_editor() -> None:
    row = latest_audit(load("sys_audit__approved_then_edited.json"), "approval", "approved")
    assert row is not None and value(row, "user") == "abel.tuter"


def test_audit_takes_the_newest_matching_change() -> None:
    row = latest_audit(load("sys_audit__approved_twice.json"), "approval", "approved")
    assert row is not None and value(row, "user") == "beth.anglin"


def test_audit_without_a_matching_change() -> None:
    assert latest_audit(load("sys_audit__approved_then_edited.json"), "approval", "rejected") is None


def test_value_reads_every_shape() -> None:
    record = load("change_request_post.response_201.json")
    assert value(record, "assignment_group") == "287ebd7da9fe198100f92cc8d1d2154e"  # {"link","value"}
    assert value(load("change_request_get_display_all.response_200.json"), "state") == "-5"  # display=all
    assert value({"n": 7, "b": True, "z": None}, "n") == "7"
    assert value({"b": True}, "b") == "true" and value({"z": None}, "z") == "" and value({}, "missing") == ""


def test_time_is_utc_with_one_second_resolution() -> None:
    when = parse_time("2026-05-04 09:41:07")
    assert when is not None and when.isoformat() == "2026-05-04T09:41:07+00:00"
    assert parse_time("04/05/2026 09:41") is None and parse_time("") is None


def test_combine_fails_closed() -> None:
    assert combine([]) is Verdict.UNKNOWN
    assert combine([Verdict.APPROVED, Verdict.UNKNOWN]) is Verdict.UNKNOWN
    assert combine([Verdict.REJECTED, Verdict.UNKNOWN]) is Verdict.REJECTED
    assert combine([Verdict.APPROVED, Verdict.PENDING]) is Verdict.PENDING


def test_actor_aliases_every_identifier() -> None:
    user = {
        "sys_id": "46d44a23",
        "user_name": "abel.tuter",
        "email": "abel@example.com",
        "name": "Abel Tuter",
    }
    actor = actor_from_user("abel.tuter", user, ["g1", "CAB Approval"])
    assert actor.id == "46d44a23" and actor.display == "Abel Tuter"
    assert actor.names() == {"46d44a23", "abel.tuter", "abel@example.com"}
    assert actor.groups == {"g1", "CAB Approval"}


def test_actor_without_a_readable_user_row() -> None:
    actor = actor_from_user("system", None)
    assert actor.id == "system" and actor.names() == {"system"}
