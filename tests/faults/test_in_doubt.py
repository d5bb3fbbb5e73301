"""A run cut short is IN_DOUBT until a human says what happened: it ran, it did not (and maybe
run it again), or it failed. Audited with who said so, and said on the ticket."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connector.core.errors import OutcomeUnknown, UserError
from connector.core.models import RequestState, Verdict
from connector.demo import tools as demo_tools
from tests.conftest import EMAIL, sent_mail


async def crashed(connector):
    connector.register_tool(demo_tools.send_email)
    request = await connector.service.submit("send_email", EMAIL, {"agent": "a"})
    connector.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
    desk = connector.bridges["desk"]
    decision = await desk.read_decision(request.ticket, request)
    connector.register_tool(demo_tools.send_email)
    connector.service.execution.start = lambda *args, **kwargs: None  # the run never starts here
    await connector.service.decisions.apply(request, decision, "poll", wait=False)
    del connector.service.execution.start
    # claim it as a worker that then died
    connector.store.claim(request.id, "dead-worker", timedelta(seconds=-1))
    assert await connector.recover() == 1
    after = connector.store.get(request.id)
    assert after.state is RequestState.IN_DOUBT
    return after


def comments(connector, request):
    return [c["body"] for c in connector.adapters["desk"].ticket(request.ticket.key)["comments"]]


@pytest.mark.parametrize(
    ("outcome", "text", "rerun", "state", "mails", "said"),
    [
        ("ran", "sent as <abc@x>", False, RequestState.SUCCEEDED, 0, "confirmed that send_email did run"),
        ("did-not-run", "", False, RequestState.FAILED, 0, "did not run (confirmed by ops.lead)"),
        ("did-not-run", "", True, RequestState.SUCCEEDED, 1, "Executed send_email"),
        ("failed", "bounced at the relay", False, RequestState.FAILED, 0, "bounced at the relay"),
    ],
)
async def test_a_human_resolves_an_in_doubt_run(connector, workdir, outcome, text, rerun, state, mails, said):
    request = await crashed(connector)
    after = await connector.service.resolve(request.id, outcome, "ops.lead", text=text, rerun=rerun)
    await connector.process_outbox()
    assert after.state is state
    assert len(sent_mail(workdir)) == mails
    assert any(said in c for c in comments(connector, request))
    rows = [
        r for r in connector.store.audit.rows(connector.store.engine, request.id) if r["event"] == "resolved"
    ]
    assert len(rows) == 1 and rows[0]["actor"] == "ops.lead" and rows[0]["details"]["outcome"] == outcome
    with pytest.raises(UserError, match="not IN_DOUBT"):  # once settled, it stays settled
        await connector.service.resolve(request.id, "ran", "ops.lead")


async def test_resolving_needs_a_name_and_a_reason(connector):
    request = await crashed(connector)
    with pytest.raises(UserError, match="who checked"):
        await connector.service.resolve(request.id, "ran", " ")
    with pytest.raises(UserError, match="why it failed"):
        await connector.service.resolve(request.id, "failed", "ops.lead")
    assert connector.store.get(request.id).state is RequestState.IN_DOUBT


def send_email(to: str, subject: str, body: str) -> str:
    """Hands the mail to the relay, then the relay's answer times out."""
    raise OutcomeUnknown("the relay timed out after the message was sent")


async def test_a_tool_that_cannot_tell_whether_it_took_effect_is_in_doubt_not_failed(connector):
    connector.register_tool(send_email)
    request = await connector.service.submit("send_email", EMAIL, {"agent": "a"})
    connector.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
    await connector.poll_once()
    after = connector.store.get(request.id)
    assert after.state is RequestState.IN_DOUBT and "timed out after the message" in after.error
    await connector.process_outbox()
    [said] = [c for c in comments(connector, request) if "outcome is unknown" in c]
    assert "will not be run again automatically" in said
    events = [r["event"] for r in connector.store.audit.rows(connector.store.engine, request.id)]
    assert "in_doubt" in events and "failed" not in events
    settled = await connector.service.resolve(request.id, "ran", "ops.lead", text="sent once")
    assert settled.state is RequestState.SUCCEEDED
