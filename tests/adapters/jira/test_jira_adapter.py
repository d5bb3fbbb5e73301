"""The adapter through the stateful simulator, in-process: create, poll, read, report, retries."""

from __future__ import annotations

import pytest
import responses

from adapters.jira.simulator import JiraSimulator
from connector.core.errors import (
    AmbiguousCreate,
    PermissionDenied,
    RateLimitedError,
    WebhookRejected,
)
from connector.core.models import OutcomeReport, PendingTicket, ReportKind, TicketRef, Verdict
from tests.adapters.jira.jira_testlib import ROUTE, build_adapter, make_request, route_settings

ALICE = "5b10a2844c20165700ede21a"
BOT = "712020:0b9d5a1e-1111-4c2e-9f00-bot000000001"


def pending(request, ref: TicketRef) -> PendingTicket:
    return PendingTicket(
        request_id=request.id, route=request.route, ticket=ref, created_at=request.created_at
    )


def report(
    kind: ReportKind = ReportKind.SUCCEEDED, report_id: str = "rep-1", final: bool = True
) -> OutcomeReport:
    return OutcomeReport(
        report_id=report_id, request_id="req-1", kind=kind, text="Sent. Result: *ok*", final=final
    )


@pytest.fixture
def ticket(adapter, sim):
    request = make_request()
    return request, adapter.create_ticket(request)


def test_create_maps_fields(adapter, sim, ticket):
    request, ref = ticket
    issue = sim.issue(ref.key)
    assert issue.fields["priority"]["name"] == "High"
    assert issue.fields["components"] == [{"id": "10300", "name": "Email"}]
    assert issue.fields["customfield_10060"] == "customer@example.com"  # by display name via GET /field
    assert sim.statuses[issue.status].name == "Awaiting Approval"
    assert ref.url == f"{sim.base_url}/browse/{ref.key}"


def test_create_labels_carry_request_and_route(sim, ticket):
    _, ref = ticket
    assert sim.issue(ref.key).fields["labels"] == [
        "approval-connector",
        "acr-req-1",
        "acr.route-customer-email",
        "customer-email",
    ]


def test_create_description_is_escaped_with_digest(sim, ticket):
    request, ref = ticket
    text = sim.issue(ref.key).fields["description"]
    assert "Hello \\*there\\*" in text and request.arguments_digest in text and "[~accountid" not in text


def test_request_id_field_set_and_used_for_lookup(sim):
    adapter = build_adapter(sim, request_id_field="Agent Request ID")
    request = make_request("req-f")
    ref = adapter.create_ticket(request)
    assert sim.issue(ref.key).fields["customfield_10050"] == "req-f"
    sim.issue(ref.key).fields["labels"].remove("acr-req-f")
    assert adapter.find_ticket(request) == ref


def test_create_lost_before_anything_happened_is_ambiguous_not_reposted(adapter, sim):
    sim.inject_fault(503, method="POST", path=r"/issue$")
    with pytest.raises(AmbiguousCreate):
        adapter.create_ticket(make_request())  # 503: not re-POSTed blindly; the core decides later
    assert len(sim.issues) == 0
    assert sim.call_count("POST", r"/issue$") == 1


def test_poll_without_pending_makes_no_call(adapter, sim):
    adapter.poll([], None)
    assert sim.call_count() == 0


def test_poll_nothing_decided(adapter, sim, ticket):
    request, ref = ticket
    assert adapter.poll([pending(request, ref)], None).events == []


def test_poll_is_one_search_for_many_tickets(adapter, sim):
    waiting = []
    for n in range(5):
        request = make_request(f"req-{n}")
        waiting.append(pending(request, adapter.create_ticket(request)))
    for p in waiting[:3]:
        sim.transition(p.ticket.key, "Approve", actor="alice")
    before = sim.call_count("POST", "/search")
    events = adapter.poll(waiting, None).events
    assert sorted(e.request_id for e in events) == ["req-0", "req-1", "req-2"]
    assert sim.call_count("POST", "/search") - before == 2  # page_size 2: 3 hits = 2 pages of ONE query
    assert sim.call_count("GET", r"/issue/\d+$") == 0  # decisions came with the search (changelog expanded)


