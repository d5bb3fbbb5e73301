"""The seeded demo instance: project OPS with an approval workflow, four users and the custom
fields the example configs use. ``DEMO_ENV`` holds the connector account's credentials."""

from __future__ import annotations

from .state import JiraState

DEMO_ENV = {
    "JIRA_EMAIL": "jira-bot@example.com",
    "JIRA_API_TOKEN": "bot-token",
    "JIRA_PAT": "bot-token",
    "JIRA_WEBHOOK_SECRET": "demo-webhook-secret",
}


def seed_demo(sim: JiraState) -> None:
    """Awaiting Approval → Approved/Rejected → Done/Failed/Cancelled; users svc-approval (the
    connector, admin), alice (approver, group change-approvers), bob (requester), mallory
    (outsider). Every user is in jira-software-users, so may edit issues (and set their
    properties) and their own comments; editing anyone's comment needs jira-administrators,
    which nobody is in until a test adds them."""
    sim.add_user(
        "svc-approval",
        "Approval Connector Bot",
        "jira-bot@example.com",
        token="bot-token",
        account_id="712020:0b9d5a1e-1111-4c2e-9f00-bot000000001",
        admin=True,
        groups={"jira-software-users"},
    )
    sim.add_user(
        "alice",
        "Alice Approver",
        "alice@example.com",
        token="alice-token",
        account_id="5b10a2844c20165700ede21a",
        groups={"change-approvers", "jira-software-users"},
    )
    sim.add_user(
        "bob",
        "Bob Requester",
        "bob@example.com",
        token="bob-token",
        account_id="5b10a2844c20165700ede21b",
        groups={"jira-software-users"},
    )
    sim.add_user(
        "mallory",
        "Mallory Outsider",
        "mallory@example.com",
        token="mallory-token",
        account_id="5b10a2844c20165700ede21c",
        groups={"jira-software-users"},
    )
    for sid, name, cat in (
        ("10100", "Awaiting Approval", "new"),
        ("10101", "Approved", "indeterminate"),
        ("10102", "Rejected", "done"),
        ("10001", "Done", "done"),
        ("10103", "Failed", "done"),
        ("10104", "Cancelled", "done"),
        ("10105", "In Review", "indeterminate"),
    ):
        sim.add_status(sid, name, cat)
    sim.add_transition("21", "Approve", ["Awaiting Approval"], "Approved")
    sim.add_transition("31", "Reject", ["Awaiting Approval"], "Rejected")
    sim.add_transition(
        "41",
        "Mark executed",
        ["Approved"],
        "Done",
        screen_fields=["resolution"],
        required_fields=["resolution"],
    )
    sim.add_transition("51", "Mark failed", ["Approved"], "Failed")
    sim.add_transition("61", "Cancel", ["Awaiting Approval"], "Cancelled")
    sim.add_transition("71", "Close", ["Rejected"], "Done")
    sim.add_transition("81", "Start review", ["Awaiting Approval"], "In Review")
    sim.add_transition("91", "Reopen", ["Approved", "Rejected", "In Review"], "Awaiting Approval")
    sim.add_project(
        "OPS",
        "Operations",
        "10000",
        {"10002": "Task", "10003": "Change"},
        "Awaiting Approval",
        {"10300": "Email", "10301": "CRM"},
        permissions={
            "EDIT_ISSUES": {"jira-software-users"},
            "EDIT_OWN_COMMENTS": {"jira-software-users"},
            "EDIT_ALL_COMMENTS": {"jira-administrators"},
        },
    )
    sim.add_custom_field("customfield_10050", "Agent Request ID")
    sim.add_custom_field("customfield_10051", "Approvers", "multiuserpicker")
    sim.add_custom_field("customfield_10060", "Customer Email")
    sim.add_custom_field("customfield_10070", "Planned start", "datetime")
    sim.add_custom_field("customfield_10071", "Planned end", "datetime")
    sim.add_custom_field("customfield_10072", "Change date", "datepicker")
    sim.add_custom_field("customfield_10100", "Approved arguments", "textarea")  # approve with edits
