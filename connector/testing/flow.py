"""ApprovalFlow: one user's configuration running against simulated ticketing systems in a test.

It holds the connector (built from the user's config on a temporary store), the simulators, the
people who act on tickets, the clock and the record of what ran. A test drives it the way the
world would: the agent calls the gated tool, a person approves / rejects / comments on the
ticket in the simulated system, time passes, the connector's jobs run (``cycle``, what one
scheduler cycle does) — then the test asserts what a user notices (``expect``)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from connector.app.runtime import Connector
from connector.core import clock
from connector.core.durations import parse_duration
from connector.core.errors import UserError
from connector.core.models import ApprovalRequest, RequestState, TicketRef
from connector.testing.config import KitConfig
from connector.testing.driver import TicketDriver
from connector.testing.expect import Expectations
from connector.testing.runs import RunLog
from connector.testing.service import RunningService, wait_until
from connector.testing.systems import SimulatedSystem

RequestLike = ApprovalRequest | str | None


class FlowError(AssertionError):
    """The test asked the flow for something it cannot find (no request, no ticket yet)."""


class ApprovalFlow(Expectations):
    def __init__(
        self,
        connector: Connector,
        kit: KitConfig,
        runs: RunLog,
        service: RunningService | None = None,
        responses: Any = None,
    ) -> None:
        self.connector = connector
        self.kit = kit
        self.run_log = runs
        self.service = service
        self.responses = responses  # the in-process RequestsMock (add your own endpoints), or None

    # --- what the test reaches for --------------------------------------------------------------
    @property
    def systems(self) -> dict[str, SimulatedSystem]:
        """The simulated systems by the config's system name."""
        return dict(self.kit.systems)

    def sim(self, system: str | None = None) -> Any:
        """The simulator of ``system`` (a config system name or type); the only one if omitted."""
        return self._system(system).sim

    @property
    def served(self) -> bool:
        return self.service is not None

    def gate(self, tool: Any, **options: Any) -> Any:
        """``connector.gate(tool, ...)``: the user's tool as the agent will hold it."""
        return self.connector.gate(tool, **options)

    async def call(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        requester: str = "",
        rationale: str = "",
        agent: str = "",
        route: str | None = None,
    ) -> ApprovalRequest:
        """What a gated tool does when the agent calls it: file the call (and open its ticket)."""
        given = {"requester": requester, "rationale": rationale, "agent": agent}
        context = {key: value for key, value in given.items() if value}
        return await self.connector.service.submit(tool, dict(arguments), context, route)

    # --- requests -----------------------------------------------------------------------------------
    def requests(self, tool: str | None = None) -> list[ApprovalRequest]:
        """Every request the connector stored (oldest first), optionally of one tool."""
        return [r for r in self.connector.store.list() if tool is None or r.tool_name == tool]

    def request(self, which: RequestLike = None, *, tool: str | None = None) -> ApprovalRequest:
        """The request, read fresh: by object, id (or a prefix of it) or ticket key ("OPS-1"), or
        the only one there is (of ``tool``)."""
        if which is None:
            found = self.requests(tool)
            if len(found) != 1:
                of = f" of {tool}" if tool else ""
                raise FlowError(f"expected exactly one request{of}, found {len(found)}: {self.summary()}")
            return found[0]
        if isinstance(which, ApprovalRequest):
            return self.connector.store.get(which.id)
        try:
            return self.connector.store.resolve(which)  # an id, a prefix of one, or a ticket key
        except UserError as exc:
            raise FlowError(f"{exc}: {self.summary()}") from None

    def ticket(self, which: RequestLike = None) -> TicketRef:
        request = self.request(which)
        if request.ticket is None and self.served and request.state is RequestState.SUBMITTED:
            # served: the connector's own outbox may hold the creation a moment (it won the lease)
            request_id = request.id
            with suppress(AssertionError):
                request = wait_until(lambda: (r := self.request(request_id)).ticket is not None and r, 10.0)
        if request.ticket is None:
            raise FlowError(f"request {request.id} has no ticket ({request.state.value}): {self.summary()}")
        return request.ticket

    def state(self, which: RequestLike = None) -> RequestState:
        return self.request(which).state

    # --- people on the ticket -------------------------------------------------------------------
    def approve(
        self, which: RequestLike = None, *, as_user: str | None = None, edited: dict[str, Any] | None = None
    ) -> None:
        """Approve the request's ticket in its system as ``as_user`` (the seeded approver if
        omitted). The connector learns of it on its next ``cycle`` (or webhook, when served)."""
        ticket = self.ticket(which)
        self.driver(ticket).approve(ticket, as_user or self._approver(ticket), edited)

    def reject(self, which: RequestLike = None, *, as_user: str | None = None, reason: str = "") -> None:
        """Reject the request's ticket as ``as_user``, giving ``reason`` (a comment where the
        system has no reason field)."""
        ticket = self.ticket(which)
        self.driver(ticket).reject(ticket, as_user or self._approver(ticket), reason)

    def comment(self, text: str, which: RequestLike = None, *, as_user: str | None = None) -> None:
        """Comment on the request's ticket as ``as_user`` (a question, a note: not a decision)."""
        ticket = self.ticket(which)
        self.driver(ticket).comment(ticket, as_user or self._approver(ticket), text)

    def comments(self, which: RequestLike = None) -> list[str]:
        """Every comment on the request's ticket as the system shows it, oldest first."""
        ticket = self.ticket(which)
        return self.driver(ticket).comments(ticket)

    def describe(self, which: RequestLike = None) -> str:
        """What a person opening the ticket sees first (key, status, title, body)."""
        ticket = self.ticket(which)
        return self.driver(ticket).describe(ticket)

    def driver(self, ticket: TicketRef) -> TicketDriver:
        if ticket.system in self.kit.systems:
            return self.kit.systems[ticket.system].driver
        from adapters.local.testing import LocalDeskDriver

        return LocalDeskDriver.of(self.connector.adapters)

    # --- time and the connector's jobs -------------------------------------------------------------
    async def cycle(self) -> dict[str, int]:
        """One scheduler cycle, in order: recover, deliver, poll decisions (and run what was
        approved), expire, remind, report. Returns each job's count."""
        return await self.connector.run_all_jobs_once()

    async def fast_forward(self, by: timedelta | float | str, *, cycle: bool = True) -> datetime:
        """Move the clock the connector and the simulators read by ``by`` ("2h", "90m", seconds
        or a timedelta) — deadlines, reminders, change windows and approval validity all see it —
        then run one ``cycle`` unless told not to. Returns the new now."""
        moved = clock.advance(parse_duration(by))
        if cycle:
            await self.cycle()
        return moved

    async def travel_to(self, moment: datetime, *, cycle: bool = True) -> datetime:
        """Move the clock forward to ``moment`` (e.g. inside a change window), then ``cycle``."""
        moved = clock.travel_to(moment)
        if cycle:
            await self.cycle()
        return moved

    def wait_for(
        self, state: RequestState, which: RequestLike = None, timeout: float = 10.0
    ) -> ApprovalRequest:
        """Served flows: wait until the request reaches ``state`` (the webhook and the scheduler
        work in the connector's own thread)."""
        if not self.served:
            raise FlowError("wait_for is for served flows; in-process, run `await flow.cycle()`")
        try:
            return wait_until(lambda: (r := self.request(which)).state is state and r, timeout)
        except AssertionError:
            raise FlowError(
                f"request did not reach {state.value} within {timeout:g} s: {self.summary()}"
            ) from None

    # --- for messages ---------------------------------------------------------------------------------
    def summary(self) -> str:
        """One line per request: id, tool, state, ticket and its status."""
        lines = []
        for r in self.requests():
            where = ""
            if r.ticket is not None:
                try:
                    where = f", {r.ticket.key} {self.driver(r.ticket).status(r.ticket)!r}"
                except Exception:  # noqa: BLE001 - a summary must not hide the real failure
                    where = f", {r.ticket.key}"
            lines.append(f"{r.id} {r.tool_name} {r.state.value}{where}")
        return "no requests" if not lines else "requests: " + "; ".join(lines)

    def _system(self, system: str | None) -> SimulatedSystem:
        systems = self.kit.systems
        if system is None and len(systems) == 1:
            return next(iter(systems.values()))
        for name, sim in systems.items():
            if system in (name, sim.kind):
                return sim
        raise FlowError(f"no simulated system {system!r} (the config has: {', '.join(systems) or 'none'})")

    def _approver(self, ticket: TicketRef) -> str:
        system = self.kit.systems.get(ticket.system)
        if system is None:
            raise FlowError(f"say who acts on the local desk: as_user=... (ticket {ticket.key})")
        return system.approver
