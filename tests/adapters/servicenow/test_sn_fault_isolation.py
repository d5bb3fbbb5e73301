"""A table the connector's account cannot read does not stop the poll of the whole system: with
``decision.source: record`` and no read access to sys_audit, decisions come without an actor
(the core refuses them once and says so on the record), and other routes still decide; a route
whose table is unreadable is skipped while the others go on."""

from __future__ import annotations

from pathlib import Path

import responses

from connector.core.models import RequestState, Verdict
from tests.adapters.servicenow.sn_testlib import make_request, route_dict
from tests.adapters.servicenow.test_end_to_end import changes, connect, propose
from tests.adapters.servicenow.test_sn_adapter import pending

APPROVERS = {"source": "approvers", "approved_states": [], "rejected_states": [], "pending_states": []}


def two_routes(make_adapter):
    return make_adapter(routes={"change": route_dict(), "by-approvers": route_dict(decision=APPROVERS)})


def open_both(adapter, sim):
    by_record = make_request()
    by_approvers = make_request(route="by-approvers")
    waiting = []
    for request in (by_record, by_approvers):
        ticket = adapter.create_ticket(request)
        sim.approve(ticket.key, "change.manager")
        waiting.append(pending(request, ticket))
    return by_record, by_approvers, waiting


def test_unreadable_sys_audit_leaves_those_decisions_without_an_actor(make_adapter, rsps, sim, caplog):
    adapter = two_routes(make_adapter)
    by_record, by_approvers, waiting = open_both(adapter, sim)
    sim.read_roles["sys_audit"] = {"admin"}
    events = {e.request_id: e.decision for e in adapter.poll(waiting, None).events}
    unexplained, decided = events[by_record.id], events[by_approvers.id]
    assert unexplained.verdict is Verdict.APPROVED and unexplained.actor is None
    assert "no access to sys_audit" in unexplained.status
    assert decided.actor is not None and decided.actor.id == sim.user_row("change.manager")["sys_id"]
    assert "read ACL on sys_audit" in caplog.text


def test_a_route_whose_table_is_unreadable_is_skipped_and_the_others_decide(make_adapter, rsps, sim, caplog):
    adapter = two_routes(make_adapter)
    by_record, by_approvers, waiting = open_both(adapter, sim)
    sim.read_roles["sysapproval_approver"] = {"admin"}
    events = adapter.poll(waiting, None).events
    assert [e.request_id for e in events] == [by_record.id]
    assert events[0].decision.actor is not None and "Insufficient rights" in caplog.text


async def test_through_the_core_nothing_runs_and_the_record_says_why(
    rsps: responses.RequestsMock, sim, workdir: Path
) -> None:
    sim.read_roles["sys_audit"] = {"admin"}
    conn = connect(workdir)
    try:
        _, request = await propose(conn)
        sim.approve(request.ticket.key, "change.manager")
        for _ in range(2):  # every poll works; the refusal is said once
            assert await conn.poll_once() == 0
            await conn.process_outbox()
        assert conn.store.get(request.id).state is RequestState.TICKETED and changes(workdir) == []
        [note] = sim.journal(request.ticket.key, "work_notes")
        assert "did not say who made the change" in note["value"]
        # it stays looked up by sys_id (not only while it is inside the poll's time window)
        [last] = [q for t, q in sim.queries if t == "change_request"][-1:]
        assert f"sys_idIN{request.ticket.id}" in last
        sim.read_roles["sys_audit"] = {"itil"}  # the ACL is granted: the next poll decides it
        await conn.poll_once()
        assert conn.store.get(request.id).state is RequestState.SUCCEEDED and len(changes(workdir)) == 1
    finally:
        conn.close()


def test_the_hint_re_read_reads_record_and_actor_rows_in_one_call_with_each_acl(
    make_adapter, rsps, sim, caplog
):
    adapter = two_routes(make_adapter)
    by_record, by_approvers, waiting = open_both(adapter, sim)
    sim.read_roles["sys_audit"] = {"admin"}
    before = len(sim.calls)
    unexplained = adapter.read_decision(waiting[0].ticket, by_record)
    decided = adapter.read_decision(waiting[1].ticket, by_approvers)
    reads = [p for _, p, _ in sim.calls[before:] if not p.endswith("/sys_user")]  # the approver, once
    assert reads == ["/api/now/v1/batch"] * 2  # one call per re-read
    assert [(p.rsplit("/", 1)[-1], s) for _, p, s in sim.batch_items][1::2] == [
        ("sys_audit", 403),
        ("sysapproval_approver", 200),
    ]
    assert unexplained.verdict is Verdict.APPROVED and unexplained.actor is None
    assert "no access to sys_audit" in unexplained.status and "cannot read sys_audit" in caplog.text
    assert decided.verdict is Verdict.APPROVED
    assert decided.actor is not None and decided.actor.id == sim.user_row("change.manager")["sys_id"]
