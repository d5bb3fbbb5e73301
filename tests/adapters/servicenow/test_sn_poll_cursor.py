"""The poll cursor's size does not grow with the number of waiting records (it used to hold every
waiting sys_id: about 330 KB at 10,000 waiting, rewritten each cycle)."""

from __future__ import annotations

from datetime import timedelta

from adapters.servicenow.contract import ServiceNowContract
from connector.core.models import PendingTicket, TicketRef, utcnow


def pending(count: int) -> list[PendingTicket]:
    old = utcnow() - timedelta(hours=1)
    return [
        PendingTicket(
            request_id=f"req{n:05d}",
            route="contract",
            ticket=TicketRef(system="servicenow", key=f"CHG{n:07d}", id=f"{n:032x}"),
            created_at=old,
            ticketed_at=old,
        )
        for n in range(count)
    ]


def test_cursor_size_is_flat_in_the_number_waiting(workdir):
    system = ServiceNowContract(workdir)
    system.start()
    conn = system.connector()
    try:
        adapter = conn.adapters["servicenow"]
        sizes = []
        for count in (10, 2_000):
            cursor = adapter.poll(pending(count), None).cursor  # the first poll looks everything up
            cursor = adapter.poll(pending(count), cursor).cursor  # then only what is new
            sizes.append(len(cursor))
        assert max(sizes) < 500, sizes  # a few timestamps: no id of a waiting record
    finally:
        conn.close()
        system.stop()


def test_a_ticket_recorded_since_the_last_poll_is_looked_up_by_its_id(workdir):
    system = ServiceNowContract(workdir)
    system.start()
    conn = system.connector()
    try:
        adapter = conn.adapters["servicenow"]
        values = {"short_description": "x", "correlation_id": "agent-action:req00000"}
        record = system.sim.insert("change_request", values, "svc_connector")
        system.sim.update(record["number"], "change.manager", approval="rejected")  # a change the poll sees
        waiting = pending(3)
        waiting[0] = waiting[0].model_copy(
            update={"ticket": TicketRef(system="servicenow", key=record["number"], id=record["sys_id"])}
        )
        cursor = adapter.poll(waiting, None).cursor
        fresh = pending(4)[-1].model_copy(update={"ticketed_at": utcnow()})
        adapter.poll([*waiting, fresh], cursor)
        queries = [q for t, q in system.sim.queries if t == "change_request"]
        assert fresh.ticket.id in queries[-1]  # recorded since the last poll: looked up by its id
        assert waiting[1].ticket.id not in queries[-1]  # known from before: the time window covers it
    finally:
        conn.close()
        system.stop()