def test_poll_query_has_no_local_timestamp_and_does_not_grow_with_pending(adapter, sim, ticket):
    """JQL dates are minute-resolution in the searching user's zone: only a relative window (which
    Jira evaluates against its own clock) is allowed, and the query is the same size for 1 or 500
    waiting requests (one search per cycle, flat cost)."""
    import re

    request, ref = ticket
    adapter.poll([pending(request, ref)], None)
    one = [b for m, p, b in sim.bodies if p.endswith("/search/jql")][-1]["jql"]
    many = [pending(make_request(f"req-{n}"), ref) for n in range(500)]
    adapter.poll(many, None)
    five_hundred = [b for m, p, b in sim.bodies if p.endswith("/search/jql")][-1]["jql"]
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}", one)  # no absolute date or time
    assert re.search(r"updated >= -\d+m", one)
    assert len(five_hundred) == len(one) and "acr-req-" not in one


def test_cancelled_by_done_category_is_rejected(adapter, sim, ticket):
    request, ref = ticket
    sim.transition(ref.key, "Cancel", actor="alice")
    assert adapter.read_decision(ref, request).verdict is Verdict.REJECTED


def test_actor_is_author_of_latest_change_into_status(adapter, sim, ticket):
    request, ref = ticket
    sim.transition(ref.key, "Approve", actor="mallory")
    sim.transition(ref.key, "Reopen", actor="alice")
    sim.transition(ref.key, "Approve", actor="alice")
    assert adapter.read_decision(ref, request).actor.id == ALICE


def test_truncated_search_changelog_is_completed(sim):
    sim.changelog_cap = 0
    adapter = build_adapter(sim)
    request = make_request()
    ref = adapter.create_ticket(request)
    sim.transition(ref.key, "Approve", actor="alice")
    [event] = adapter.poll([pending(request, ref)], None).events
    assert event.decision.actor.id == ALICE and sim.call_count("GET", "/changelog") == 1


def test_groups_not_fetched_by_default(adapter, sim, ticket):
    request, ref = ticket
    sim.transition(ref.key, "Approve", actor="alice")
    assert adapter.read_decision(ref, request).actor.groups == frozenset()
    assert sim.call_count("GET", "/user$") == 0


def test_report_success_comments_and_transitions_in_one_call(adapter, sim, ticket):
    _, ref = ticket
    sim.transition(ref.key, "Approve", actor="alice")
    adapter.report(ref, report(), attempt=0)
    assert sim.status_of(ref.key) == "Done" and sim.issue(ref.key).fields["resolution"]["name"] == "Done"
    [comment] = sim.issue(ref.key).comments
    assert comment["body"] == "Sent. Result: \\*ok\\*"  # no visible marker, only needed escapes
    assert comment["properties"]["approval-connector-report"] == {"report": "rep-1"}
    assert sim.call_count("POST", "/comment$") == 0 and sim.call_count("POST", "/transitions$") == 1


def test_report_retry_after_comment_landed_still_transitions(adapter, sim, ticket):
    _, ref = ticket
    sim.transition(ref.key, "Approve", actor="alice")
    adapter.report(ref, report(final=False), attempt=0)  # comment only landed
    adapter.report(ref, report(), attempt=1)
    assert len(sim.comment_bodies(ref.key)) == 1 and sim.status_of(ref.key) == "Done"


def test_marker_forged_by_human_does_not_suppress_report(adapter, sim, ticket):
    _, ref = ticket
    sim.transition(ref.key, "Approve", actor="alice")
    sim.comment(ref.key, "acr-report:rep\\-1", actor="mallory")  # the old visible marker
    with sim.lock:  # and the property, set through the comment API by someone else
        forged = {"approval-connector-report": {"report": "rep-1"}}
        sim.add_comment(sim.issue(ref.key), sim.users["mallory"], "done!", properties=forged)
    adapter.report(ref, report(), attempt=1)
    assert len(sim.comment_bodies(ref.key)) == 3 and sim.status_of(ref.key) == "Done"


def test_report_falls_back_when_screen_refuses_comment(adapter, sim, ticket):
    _, ref = ticket
    next(t for t in sim.workflow if t.name == "Mark executed").comment_allowed = False
    sim.transition(ref.key, "Approve", actor="alice")
    adapter.report(ref, report(), attempt=0)
    assert sim.status_of(ref.key) == "Done" and len(sim.comment_bodies(ref.key)) == 1


