"""The seeded demo instance for the change-triage example."""

from __future__ import annotations

from .api import ServiceNowSimulator


def seeded_demo(
    base_url: str = "https://sim.service-now.test",
    *,
    service_password: str = "svc-password",
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> ServiceNowSimulator:
    """An instance ready for the change-triage example: the connector's account, a change
    manager approving in "CAB Approval", a requester, an outsider, choices and an OAuth client."""
    sim = ServiceNowSimulator(base_url)
    sim.add_user(
        "svc_connector",
        name="Approval Connector",
        password=service_password,
        roles=["itil"],
        web_service_only=True,
    )
    sim.add_user(
        "change.manager",
        name="Casey Manager",
        email="casey.manager@example.com",
        password="manager-password",
        roles=["itil", "change_manager"],
    )
    sim.add_user("requester", name="Riley Requester", roles=["itil"])
    sim.add_user("outsider", name="Oscar Outsider", roles=["itil"])
    sim.add_group("CAB Approval", ["change.manager"])
    sim.add_group("Platform Operations", ["requester"])
    sim.add_oauth_client("connector-client", "connector-client-secret", "svc_connector")
    sim.require_approval("change_request", "CAB Approval")
    sim.add_field("change_request", "u_agent_run")
    sim.add_field("change_request", "u_approved_arguments")  # approve with edits (a large string)
    sim.read_roles.update({"sys_audit": {"itil"}, "sys_dictionary": {"itil"}, "sys_choice": {"itil"}})
    choices = {
        ("change_request", "state"): [
            ("-5", "New"),
            ("-4", "Assess"),
            ("-3", "Authorize"),
            ("-2", "Scheduled"),
            ("-1", "Implement"),
            ("0", "Review"),
            ("3", "Closed"),
            ("4", "Canceled"),
        ],
        ("change_request", "type"): [
            ("normal", "Normal"),
            ("standard", "Standard"),
            ("emergency", "Emergency"),
        ],
        ("change_request", "category"): [
            ("Software", "Software"),
            ("Hardware", "Hardware"),
            ("Network", "Network"),
            ("Other", "Other"),
        ],
        ("change_request", "risk"): [("1", "Very High"), ("2", "High"), ("3", "Moderate"), ("4", "Low")],
        ("change_request", "close_code"): [
            ("successful", "Successful"),
            ("successful_issues", "Successful with issues"),
            ("unsuccessful", "Unsuccessful"),
        ],
        ("task", "approval"): [
            ("not requested", "Not Yet Requested"),
            ("requested", "Requested"),
            ("approved", "Approved"),
            ("rejected", "Rejected"),
        ],
        ("task", "impact"): [("1", "1 - High"), ("2", "2 - Medium"), ("3", "3 - Low")],
        ("task", "urgency"): [("1", "1 - High"), ("2", "2 - Medium"), ("3", "3 - Low")],
        ("task", "priority"): [
            ("1", "1 - Critical"),
            ("2", "2 - High"),
            ("3", "3 - Moderate"),
            ("4", "4 - Low"),
        ],
        ("incident", "state"): [
            ("1", "New"),
            ("2", "In Progress"),
            ("3", "On Hold"),
            ("6", "Resolved"),
            ("7", "Closed"),
            ("8", "Canceled"),
        ],
        ("sysapproval_approver", "state"): [
            ("not requested", "Not Yet Requested"),
            ("requested", "Requested"),
            ("approved", "Approved"),
            ("rejected", "Rejected"),
            ("cancelled", "Cancelled"),
            ("not_required", "No Longer Required"),
        ],
    }
    for (table, element), values in choices.items():
        for value, label in values:
            sim.add_choice(table, element, value, label)
    if webhook_url and webhook_secret:
        sim.set_webhook(webhook_url, webhook_secret)
    return sim
