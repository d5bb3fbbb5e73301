"""The attack suite: what an adversary (or a careless colleague) does, one row per attack, tried
against every ticketing system through real Connectors and the systems' own APIs. Each row says
what must come of it: how many runs (0 unless the row says otherwise), the state the request is
left in, and the refusal or comment that says why. README's invariants table names these rows."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import update

from connector.app.runtime import Connector
from connector.core.models import ApprovalRequest, RequestState, digest_of, utcnow
from connector.core.store import requests_table
from connector.testing.contract import ContractSystem
from tests.conftest import EMAIL, sent_mail
from tests.contract.fixtures import events, submit, ticketed

Attack = Callable[[ContractSystem, Connector, ApprovalRequest], Awaitable[None]]


@dataclass(frozen=True)
class Row:
    name: str
    attack: Attack
    state: RequestState = RequestState.TICKETED
    runs: int = 0
    refusal: str | None = None  # a decision_refused row's reason contains this
    tamper: str | None = None  # the tamper_detected reason contains this
    needs_decoys: bool = False


async def poll(conn: Connector) -> None:
    await conn.poll_once()
    await conn.process_outbox()


# --- the attacks ----------------------------------------------------------------------------------
async def decoy_approved_by_an_approver(system, conn, victim):
    decoy = system.create_decoy(victim.id, system.other)  # carries the victim's request id
    system.driver_for(conn).approve(decoy, system.approver)
    await poll(conn)


async def decoy_self_approved_where_anyone_may_approve(system, conn, victim):
    anyone = system.connector(approvers=["*"], worker="anyone")
    try:
        decoy = system.create_decoy(victim.id, system.other)
        system.driver_for(anyone).approve(decoy, system.other)
        await poll(anyone)
    finally:
        anyone.close()


async def approval_by_a_non_approver(system, conn, request):
    system.driver_for(conn).approve(request.ticket, system.other)
    await poll(conn)


async def approval_by_the_connectors_own_account(system, conn, request):
    system.driver_for(conn).approve(request.ticket, system.connector_account)
    await poll(conn)


async def approved_in_a_comment(system, conn, request):
    system.driver_for(conn).comment(request.ticket, system.approver, "approved")
    system.driver_for(conn).comment(request.ticket, system.approver, "Approved — go ahead, status: approved")
    await poll(conn)


async def database_edit(system, conn, request, **columns):
    """Someone with write access to the connector's database rewrites the stored call, then the
    approver approves the ticket (which showed the original)."""
    evil = {**request.arguments, "to": "attacker@evil.example"}
    values = {k: (_json(evil) if v == "args" else digest_of(evil)) for k, v in columns.items()}
    with conn.store.transaction() as tx:
        tx.execute(update(requests_table).where(requests_table.c.id == request.id).values(**values))
    system.driver_for(conn).approve(request.ticket, system.approver)
    await poll(conn)


async def database_edit_of_arguments_and_digest(system, conn, request):
    await database_edit(system, conn, request, arguments="args", arguments_digest="digest")


async def database_injected_approved_edit(system, conn, request):
    await database_edit(system, conn, request, approved_arguments="args", approved_digest="digest")


async def ticket_seal_edited(system, conn, request):
    system.tamper_seal(request.ticket, system.other)
    system.driver_for(conn).approve(request.ticket, system.approver)
    await poll(conn)


async def description_edited_before_the_approval(system, conn, request):
    system.edit_description(request.ticket, system.other, "Send the customer list to attacker@evil.example")
    system.driver_for(conn).approve(request.ticket, system.approver)
    await poll(conn)


async def late_approval_after_expiry(system, conn, request):
    with conn.store.transaction() as tx:
        conn.store.set_fields(tx, request.id, deadline=utcnow() - timedelta(seconds=1))
    await conn.expire_due()
    await conn.process_outbox()
    with contextlib.suppress(Exception):  # a closed ticket may refuse the late approval: fine too
        system.driver_for(conn).approve(request.ticket, system.approver)
    await poll(conn)


async def approve_then_reopen_before_the_poll(system, conn, request):
    system.driver_for(conn).approve(request.ticket, system.approver)
    system.reopen(request.ticket, system.approver)
    await poll(conn)


async def approve_and_reject_at_the_same_moment(system, conn, request):
    driver = system.driver_for(conn)
    barrier = threading.Barrier(2)

    def act(decide: Callable[[], None]) -> None:
        barrier.wait(5)
        with contextlib.suppress(Exception):  # the system lets one of them win
            decide()

    threads = [
        threading.Thread(target=act, args=(lambda: driver.approve(request.ticket, system.approver),)),
        threading.Thread(target=act, args=(lambda: driver.reject(request.ticket, system.approver, "no"),)),
    ]
    for t in threads:
        t.start()
    polls = [asyncio.ensure_future(poll(conn)) for _ in range(3)]
    for t in threads:
        t.join()
    await asyncio.gather(*polls)
    await poll(conn)


async def the_same_refused_decision_seen_by_every_poll(system, conn, request):
    system.driver_for(conn).approve(request.ticket, system.other)
    for _ in range(3):
        await poll(conn)


def self_approval(spelling_index: int) -> Attack:
    async def attack(system, conn, _request):
        spellings = system.approver_spellings
        if spelling_index >= len(spellings):
            pytest.skip(f"{system.kind} lists fewer approver spellings")
        mine = await ticketed_as(conn, spellings[spelling_index])
        system.driver_for(conn).approve(mine.ticket, system.approver)
        await poll(conn)
        _SELF[conn] = mine

    return attack


_SELF: dict[Connector, ApprovalRequest] = {}


async def ticketed_as(conn: Connector, requester: str) -> ApprovalRequest:
    request = await submit(conn, requester=requester)
    assert request.ticket is not None
    return request


def _json(value: dict) -> str:
    import json

    return json.dumps(value, sort_keys=True)


ROWS = [
    Row("decoy-approved-by-an-approver", decoy_approved_by_an_approver, needs_decoys=True),
    Row(
        "decoy-self-approved-on-an-anyone-route",
        decoy_self_approved_where_anyone_may_approve,
        needs_decoys=True,
    ),
    Row("non-approver-approves", approval_by_a_non_approver),
    Row("connectors-own-account-approves", approval_by_the_connectors_own_account),
    Row("approved-in-a-comment", approved_in_a_comment),
    Row(
        "database-edit-of-arguments-and-digest",
        database_edit_of_arguments_and_digest,
        RequestState.TAMPERED,
        tamper="seal",
    ),
    Row(
        "database-injected-approved-edit",
        database_injected_approved_edit,
        RequestState.TAMPERED,
        tamper="altered",
    ),
    Row("ticket-seal-edited", ticket_seal_edited, RequestState.TAMPERED, tamper="ticket"),
    Row("description-edited", description_edited_before_the_approval, RequestState.SUCCEEDED, runs=1),
    Row("late-approval-after-expiry", late_approval_after_expiry, RequestState.EXPIRED),
    Row("approve-then-reopen-before-the-poll", approve_then_reopen_before_the_poll),
    Row("refused-decision-seen-by-every-poll", the_same_refused_decision_seen_by_every_poll),
    Row("self-approval-spelled-0", self_approval(0), refusal="request"),
    Row("self-approval-spelled-1", self_approval(1), refusal="request"),
    Row("self-approval-spelled-2", self_approval(2), refusal="request"),
]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
async def test_attack(system, conn, workdir, row):
    if row.needs_decoys and not system.decoys_possible:
        pytest.skip(f"{system.kind}: no other ticket can carry a request's id")
    victim = await ticketed(conn)
    await row.attack(system, conn, victim)
    target = _SELF.pop(conn, victim)
    after = conn.store.get(target.id)
    assert after.state is row.state, (after.state, after.error)
    mails = sent_mail(workdir)
    assert len(mails) == row.runs
    assert all(m["to"] == EMAIL["to"] for m in mails)  # whatever ran is what was proposed
    refused = events(conn, target.id, "decision_refused")
    if row.refusal:
        assert refused and any(row.refusal in r["details"]["reason"] for r in refused), refused
    if row.tamper:
        [found] = events(conn, target.id, "tamper_detected")
        assert row.tamper in found["details"]["reason"]
        assert any("Not run" in c for c in system.driver_for(conn).comments(target.ticket))
    if row.name == "refused-decision-seen-by-every-poll":
        assert len(refused) <= 1  # refused once, said once, however often it is seen
        said = [c for c in system.driver_for(conn).comments(target.ticket) if "Decision not accepted" in c]
        assert len(said) == len(refused)
    if row.name == "non-approver-approves" and system.kind != "servicenow":
        # (ServiceNow does not count a non-member's approval towards the group: no decision at all)
        assert refused and "not an allowed approver" in refused[0]["details"]["reason"]


async def test_approve_and_reject_at_the_same_moment_runs_at_most_once(system, conn, workdir):
    request = await ticketed(conn)
    await approve_and_reject_at_the_same_moment(system, conn, request)
    after = conn.store.get(request.id)
    runs = len(sent_mail(workdir))
    assert after.state in (RequestState.SUCCEEDED, RequestState.REJECTED, RequestState.TICKETED)
    assert runs == (1 if after.state is RequestState.SUCCEEDED else 0)


async def test_a_stale_refusal_never_speaks_about_a_request_that_succeeded(system, conn, workdir):
    """A refusal read while the request waited, applied after another replica ran and reported it,
    must not post "not accepted … still waiting" on a ticket whose call succeeded."""
    request = await ticketed(conn)
    system.driver_for(conn).approve(request.ticket, system.other)
    stale = await conn.bridges[system.name].read_decision(request.ticket, request)  # read while waiting
    system.reopen(request.ticket, system.approver)
    system.driver_for(conn).approve(request.ticket, system.approver)
    await poll(conn)
    assert conn.store.get(request.id).state is RequestState.SUCCEEDED
    refusals_before = len(events(conn, request.id, "decision_refused"))
    await conn.service.apply(request, stale, "poll")  # the stale hint arrives late
    await conn.process_outbox()
    assert len(events(conn, request.id, "decision_refused")) == refusals_before
    assert not any("still waiting" in c for c in system.driver_for(conn).comments(request.ticket))
    assert len(sent_mail(workdir)) == 1


async def test_forged_unsigned_altered_and_replayed_webhooks_change_nothing(system, conn, workdir):
    if not system.has_webhooks:
        pytest.skip(f"{system.kind} sends no webhooks")
    import requests

    from tests.connector.service_harness import RunningService, wait_until

    done, waiting = await ticketed(conn), await ticketed(conn, subject="second")
    with RunningService(conn) as service:
        wait_until(lambda: service.get("/healthz").json()["status"] == "ok")  # start-up poll done
        url = f"{service.url}/webhooks/{system.name}"
        system.point_webhooks_at(url)
        system.driver_for(conn).approve(done.ticket, system.approver)  # a genuine, signed delivery
        wait_until(lambda: conn.store.get(done.id).state is RequestState.SUCCEEDED)
        headers, body = system.last_webhook()
        unsigned = {k: v for k, v in headers.items() if "signature" not in k.lower()}
        forged = {k: (v[:-4] + "AAAA" if "signature" in k.lower() else v) for k, v in headers.items()}
        altered = body.replace(done.ticket.key.encode(), waiting.ticket.key.encode())
        answers = {
            "replayed": requests.post(url, data=body, headers=headers, timeout=10).status_code,
            "unsigned": requests.post(url, data=body, headers=unsigned, timeout=10).status_code,
            "forged": requests.post(url, data=body, headers=forged, timeout=10).status_code,
            "altered": requests.post(url, data=altered, headers=headers, timeout=10).status_code,
        }
    assert answers["replayed"] in (200, 401)  # a duplicate (or, for ServiceNow, a stale timestamp)
    assert answers["unsigned"] == answers["forged"] == answers["altered"] == 401
    assert conn.store.get(waiting.id).state is RequestState.TICKETED
    assert len(sent_mail(workdir)) == 1
    assert len(events(conn, done.id, "claimed")) == 1
