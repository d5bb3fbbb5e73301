"""The Jira simulator's users and issue reads as a client sees them: who created an issue (not the
reporter it names), the transitions an issue read can carry (``expand=transitions``), and the user
look-ups (Cloud: accountId and the ``query`` search; Data Center: user name, key, ``username``
search)."""

from __future__ import annotations

from tests.adapters.jira.test_jira_sim_properties import call, create_body

BOB = "5b10a2844c20165700ede21b"


def test_creator_is_who_created_even_when_the_reporter_is_someone_else(sim):
    body = create_body()
    body["fields"]["reporter"] = {"accountId": BOB}
    created = call(sim, "POST", "/issue", json=body).json()
    fields = call(sim, "GET", f"/issue/{created['key']}?fields=creator,reporter").json()["fields"]
    assert fields["reporter"]["accountId"] == BOB
    assert fields["creator"]["displayName"] == "Approval Connector Bot"


def test_issue_read_expands_the_callers_transitions(sim):
    issue = sim.create_issue()
    shown = call(sim, "GET", f"/issue/{issue.key}?fields=status&expand=changelog,transitions").json()
    listed = call(sim, "GET", f"/issue/{issue.key}/transitions").json()["transitions"]
    assert [t["name"] for t in shown["transitions"]] == [t["name"] for t in listed]
    assert {"Approve", "Reject"} <= {t["name"] for t in shown["transitions"]}
    assert "transitions" not in call(sim, "GET", f"/issue/{issue.key}?fields=status").json()


def test_cloud_user_by_account_id_only(sim):
    assert call(sim, "GET", f"/user?accountId={BOB}").json()["emailAddress"] == "bob@example.com"
    assert call(sim, "GET", "/user?accountId=bob").status_code == 404
    assert call(sim, "GET", "/user?username=bob").status_code == 404  # gone on Cloud


def test_cloud_user_search_matches_prefixes_of_display_name_and_email(sim):
    def found(text: str) -> list[str]:
        return [u["accountId"] for u in call(sim, "GET", "/user/search", params={"query": text}).json()]

    assert found("BOB@EXAMPLE.com") == [BOB]
    assert found("Bob Req") == [BOB]
    assert BOB in found("bo") and found("nobody-here") == []
    assert call(sim, "GET", "/user/search").status_code == 400


def test_datacenter_user_name_is_case_insensitive_and_keys_work(dc_sim):
    bob = call(dc_sim, "GET", "/user?username=BOB").json()
    assert bob["name"] == "bob"
    assert call(dc_sim, "GET", f"/user?key={bob['key']}").json()["name"] == "bob"
    names = [u["name"] for u in call(dc_sim, "GET", "/user/search", params={"username": "bob@ex"}).json()]
    assert names == ["bob"]


def test_issue_property_is_deleted_by_an_editor_only(sim):
    issue = sim.create_issue()
    sim.set_issue_property(issue.key, "approval-connector", {"seal": "x"}, actor="alice")
    sim.projects["OPS"].permissions["EDIT_ISSUES"] = {"jira-administrators"}
    refused = call(sim, "DELETE", f"/issue/{issue.key}/properties/approval-connector", user="mallory")
    assert refused.status_code == 403 and "approval-connector" in sim.issue(issue.key).properties
    sim.projects["OPS"].permissions.pop("EDIT_ISSUES")
    sim.delete_issue_property(issue.key, "approval-connector", actor="mallory")
    assert call(sim, "GET", f"/issue/{issue.key}/properties/approval-connector").status_code == 404