def test_report_rejection_closes(adapter, sim, ticket):
    _, ref = ticket
    sim.transition(ref.key, "Reject", actor="alice")
    adapter.report(ref, report(ReportKind.REJECTED), attempt=0)
    assert sim.status_of(ref.key) == "Done"


def test_report_expiry_cancels(adapter, sim, ticket):
    _, ref = ticket
    adapter.report(ref, report(ReportKind.EXPIRED), attempt=0)
    assert sim.status_of(ref.key) == "Cancelled"


def test_report_unauthorized_comments_without_moving(adapter, sim, ticket):
    _, ref = ticket
    sim.transition(ref.key, "Approve", actor="mallory")
    adapter.report(ref, report(ReportKind.UNAUTHORIZED), attempt=0)
    assert sim.status_of(ref.key) == "Approved" and len(sim.comment_bodies(ref.key)) == 1


def test_report_unavailable_transition_still_comments(adapter, sim, ticket):
    _, ref = ticket
    adapter.report(ref, report(ReportKind.SUCCEEDED), attempt=0)  # still Awaiting Approval
    assert sim.status_of(ref.key) == "Awaiting Approval" and len(sim.comment_bodies(ref.key)) == 1


def test_jsm_internal_comment(sim):
    adapter = build_adapter(sim, routes={ROUTE: route_settings(outcome={"jsm_internal_comment": True})})
    request = make_request()
    ref = adapter.create_ticket(request)
    sim.transition(ref.key, "Approve", actor="alice")
    adapter.report(ref, report(), attempt=0)
    assert sim.issue(ref.key).comments[0]["internal"] and sim.status_of(ref.key) == "Done"


def test_jsm_approval_mode(sim):
    sim.approval_transitions = {"approved": "Approve", "declined": "Reject"}
    adapter = build_adapter(sim, routes={ROUTE: route_settings(decision={"mode": "jsm"})})
    request = make_request()
    ref = adapter.create_ticket(request)
    sim.add_approval(ref.key, ["alice", "mallory"])
    assert adapter.read_decision(ref, request).verdict is Verdict.PENDING
    sim.answer_approval(ref.key, "alice", "approve")
    [event] = adapter.poll([pending(request, ref)], None).events
    assert (event.decision.verdict, event.decision.actor.id) == (Verdict.APPROVED, ALICE)


def test_jsm_status_moved_without_approval_is_unknown(sim):
    adapter = build_adapter(sim, routes={ROUTE: route_settings(decision={"mode": "jsm"})})
    request = make_request()
    ref = adapter.create_ticket(request)
    sim.add_approval(ref.key, ["alice"])
    sim.transition(ref.key, "Approve", actor="mallory")
    assert adapter.read_decision(ref, request).verdict is Verdict.UNKNOWN


def test_429_storm_surfaces_then_retry_later_works(adapter, sim, ticket):
    request, ref = ticket
    sim.transition(ref.key, "Approve", actor="alice")
    sim.inject_fault(429, times=3, headers={"Retry-After": "1"})
    with pytest.raises(RateLimitedError):
        adapter.poll([pending(request, ref)], None)
    [event] = adapter.poll([pending(request, ref)], None).events  # the next cycle: nothing lost
    assert event.decision.verdict is Verdict.APPROVED
    assert adapter.calls[("jira", "429")] == 3


def test_429_storm_during_report_then_retry_delivers_once(adapter, sim, ticket):
    _, ref = ticket
    sim.transition(ref.key, "Approve", actor="alice")
    sim.inject_fault(429, times=3, headers={"Retry-After": "1"}, method="POST")
    with pytest.raises(RateLimitedError):
        adapter.report(ref, report(), attempt=0)
    adapter.report(ref, report(), attempt=1)
    assert len(sim.comment_bodies(ref.key)) == 1 and sim.status_of(ref.key) == "Done"


def test_long_retry_after_is_not_slept(adapter, sim, ticket):
    request, ref = ticket
    sim.inject_fault(429, times=1, headers={"Retry-After": "600"})
    with pytest.raises(RateLimitedError) as err:
        adapter.read_decision(ref, request)
    assert err.value.retry_after == 600 and adapter.client.sleep == []


