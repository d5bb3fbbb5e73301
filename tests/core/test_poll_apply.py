"""A poll applies the decisions it found ticket by ticket in order, different tickets side by side
(each application is a few store round trips; one after another, a search with many decisions
took as long as all their round trips), and one that fails neither stops the others nor lets
the cursor move on."""

from __future__ import annotations

import asyncio

from connector.core.errors import AdapterError
from connector.core.models import ApprovalRequest, DecisionEvent, RequestState
from connector.core.service.polling import APPLY_AT_ONCE, Polling


class SlowDecisions:
    def __init__(self, fail: set[str] = frozenset()) -> None:
        self.seen: list[tuple[str, str]] = []
        self.running = 0
        self.widest = 0
        self.fail = fail

    async def handle_event(self, event: DecisionEvent, trusted: bool) -> ApprovalRequest | None:
        self.running += 1
        self.widest = max(self.widest, self.running)
        try:
            await asyncio.sleep(0.01)  # a store round trip or two
            self.seen.append((event.ticket_key, event.request_id or ""))
            if event.ticket_key in self.fail:
                raise AdapterError("ticket unreadable")
            return None
        finally:
            self.running -= 1


def _events(tickets: int, per_ticket: int) -> list[DecisionEvent]:
    return [
        DecisionEvent(system="", ticket_key=f"T-{t}", request_id=f"{t}-{n}")
        for n in range(per_ticket)
        for t in range(tickets)
    ]


def test_tickets_side_by_side_each_one_in_order():
    decisions = SlowDecisions()
    polling = Polling.__new__(Polling)
    polling.decisions = decisions
    applied, failed = asyncio.run(polling._apply_all("desk", _events(20, 3)))
    assert (applied, failed) == (0, False)
    assert len(decisions.seen) == 60
    assert 1 < decisions.widest <= APPLY_AT_ONCE
    for t in range(20):
        assert [r for k, r in decisions.seen if k == f"T-{t}"] == [f"{t}-0", f"{t}-1", f"{t}-2"]


def test_one_failing_ticket_is_reported_and_the_rest_applied():
    decisions = SlowDecisions(fail={"T-3"})
    polling = Polling.__new__(Polling)
    polling.decisions = decisions
    applied, failed = asyncio.run(polling._apply_all("desk", _events(10, 1)))
    assert failed is True  # the cursor stays, so the next poll fetches T-3 again
    assert {k for k, _ in decisions.seen} == {f"T-{t}" for t in range(10)}


def test_applied_counts_requests_moved_on():
    class Approving(SlowDecisions):
        async def handle_event(self, event, trusted):
            await super().handle_event(event, trusted)
            state = RequestState.APPROVED if event.ticket_key != "T-0" else RequestState.TICKETED
            return ApprovalRequest(
                id=event.request_id or "x",
                route="r",
                system="desk",
                tool_name="t",
                arguments={},
                arguments_digest="d",
                state=state,
            )

    polling = Polling.__new__(Polling)
    polling.decisions = Approving()
    assert asyncio.run(polling._apply_all("desk", _events(5, 1))) == (4, False)
