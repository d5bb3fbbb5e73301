"""The adapter against the stateful simulator, in-process on `responses`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import responses

from adapters.servicenow import ServiceNowAdapter
from adapters.servicenow.simulator import ServiceNowSimulator
from connector.core.errors import (
    AmbiguousCreate,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    RateLimitedError,
)
from connector.core.models import (
    ApprovalRequest,
    OutcomeReport,
    PendingTicket,
    PollResult,
    ReportKind,
    TicketRef,
    Verdict,
)
from tests.adapters.servicenow.sn_testlib import ROUTE, SYSTEM, make_request, route_dict

MakeAdapter = Callable[..., ServiceNowAdapter]


def pending(request: ApprovalRequest, ticket: TicketRef) -> PendingTicket:
    return PendingTicket(
        request_id=request.id, route=request.route, ticket=ticket, created_at=request.created_at
    )


def open_ticket(adapter: ServiceNowAdapter, **args: Any) -> tuple[ApprovalRequest, TicketRef]:
    request = make_request(**args)
    return request, adapter.create_ticket(request)


def report(
    request: ApprovalRequest, kind: ReportKind, final: bool = True, text: str = "done"
) -> OutcomeReport:
    return OutcomeReport(
        report_id=f"{request.id}:{kind.value}", request_id=request.id, kind=kind, text=text, final=final
    )


# --- create ------------------------------------------------------------------------------------------
def test_create_maps_fields_and_carries_the_request(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator
) -> None:
    request, ticket = open_ticket(adapter, risk="2")
    record = sim.record(ticket.key)
    assert ticket.key.startswith("CHG") and ticket.id == record["sys_id"]
    assert ticket.url == f"{SYSTEM['instance_url']}/change_request.do?sys_id={record['sys_id']}"
    assert record["correlation_id"] == f"agent-action:{request.id}"
    assert record["short_description"] == "[agent] Restart payments-api pods in prod-eu"
    assert (record["type"], record["category"], record["risk"], record["impact"]) == (
        "normal",
        "Software",
        "2",
        "3",
    )
    assert record["u_agent_run"] == "conv-42"
    description = record["description"]
    assert description.startswith("Change proposed by triage-agent")
    for text in (
        "Tool: apply_change",
        "  - risk: 2",
        "  - summary: Restart payments-api pods in prod-eu",
        "Rationale: Pods leak memory",
        f"Request id: {request.id}",
        f"Arguments SHA-256: {request.arguments_digest}",
    ):
        assert text in description
    assert record["sys_created_by"] == "svc_connector"


def test_model_text_cannot_inject_markup_or_script(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator
) -> None:
    _, ticket = open_ticket(
        adapter,
        summary="javascript:gs.getUser()",
        note="[code]<img src=x onerror=alert(1)>[/CODE]\x07 and [ code ]",
        risk="javascript: gs.log(1)",
    )
    record = sim.record(ticket.key)
    assert "[code]" not in record["description"].lower() and "[/code]" not in record["description"].lower()
    assert "(code)<img src=x onerror=alert(1)>(/code)" in record["description"]
    assert "\x07" not in record["description"]
    assert not record["risk"].lower().startswith("javascript:")
    assert record["short_description"] == "[agent] javascript:gs.getUser()"  # not at the start: inert


def test_short_description_and_body_show_control_and_bidi_characters_as_escapes(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator
) -> None:
    evil = "quarterly\x1b[8m numbers\x1b[2K\x1b[1A\u202efdp.exe\x00\x07\x9b\u2066\u200b\ufeff\nend"
    _, ticket = open_ticket(adapter, summary=evil, note=evil)
    record = sim.record(ticket.key)
    hidden = set("\x00\x07\x1b\x7f\x9b\u202e\u2066\u200b\ufeff")
    assert not set(record["short_description"]) & (hidden | {"\n", "\r", "\t"}), record["short_description"]
    assert "quarterly\\x1b[8m numbers" in record["short_description"]
    assert "\\u202efdp.exe" in record["short_description"]
    assert not set(record["description"]) & hidden, record["description"]


def test_lost_create_answer_and_failed_lookup_then_retry(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator
) -> None:
    sim.lose_answer("POST", "/table/change_request")
    sim.inject_fault(503, times=10, method="GET", path="/table/change_request")
    request = make_request()
    with pytest.raises(AmbiguousCreate):
        adapter.create_ticket(request)
    sim.clear_faults()
    ticket = adapter.find_ticket(request)  # the outbox's next attempt looks first: found
    assert ticket is not None
    assert len(sim.records()) == 1 and sim.records()[0]["number"] == ticket.key


def test_missing_correlation_column_fails_loudly(
    make_adapter: MakeAdapter, rsps: responses.RequestsMock
) -> None:
    adapter = make_adapter(routes={"change": route_dict(ticket={"correlation_field": "u_request_ref"})})
    with pytest.raises(BadRequestError, match="u_request_ref did not keep the request id"):
        adapter.create_ticket(make_request())


def test_template_error_is_a_bad_request(adapter: ServiceNowAdapter) -> None:
    request = make_request()
    request.arguments.pop("risk")
    with pytest.raises(BadRequestError, match="risk"):
        adapter.create_ticket(request)


def test_query_unsafe_request_id_is_refused(adapter: ServiceNowAdapter) -> None:
    request = make_request().model_copy(update={"id": "x^ORactive=true"})
    with pytest.raises(BadRequestError):
        adapter.find_ticket(request)


# --- decisions by poll ---------------------------------------------------------------------------------
def test_poll_without_pending_makes_no_call(adapter: ServiceNowAdapter, sim: ServiceNowSimulator) -> None:
    result = adapter.poll([], None)
    assert result.events == [] and sim.calls == []


def test_poll_several_records_in_one_query_with_paging(
    make_adapter: MakeAdapter, rsps: responses.RequestsMock, sim: ServiceNowSimulator
) -> None:
    adapter = make_adapter(system={**SYSTEM, "page_size": 2})
    opened = [open_ticket(adapter) for _ in range(5)]
    for _, ticket in opened:
        sim.approve(ticket.key, "change.manager")
    before = sim.call_count("GET", "/table/change_request$")
    result = adapter.poll([pending(r, t) for r, t in opened], None)
    assert sorted(e.ticket_key for e in result.events) == sorted(t.key for _, t in opened)
    assert all(e.decision and e.decision.verdict is Verdict.APPROVED for e in result.events)
    assert (
        sim.call_count("GET", "/table/change_request$") - before == 3
    )  # 5 rows, 2 per page, via Link rel=next
    assert [t for t, _ in sim.queries].count("sys_audit") == 1  # actors read in one (paged) query


def test_approval_still_in_authorize_is_not_a_decision(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator
) -> None:
    request, ticket = open_ticket(adapter)
    sim.update(ticket.key, "change.manager", state="-4")
    sim.update(ticket.key, "change.manager", approval="approved")  # Assess approved, Authorize still to come
    assert adapter.poll([pending(request, ticket)], None).events == []
    assert adapter.read_decision(ticket, request).verdict is Verdict.PENDING


def test_actor_is_who_decided_not_who_edited_last(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator
) -> None:
    request, ticket = open_ticket(adapter)
    sim.approve(ticket.key, "change.manager")
    sim.update(ticket.key, "outsider", description="edited afterwards")
    assert sim.record(ticket.key)["sys_updated_by"] == "outsider"
    [event] = adapter.poll([pending(request, ticket)], None).events
    assert event.decision and event.decision.actor and "change.manager" in event.decision.actor.names()
    assert "outsider" not in event.decision.actor.names()


def test_cursor_overlap_deduplicates_within_one_second(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator
) -> None:
    sim.freeze("2026-05-04 09:41:07")
    (r1, t1), (r2, t2) = open_ticket(adapter), open_ticket(adapter)
    items = [pending(r1, t1), pending(r2, t2)]
    sim.approve(t1.key, "change.manager")
    first = adapter.poll(items, None)
    assert [e.ticket_key for e in first.events] == [t1.key]
    again = adapter.poll(items, first.cursor)
    assert again.events == []  # same version, same second: not reported twice
    sim.reject(t2.key, "change.manager", "no")  # still the same second as the cursor
    third = adapter.poll(items, again.cursor)
    assert [e.ticket_key for e in third.events] == [t2.key]
    query = sim_query_of_last_list(sim)
    assert "sys_updated_on>=2026-05-04 09:40:07" in query  # cursor (server time) minus the 60 s overlap


def sim_query_of_last_list(sim: ServiceNowSimulator) -> str:
    return [q for t, q in sim.queries if t == "change_request"][-1]


def test_new_pending_ticket_widens_the_window(adapter: ServiceNowAdapter, sim: ServiceNowSimulator) -> None:
    sim.freeze("2026-05-04 09:00:00")
    r1, t1 = open_ticket(adapter)
    sim.approve(t1.key, "change.manager")
    cursor = adapter.poll([pending(r1, t1)], None).cursor
    sim.advance(3600)
    r2, t2 = open_ticket(adapter)
    sim.approve(t2.key, "change.manager")
    # r2's ticket was decided before this connector ever polled for it; it must still be found
    late = pending(r2, t2).model_copy(update={"created_at": r2.created_at})
    result = adapter.poll([late], cursor)
    assert [e.ticket_key for e in result.events] == [t2.key]


def test_429_storm_loses_nothing(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator, sleeps: list[float]
) -> None:
    request, ticket = open_ticket(adapter)
    sim.approve(ticket.key, "change.manager")
    sim.inject_fault(429, times=3, headers={"Retry-After": "0"}, method="GET")
    [event] = adapter.poll([pending(request, ticket)], None).events
    assert event.decision and event.decision.verdict is Verdict.APPROVED
    assert len(sleeps) == 3
    sim.inject_fault(429, times=50, headers={"Retry-After": "3600"}, method="GET")
    with pytest.raises(RateLimitedError):
        adapter.poll([pending(request, ticket)], None)  # the core keeps its old cursor
    sim.clear_faults()
    [again] = adapter.poll([pending(request, ticket)], None).events
    assert again.ticket_key == ticket.key


def test_poll_group_approvers_with_groups(
    make_adapter: MakeAdapter, rsps: responses.RequestsMock, sim: ServiceNowSimulator
) -> None:
    route = route_dict(
        decision={
            "source": "approvers",
            "resolve_groups": True,
            "approved_states": [],
            "rejected_states": [],
            "pending_states": [],
        }
    )
    adapter = make_adapter(routes={"change": route})
    request, ticket = open_ticket(adapter)
    assert adapter.poll([pending(request, ticket)], None).events == []
    sim.approve(ticket.key, "change.manager")
    result: PollResult = adapter.poll([pending(request, ticket)], None)
    [event] = result.events
    decision = event.decision
    assert decision is not None and decision.verdict is Verdict.APPROVED
    assert decision.status == "sysapproval_approver.state=approved"
    assert decision.actor is not None and "CAB Approval" in decision.actor.groups
    assert sim.call_count("POST", "/table/change_request$") == 1  # no look-up before a first create
    assert sim.call_count("GET", "/table/change_request$") == 1  # the decided record, for its seal
    assert any(
        t == "sysapproval_approver"
        and q.startswith(
            "sysapproval.correlation_idSTARTSWITHagent-action:^sysapproval.sys_class_name=change_request"
            f"^sysapprovalIN{ticket.id}^stateNOT IN"
        )
        for t, q in sim.queries
    )


def test_approver_mode_unauthorized_group_member(
    make_adapter: MakeAdapter, rsps: responses.RequestsMock, sim: ServiceNowSimulator
) -> None:
    sim.add_member("CAB Approval", "outsider")
    adapter = make_adapter(
        routes={
            "change": route_dict(
                decision={
                    "source": "approvers",
                    "approved_states": [],
                    "rejected_states": [],
                    "pending_states": [],
                }
            )
        }
    )
    request, ticket = open_ticket(adapter)
    sim.approve(ticket.key, "outsider")
    [event] = adapter.poll([pending(request, ticket)], None).events
    assert event.decision and event.decision.actor and "outsider" in event.decision.actor.names()
    assert event.decision.actor.groups == frozenset()  # not resolved: no group: approvers on this route


# --- read_decision -------------------------------------------------------------------------------------
def test_read_decision(adapter: ServiceNowAdapter, sim: ServiceNowSimulator) -> None:
    request, ticket = open_ticket(adapter)
    assert adapter.read_decision(ticket, request).verdict is Verdict.PENDING
    sim.approve(ticket.key, "change.manager")
    decision = adapter.read_decision(ticket, request)
    assert (
        decision.verdict is Verdict.APPROVED and decision.actor and decision.actor.display == "Casey Manager"
    )


def test_read_decision_of_a_deleted_record(adapter: ServiceNowAdapter, sim: ServiceNowSimulator) -> None:
    request, ticket = open_ticket(adapter)
    del sim.rows["change_request"][ticket.id]
    with pytest.raises(NotFoundError):
        adapter.read_decision(ticket, request)


def test_read_decision_when_correlation_was_changed(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator
) -> None:
    request, ticket = open_ticket(adapter)
    sim.approve(ticket.key, "change.manager")
    sim.update(ticket.key, "outsider", correlation_id="agent-action:someone-else")
    assert adapter.read_decision(ticket, request).verdict is Verdict.UNKNOWN


def test_approved_without_audit_trail_fails_closed(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator
) -> None:
    request, ticket = open_ticket(adapter)
    sim.approve(ticket.key, "change.manager")
    sim.rows["sys_audit"].clear()
    decision = adapter.read_decision(ticket, request)
    assert decision.verdict is Verdict.UNKNOWN and "who approved" in decision.reason


def test_service_identities(make_adapter: MakeAdapter) -> None:
    adapter = make_adapter(
        system={**SYSTEM, "service_account": {"user_name": "svc_connector", "sys_id": "abc"}}
    )
    assert adapter.service_identities() == {"svc_connector", "abc"}


# --- report --------------------------------------------------------------------------------------------
def approved_ticket(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator
) -> tuple[ApprovalRequest, TicketRef]:
    request, ticket = open_ticket(adapter)
    sim.approve(ticket.key, "change.manager")
    return request, ticket


def test_report_success_closes_through_the_state_model(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator
) -> None:
    request, ticket = approved_ticket(adapter, sim)
    adapter.report(ticket, report(request, ReportKind.SUCCEEDED, text="Restarted 6 pods"), 0)
    record = sim.record(ticket.key)
    assert (record["state"], record["close_code"], record["close_notes"]) == (
        "3",
        "successful",
        "Restarted 6 pods",
    )
    [note] = sim.journal(ticket.key, "work_notes")
    assert note["value"].startswith("[approval connector] succeeded: Restarted 6 pods")
    assert f"approval-connector report:{request.id}:succeeded" in note["value"]
    assert record["work_notes"] == ""  # journal fields read back empty
    states = [
        a["newvalue"]
        for a in sim.rows["sys_audit"].values()
        if a["documentkey"] == ticket.id and a["fieldname"] == "state"
    ]
    assert states[-3:] == ["-1", "0", "3"]  # one step at a time


def test_report_refused_jump_is_a_clear_error(adapter: ServiceNowAdapter, sim: ServiceNowSimulator) -> None:
    request, ticket = open_ticket(adapter)  # still New: New -> Implement is not a valid step
    with pytest.raises(PermissionDenied, match="Change Model: Check State Transition"):
        adapter.report(ticket, report(request, ReportKind.SUCCEEDED), 0)
    assert sim.record(ticket.key)["state"] == "-5"
    with pytest.raises(PermissionDenied):
        adapter.report(ticket, report(request, ReportKind.SUCCEEDED), 1)
    assert len(sim.journal(ticket.key, "work_notes")) == 1  # the note is not repeated by retries


def test_report_rejected_cancels(adapter: ServiceNowAdapter, sim: ServiceNowSimulator) -> None:
    request, ticket = open_ticket(adapter)
    sim.reject(ticket.key, "change.manager", "no")
    adapter.report(ticket, report(request, ReportKind.REJECTED), 0)
    assert sim.record(ticket.key)["state"] == "4"


def test_report_not_final_only_comments(
    make_adapter: MakeAdapter, rsps: responses.RequestsMock, sim: ServiceNowSimulator
) -> None:
    adapter = make_adapter(
        routes={"change": route_dict(outcome={**ROUTE["outcome"], "journal_field": "comments"})}
    )
    request, ticket = open_ticket(adapter)
    adapter.report(
        ticket, report(request, ReportKind.UNAUTHORIZED, final=False, text="[code]<b>x</b>[/code]"), 0
    )
    [entry] = sim.journal(ticket.key)
    assert entry["element"] == "comments" and "(code)<b>x</b>(/code)" in entry["value"]
    assert sim.record(ticket.key)["state"] == "-5"


def test_report_detects_a_workflow_that_ignores_the_move(
    adapter: ServiceNowAdapter, sim: ServiceNowSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    request, ticket = approved_ticket(adapter, sim)
    original = sim.write

    def sticky(table: str, sys_id: str, values: dict[str, Any], user: str, **kw: Any) -> dict[str, str]:
        return original(table, sys_id, {k: v for k, v in values.items() if k != "state"}, user, **kw)

    monkeypatch.setattr(sim, "write", sticky)
    with pytest.raises(ConflictError, match="stayed in state"):
        adapter.report(ticket, report(request, ReportKind.SUCCEEDED), 0)


def test_report_on_ticket_without_table_in_url(adapter: ServiceNowAdapter, sim: ServiceNowSimulator) -> None:
    request, ticket = approved_ticket(adapter, sim)
    bare = TicketRef(system="sn", key=ticket.key, id=ticket.id)
    adapter.report(bare, report(request, ReportKind.SUCCEEDED), 0)
    assert sim.record(ticket.key)["state"] == "3"


def test_groups_resolved_when_the_core_says_the_route_names_groups(
    rsps: responses.RequestsMock, sim: ServiceNowSimulator
) -> None:
    from adapters.servicenow import ServiceNowRouteSettings, ServiceNowSystemSettings
    from connector.core.adapter import AdapterContext
    from tests.adapters.servicenow.sn_testlib import ENV

    class Context(AdapterContext):
        def needs_groups(self, route: str) -> bool:
            return route == "change"

    adapter = ServiceNowAdapter(
        "sn",
        ServiceNowSystemSettings.model_validate(SYSTEM),
        {"change": ServiceNowRouteSettings.model_validate(ROUTE)},
        Context(env=ENV),
    )
    request, ticket = open_ticket(adapter)
    sim.approve(ticket.key, "change.manager")
    decision = adapter.read_decision(ticket, request)
    assert decision.actor is not None and "CAB Approval" in decision.actor.groups
    assert sim.call_count("GET", "/table/sys_user_grmember") == 1