def test_every_call_counted(adapter, sim, ticket):
    assert sum(adapter.calls.values()) == sim.call_count()


def test_service_identities_from_myself(adapter):
    assert {BOT, "jira-bot@example.com"} <= adapter.service_identities()


def test_wrong_token_is_auth_error(sim):
    from connector.core.errors import AuthError

    adapter = build_adapter(sim, env={**sim.demo_env(), "JIRA_API_TOKEN": "wrong"})
    with pytest.raises(AuthError) as err:
        adapter.service_identities()
    assert "wrong" not in str(err.value)


def test_datacenter_flow(dc_sim):
    adapter = build_adapter(dc_sim)
    request = make_request()
    ref = adapter.create_ticket(request)
    dc_sim.transition(ref.key, "Approve", actor="alice")
    [event] = adapter.poll([pending(request, ref)], None).events
    assert event.decision.actor.names() >= {"alice", "alice@example.com"}
    assert dc_sim.call_count(path="/search/jql") == 0 and dc_sim.call_count("POST", r"/search$") >= 1
    adapter.report(ref, report(), attempt=0)
    assert dc_sim.status_of(ref.key) == "Done"


def test_cloud_legacy_search_is_gone():
    sim = JiraSimulator.seeded_demo()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        sim.install(rsps)
        adapter = build_adapter(sim, deployment="datacenter")
        with pytest.raises(Exception, match="410"):
            adapter.find_ticket(make_request())


def test_webhook_without_configured_secret_is_refused(sim):
    adapter = build_adapter(sim, webhook={"secret_env": None})
    with pytest.raises(WebhookRejected) as err:
        adapter.verify_webhook({"X-Hub-Signature": "sha256=00"}, b"{}")
    assert err.value.status == 404


def test_webhook_with_unset_secret_variable_fails_closed(sim):
    adapter = build_adapter(sim, env={k: v for k, v in sim.demo_env().items() if k != "JIRA_WEBHOOK_SECRET"})
    with pytest.raises(WebhookRejected) as err:
        adapter.verify_webhook({"X-Hub-Signature": "sha256=00"}, b"{}")
    assert err.value.status == 503  # the operator's misconfiguration, as in ServiceNow
    assert str(err.value) == "webhook secret not configured"


def test_webhook_setup_names_variable_not_value(adapter):
    text = adapter.webhook_setup("https://connector.example.com/")
    assert "JIRA_WEBHOOK_SECRET" in text and "demo-webhook-secret" not in text
    assert "https://connector.example.com/webhooks/jira" in text and "jira:issue_updated" in text


def test_register_webhook_needs_admin(sim):
    sim.users["svc-approval"].admin = False
    with pytest.raises(PermissionDenied):
        build_adapter(sim).register_webhook("https://connector.example.com")


def test_poll_window_is_the_time_since_the_last_poll_with_hourly_full_sweeps(adapter, sim, ticket):
    """Finished issues must not be re-read every cycle: after the start-up sweep, a poll looks back
    only to the previous poll (plus overlap); a full look back happens again after an hour."""
    import json
    import re
    from datetime import timedelta

    from connector.core.models import utcnow

    request, ref = ticket
    waiting = [pending(request, ref).model_copy(update={"created_at": utcnow() - timedelta(days=3)})]

    def window(cursor):
        result = adapter.poll(waiting, cursor)
        jql = [b for m, p, b in sim.bodies if p.endswith("/search/jql")][-1]["jql"]
        return int(re.search(r"updated >= -(\d+)m", jql)[1]), result.cursor

    first, cursor = window(None)
    assert first >= 4 * 24 * 60  # start-up: the oldest waiting request (3 days) plus a day
    second, cursor = window(cursor)
    assert second <= 12  # since the last poll plus the 10-minute overlap
    stale = json.dumps(
        {
            "last": (utcnow() - timedelta(minutes=5)).isoformat(),
            "sweep": (utcnow() - timedelta(hours=2)).isoformat(),
        }
    )
    assert window(stale)[0] >= 4 * 24 * 60  # the hourly sweep
    assert window("not a cursor")[0] >= 4 * 24 * 60
