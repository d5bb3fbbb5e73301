"""The one small contract every ticketing system implements (Apprise-style: one module per system,
each declaring its config schema as data). Adapters translate; they own no state machine and no
loop: the scheduler decides when to call them and ApprovalService decides what the answers mean.

An adapter package ``adapters/<kind>/`` exposes ``ADAPTER`` (a TicketAdapter subclass). Third
parties can register more kinds under the entry-point group ``approval_connector.adapters``.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from connector.core.errors import ConfigError, UnavailableError, WebhookRejected
from connector.core.models import (
    Actor,
    ApprovalRequest,
    CheckResult,
    DecisionEvent,
    OutcomeReport,
    PendingTicket,
    PollResult,
    Question,
    TicketDecision,
    TicketRef,
)
from connector.core.observe import Recorder
from connector.core.pending import as_waiting
from connector.core.redact import remember_secret


class SystemSettings(BaseModel):
    """Base for an adapter's system-level settings (URL, auth, webhook secret...)."""

    model_config = ConfigDict(extra="forbid")


class RouteSettings(BaseModel):
    """Base for an adapter's per-route settings (project, fields, decision mapping...)."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class AdapterContext:
    """What the core hands an adapter when it is built. ``engine`` is the connector's SQLAlchemy
    engine (only the local desk keeps tickets there); ``env`` is where secrets are looked up by
    variable name; ``api_calls`` counts calls per (system, status) for /metrics and benchmarks."""

    engine: Any = None
    env: Mapping[str, str] = field(default_factory=dict)
    on_api_call: Any = None  # callable(system: str, outcome: str) -> None, optional
    route_approvers: dict[str, list[str]] = field(default_factory=dict)  # route -> approvers
    vote_routes: frozenset[str] = frozenset()  # routes decided by a quorum of votes

    def needs_groups(self, route: str) -> bool:
        """Whether a route's approvers name groups, so decisions must carry the actor's groups."""
        return any(a.strip().lower().startswith("group:") for a in self.route_approvers.get(route, []))

    def secret(self, var: str | None, where: str) -> str:
        """Read a secret by environment variable name; ConfigError if unset (never echo the value)."""
        if not var:
            raise ConfigError(f"{where}: no environment variable named for this secret")
        value = self.env.get(var)
        if not value:
            raise ConfigError(f"{where}: environment variable {var} is not set")
        remember_secret(value)  # the redactor masks it (and its encodings) wherever text is shown
        return value

    def count_call(self, system: str, outcome: str) -> None:
        if self.on_api_call is not None:
            self.on_api_call(system, outcome)


class TicketAdapter(ABC):
    """One configured ticketing system. Methods are synchronous and may block on I/O: the core
    calls them only through ``AdapterBridge`` (worker threads, a per-call timeout, metrics). The
    webhook methods (``verify_webhook``, ``webhook_delivery_id``, ``parse_webhook``) are the
    exception: they must do no I/O, so the webhook view may call them inline. Every failure is
    raised as a connector.core.errors.AdapterError subclass."""

    kind: ClassVar[str]
    decides_locally: ClassVar[bool] = False  # decisions are made through this process (the desk)
    # Writes ``request.ticket_seal`` where only the connector writes when creating a ticket, and
    # reads it back into ``TicketDecision.shown_seal``; the core then refuses any decision whose
    # ticket does not vouch for the stored call. Every built-in adapter does (contract suite).
    seals_tickets: ClassVar[bool] = False
    system_settings: ClassVar[type[SystemSettings]] = SystemSettings
    route_settings: ClassVar[type[RouteSettings]] = RouteSettings

    def __init__(
        self,
        name: str,
        settings: SystemSettings,
        routes: Mapping[str, RouteSettings],
        context: AdapterContext,
    ) -> None:
        self.name = name
        self.settings = settings
        self.routes = dict(routes)
        self.context = context

    # --- tickets -------------------------------------------------------------------------------
    @abstractmethod
    def create_ticket(self, request: ApprovalRequest) -> TicketRef:
        """Open the approval ticket, carrying ``request.id`` and showing the arguments and their
        digest. One create per call: on a retry the core calls ``find_ticket`` first. When the
        create may have landed but its answer was lost, raise AmbiguousCreate."""

    @abstractmethod
    def find_ticket(self, request: ApprovalRequest) -> TicketRef | None:
        """The ticket already opened for this request, if any: only to recover a lost create
        answer, so only a ticket that the connector's own account created, in a configured project
        or table, carrying this request id (re-checked on the answer, not trusted to the query)."""

    @abstractmethod
    def poll(self, pending: Sequence[PendingTicket], cursor: str | None) -> PollResult:
        """One query for all waiting tickets of this system. Events with ``decision`` set must be
        read from the API, not inferred. Return the cursor to hand back next time. From the
        service, ``pending`` is a ``connector.core.pending.WaitingTickets``: use its route summary
        and look-ups (``as_waiting`` wraps a plain list the same way), since iterating it reads
        every waiting row, which a cycle at 10,000 waiting cannot afford."""

    @abstractmethod
    def read_decision(self, ticket: TicketRef, request: ApprovalRequest) -> TicketDecision:
        """Re-read the ticket's decision and who made it from the API (the source of truth)."""

    @abstractmethod
    def report(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> None:
        """Comment the outcome and move the ticket on. ``attempt`` > 0 means an earlier delivery
        may have landed: check for ``report.report_id`` on the ticket first, never post twice."""

    def accepts_edits(self, route: str) -> bool:
        """Whether an approver on ``route`` can change the call's arguments in this system
        (approve-with-edits, read back as ``TicketDecision.edited_arguments``). The local desk
        can; an adapter whose route settings name a place for it (a field the approver edits)
        overrides this. Interactive front ends ask before offering an edit."""
        return self.decides_locally

    def service_identities(self) -> frozenset[str]:
        """Identifiers of the connector's own account: its changes never count as decisions."""
        return frozenset()

    def resolve_identity(self, name: str) -> Actor | None:
        """The person this spelling names in the ticketing system (an e-mail, a user name, an id;
        surrounding whitespace and case do not matter where the system ignores them), as the
        ``Actor`` its decisions would carry; None when the system knows no such person. The core
        compares requesters and approvers by these ids, never as loose strings."""
        return None

    def questions(
        self, ticket: TicketRef, request: ApprovalRequest, since: datetime | None
    ) -> list[Question]:
        """Comments (work notes) on the ticket written since ``since`` by anyone but the
        connector's own account, with their authors as the system names them; the core relays
        those that are approvers' questions to the waiting conversation. Optional: a system that
        cannot read comments returns none."""
        return []

    # --- quorum (optional) ------------------------------------------------------------------------
    def votes_problem(self, route: str) -> str | None:
        """Why this system cannot list every vote on a ticket for ``route`` (``quorum``,
        ``from_groups``: ``TicketDecision.votes``, oldest first), or None when it can."""
        return f"system type {self.kind!r} cannot collect several approvers' votes"

    # --- timing: reminders, escalation, windows, fresh decisions (optional) --------------------
    # A system that does not support one says so through ``timing_problem`` (check-config and
    # start-up refuse a route that needs it); the default methods raise a clear ConfigError.
    def timing_problem(self, feature: str, route: str) -> str | None:
        """Why this system cannot do ``feature`` for ``route`` ('escalate': reassign the ticket,
        'reopen': put an approved ticket back for a fresh decision, 'window': read a planned
        start and end from the ticket), or None when it can."""
        method = {"escalate": "escalate", "reopen": "reopen", "window": "read_window"}.get(feature)
        if method is None or getattr(type(self), method) is getattr(TicketAdapter, method):
            return f"system type {self.kind!r} does not support {feature!r}"
        return None

    def escalate(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> str:
        """Hand the ticket on as the route's ``escalation`` settings say (reassign, add an approver
        group) and comment ``report.text`` (why). ``attempt`` > 0: an earlier try may have landed,
        look for ``report.report_id`` first, never comment twice. Returns what was done (audited)."""
        raise ConfigError(f"{self.name}: system type {self.kind!r} cannot escalate tickets")

    def reopen(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> None:
        """Put a decided ticket back where it waits for a fresh decision (the old approval no
        longer counts), commenting ``report.text``; idempotent on retry like ``report``."""
        raise ConfigError(f"{self.name}: system type {self.kind!r} cannot re-open tickets")

    def read_window(
        self, ticket: TicketRef, request: ApprovalRequest
    ) -> tuple[datetime | None, datetime | None]:
        """The planned start and end the ticket shows (aware datetimes; None where unset)."""
        raise ConfigError(f"{self.name}: system type {self.kind!r} has no change window on its tickets")

    # --- webhooks ------------------------------------------------------------------------------
    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise WebhookRejected(status=401) unless the delivery is authentic."""
        raise WebhookRejected(f"system {self.name!r} does not accept webhooks", status=404)

    def webhook_delivery_id(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """A stable id for de-duplicating redelivered webhooks, if the system provides one."""
        return None

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[DecisionEvent]:
        """Turn a verified delivery into hints (``decision`` unset). Raise WebhookRejected(400)
        for a body that is not what the system sends; return [] for events of no interest."""
        return []

    def webhook_setup(self, public_url: str) -> str:
        """Human-readable instructions (or script) that make the system call
        ``public_url`` (…/webhooks/<name>) on transitions. Never prints a secret's value."""
        return f"{self.name}: this system type has no webhooks; decisions are found by polling."

    def register_webhook(self, public_url: str) -> str:
        """Create the webhook through the system's API (``webhooks register --apply``); returns
        a description of what was created. Systems that cannot do it raise ConfigError."""
        raise ConfigError(f"{self.name}: webhooks cannot be registered through the API; see webhook_setup")

    # --- operations ----------------------------------------------------------------------------
    def check(self, live: bool) -> list[CheckResult]:
        """Validate this system's config; with ``live``, against the real instance."""
        return [CheckResult(system=self.name, item="configuration", ok=True)]

    def create_grace(self) -> float:
        """Seconds after a lost create answer during which a ticket that does not show up in a
        look-up may still exist (search-index lag): the core creates no second one meanwhile."""
        return 0.0

    def call_budget(self) -> float:
        """Seconds one adapter call may take at worst (timeouts, retries, backoff); the bridge
        gives up waiting after this, and leases on adapter work are longer than it."""
        return 60.0

    def close(self) -> None:
        """Release connections."""


def load_adapter_class(kind: str) -> type[TicketAdapter]:
    """Find the adapter for a ``type:`` value: built-ins under ``adapters.<kind>``, then plugins."""
    for ep in entry_points(group="approval_connector.adapters"):
        if ep.name == kind:
            return ep.load()
    if not kind.replace("_", "").isalnum():
        raise ConfigError(f"unknown system type {kind!r}")
    try:
        module = importlib.import_module(f"adapters.{kind}")
    except ModuleNotFoundError as exc:
        if exc.name in (f"adapters.{kind}", "adapters"):
            raise ConfigError(f"unknown system type {kind!r} (built in: local, jira, servicenow)") from None
        raise
    adapter = getattr(module, "ADAPTER", None)
    if adapter is None:
        raise ConfigError(f"adapters.{kind} does not define ADAPTER")
    return adapter


def parse_settings(model: type[BaseModel], data: Any, where: str) -> Any:
    """Validate adapter settings with errors that name the key path."""
    from pydantic import ValidationError

    from connector.core.settings import format_validation_error

    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, prefix=where)) from None


T = TypeVar("T")

# How many client calls one adapter method may chain at worst (see AdapterBridge.budget).
CALLS_PER_METHOD = {
    "create_ticket": 4,
    "find_ticket": 2,
    "poll": 12,
    "read_decision": 4,
    "report": 6,
    "resolve_identity": 2,
    "check": 30,
    "escalate": 6,
    "reopen": 6,
    "read_window": 2,
}
# How long the bridge keeps an adapter's answer to service_identities: asked for every decision,
# it names the connector's own account, which changes only with the config (a restart); adapters
# cache what they learn from the system themselves, so this only spares a thread hand-off each.
IDENTITIES_TTL = 60.0


class AdapterBridge:
    """The one way the core reaches an adapter: every I/O method runs in a worker thread (the event
    loop never waits on a ticketing system), bounded by the adapter's ``call_budget``, and is
    counted per system, method and outcome. A call that overruns its budget is reported as
    unavailable; its thread finishes on its own (Python threads cannot be cancelled), which is why
    ticket creation and reports look up what already landed before trying again."""

    def __init__(self, adapter: TicketAdapter, executor: Executor, recorder: Recorder) -> None:
        self.adapter = adapter
        self.name = adapter.name
        self.executor = executor
        self.recorder = recorder
        self._identities: tuple[float, frozenset[str]] | None = None  # (asked at, answer)

    @property
    def decides_locally(self) -> bool:
        return self.adapter.decides_locally

    def budget(self, method: str) -> float:
        """Seconds one adapter *method* may take: its client calls' worst case times how many
        calls the method can make (a poll pages and reads per hit; a report looks for its marker,
        lists transitions and transitions)."""
        return max(1.0, float(self.adapter.call_budget())) * CALLS_PER_METHOD.get(method, 1)

    async def _call(self, method: str, *args: Any, then: Callable[[Any], Any] | None = None) -> Any:
        """``then``: called in the same worker thread with the method's answer (to record it in
        the store), and the call returns (answer, what ``then`` returned): one hand-off to a
        thread and back instead of two. Its time counts against the budget, not the adapter's
        latency; if the budget runs out first, the thread still records the answer when it comes
        (conditional transitions, fenced by the delivery's lease, keep that to once; a create that may
        still land is looked for, not made again, by its retries: see Outbox._find_or_create)."""
        fn = getattr(self.adapter, method)
        loop = asyncio.get_running_loop()
        budget = self.budget(method)
        started = time.monotonic()
        answered: list[float] = []

        def job() -> Any:
            answer = fn(*args)
            answered.append(time.monotonic())
            return answer if then is None else (answer, then(answer))

        outcome = "ok"
        try:
            return await asyncio.wait_for(loop.run_in_executor(self.executor, job), budget)
        except asyncio.TimeoutError:
            outcome = "ok" if answered else "timeout"
            gave_up = UnavailableError(
                f"{self.name}: {method} did not answer within {budget:g}s", system=self.name
            )
            gave_up.settle = budget  # its thread goes on and may still land: no retry before then
            raise gave_up from None
        except BaseException:
            outcome = "ok" if answered else "error"  # recording the answer failed, not the call
            raise
        finally:
            took = (answered[0] if answered else time.monotonic()) - started
            self.recorder.adapter_call(self.name, method, outcome, took)

    async def create_ticket(self, request: ApprovalRequest) -> TicketRef:
        return await self._call("create_ticket", request)

    async def create_ticket_then(
        self, request: ApprovalRequest, then: Callable[[TicketRef], T]
    ) -> tuple[TicketRef, T]:
        """Create the ticket and record it with ``then`` in the same worker thread."""
        return await self._call("create_ticket", request, then=then)

    async def find_ticket(self, request: ApprovalRequest) -> TicketRef | None:
        return await self._call("find_ticket", request)

    async def poll(self, pending: Sequence[PendingTicket], cursor: str | None) -> PollResult:
        return await self._call("poll", as_waiting(pending), cursor)

    async def read_decision(self, ticket: TicketRef, request: ApprovalRequest) -> TicketDecision:
        return await self._call("read_decision", ticket, request)

    async def report(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> None:
        await self._call("report", ticket, report, attempt)

    async def report_then(
        self, ticket: TicketRef, report: OutcomeReport, attempt: int, then: Callable[[None], T]
    ) -> T:
        """Report, then record it with ``then`` in the same worker thread; ``then``'s result."""
        return (await self._call("report", ticket, report, attempt, then=then))[1]

    async def service_identities(self) -> frozenset[str]:
        """The adapter's answer, kept for IDENTITIES_TTL seconds (a failure is never kept: the
        next decision asks again, and fails closed meanwhile as the adapter does)."""
        kept = self._identities
        if kept is not None and time.monotonic() - kept[0] < IDENTITIES_TTL:
            return kept[1]
        answer = await self._call("service_identities")
        self._identities = (time.monotonic(), answer)
        return answer

    async def resolve_identity(self, name: str) -> Actor | None:
        return await self._call("resolve_identity", name)

    async def check(self, live: bool) -> list[CheckResult]:
        return await self._call("check", live)

    async def escalate(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> str:
        return await self._call("escalate", ticket, report, attempt)

    async def reopen(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> None:
        await self._call("reopen", ticket, report, attempt)

    async def read_window(
        self, ticket: TicketRef, request: ApprovalRequest
    ) -> tuple[datetime | None, datetime | None]:
        return await self._call("read_window", ticket, request)

    async def webhook_setup(self, public_url: str) -> str:
        return await self._call("webhook_setup", public_url)

    async def register_webhook(self, public_url: str) -> str:
        return await self._call("register_webhook", public_url)
