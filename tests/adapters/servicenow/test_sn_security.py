"""What the approver saw is what runs, and only the request's own record decides, on ServiceNow:
the seal written into the seal column at creation and read back with every decision (an edit by a
user, or its removal, ends the request TAMPERED with nothing run and a work note saying why),
look-ups that take only records the connector's account created, polls that read only the
configured table and only the stored records, and who a user name or e-mail names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import responses

from adapters.servicenow.parse import compact_seal, expand_seal
from connector.app.runtime import Connector
from connector.core.errors import BadRequestError
from connector.core.models import RequestState
from tests.adapters.intake import learn_decision
from tests.adapters.servicenow.sn_testlib import make_request, route_dict
from tests.adapters.servicenow.test_end_to_end import changes, connect, propose
from tests.adapters.servicenow.test_sn_adapter import pending


@pytest.fixture
def conn(rsps: responses.RequestsMock, workdir: Path) -> Iterator[Connector]:
    connector = connect(workdir)
    yield connector
    connector.close()


def test_seal_fits_a_100_character_column_and_reads_back_exactly():
    seal = "acr1:" + "0f" * 32 + ":" + "a1" * 20
    stored = compact_seal(seal)
    assert len(stored) == 76 and expand_seal(stored) == seal
    assert expand_seal("") is None and expand_seal("not a seal") == "not a seal"


async def test_seal_is_written_with_the_record_and_shown_with_its_decision(conn, sim):
    _, request = await propose(conn)
    record = sim.record(request.ticket.key)
    assert len(record["correlation_display"]) == 76
    assert expand_seal(record["correlation_display"]).startswith(f"acr1:{request.arguments_digest}:")
    assert [r["sys_created_by"] for r in sim.records()] == ["svc_connector"]


def edit(sim, number: str) -> None:
    stored = sim.record(number)["correlation_display"]
    sim.update(number, "outsider", correlation_display=stored[:-3] + "AAA")


def remove(sim, number: str) -> None:
    sim.update(number, "outsider", correlation_display="")


def copy_from_another_request(sim, number: str) -> None:
    other = make_request().model_copy(update={"ticket_seal": "acr1:" + "00" * 32 + ":" + "11" * 20})
    sim.update(number, "outsider", correlation_display=compact_seal(other.ticket_seal))


@pytest.mark.parametrize("tamper", [edit, remove, copy_from_another_request])
@pytest.mark.parametrize("path", ["poll", "webhook"])
async def test_tampered_seal_never_runs_and_the_record_is_told(conn, sim, workdir, tamper, path):
    _, request = await propose(conn)
    number = request.ticket.key
    tamper(sim, number)
    sim.approve(number, "change.manager")
    await learn_decision(conn, path, "servicenow", number, request.id)
    await conn.process_outbox()
    assert conn.store.get(request.id).state is RequestState.TAMPERED
    assert changes(workdir) == []
    [note] = sim.journal(number, "work_notes")
    assert "tampered: Not run:" in note["value"] and "nothing was run" in note["value"]


# --- look-ups and polls --------------------------------------------------------------------------------
def test_find_ticket_ignores_a_record_someone_else_created(adapter, sim):
    request = make_request()
    sim.insert("change_request", {"correlation_id": f"agent-action:{request.id}"}, "requester")
    assert adapter.find_ticket(request) is None
    ref = adapter.create_ticket(request)
    assert adapter.find_ticket(request) == ref
    [(_, query)] = [q for q in sim.queries if q[0] == "change_request"][-1:]
    assert "^sys_created_by=svc_connector" in query


async def test_decoy_with_the_correlation_value_decides_nothing(conn, sim, workdir):
    _, request = await propose(conn)
    for table in ("change_request", "incident"):
        decoy = sim.insert(table, {"correlation_id": f"agent-action:{request.id}"}, "outsider")
        sim.approve(decoy["number"], "change.manager")
    adapter = conn.adapters["servicenow"]
    assert adapter.poll([pending(request, request.ticket)], None).events == []
    await conn.poll_once()
    assert conn.store.get(request.id).state is RequestState.TICKETED and changes(workdir) == []


def test_approver_poll_reads_only_the_configured_table(make_adapter, rsps, sim):
    decision = {"source": "approvers", "approved_states": [], "rejected_states": [], "pending_states": []}
    adapter = make_adapter(routes={"change": route_dict(decision=decision)})
    request = make_request()
    ticket = adapter.create_ticket(request)
    adapter.poll([pending(request, ticket)], None)
    [query] = [q for t, q in sim.queries if t == "sysapproval_approver"]
    assert "^sysapproval.sys_class_name=change_request" in query


# --- identities ----------------------------------------------------------------------------------------
def test_every_spelling_of_bob_is_the_same_actor(adapter, sim):
    bob_id = sim.add_user("bob", name="Bob Builder", email="bob@example.com")
    actors = [
        adapter.resolve_identity(n) for n in ("bob@example.com ", "bob", "BOB@example.com", bob_id, " Bob")
    ]
    assert actors[0] is not None and actors[0].id == bob_id
    assert all(a == actors[0] for a in actors)
    assert actors[0].aliases >= {"bob", "bob@example.com", bob_id}


@pytest.mark.parametrize("name", ["nobody", "nobody@example.com", "", " ", "bob^ORuser_name=admin"])
def test_unknown_names_resolve_to_nobody(adapter, sim, name):
    assert adapter.resolve_identity(name) is None


def test_a_name_that_fits_two_users_resolves_to_nobody(adapter, sim):
    sim.add_user("bob", email="robert@example.com")
    sim.add_user("robert", email="bob")  # another person's e-mail is spelled like bob's user name
    assert adapter.resolve_identity("bob") is None
    assert adapter.resolve_identity("robert@example.com").aliases >= {"bob"}


def test_resolved_names_and_approvers_are_cached(adapter, sim):
    sim.add_user("bob", email="bob@example.com")
    adapter.resolve_identity("bob")
    before = sim.call_count()
    assert adapter.resolve_identity("BOB") is not None and sim.call_count() == before
    for _ in range(2):
        request = make_request()
        ticket = adapter.create_ticket(request)
        sim.approve(ticket.key, "change.manager")
        assert adapter.read_decision(ticket, request).actor.id == sim.user_row("change.manager")["sys_id"]
    assert sim.call_count("GET", "/table/sys_user$") == 2  # bob's look-up, then change.manager's once


def test_a_seal_column_that_does_not_keep_the_seal_fails_loudly(make_adapter, rsps, sim):
    adapter = make_adapter(routes={"change": route_dict(ticket={"seal_field": "u_approval_seal"})})
    request = make_request().model_copy(update={"ticket_seal": "acr1:" + "ab" * 32 + ":" + "cd" * 20})
    with pytest.raises(BadRequestError, match="u_approval_seal did not keep the ticket seal"):
        adapter.create_ticket(request)
    sim.add_field("change_request", "u_approval_seal")  # the admin adds it: sealed from now on
    ticket = adapter.create_ticket(request.model_copy(update={"id": "a" * 32}))
    assert expand_seal(sim.record(ticket.key)["u_approval_seal"]) == request.ticket_seal
