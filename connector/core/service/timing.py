"""Whether an approved call may run now: inside its change window (from the route's calendar or
the ticket's planned start and end, fixed when its turn first comes), and with an approval not
older than the route's ``valid_for``. A call whose window has not opened waits (the ticket is
told); one whose window closed first ends WINDOW_CLOSED; a stale approval is not run, and the
ticket is re-opened for a fresh decision."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from connector.core.errors import AdapterError, ConfigError
from connector.core.models import ApprovalRequest, OutcomeReport, ReportKind, RequestState, utcnow
from connector.core.policy import tier_for
from connector.core.settings import OnDeadline, RouteConfig
from connector.core.timing import describe, first_nudge
from connector.core.windows import Window, next_window

from .context import ServiceContext
from .outbox import Outbox, work_lease
from .transitions import Transitions
from .transitions_timing import REOPEN_KIND

log = logging.getLogger("approval_connector")


def _at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M UTC}"


def deadline_values(route: RouteConfig, arguments: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What a request waiting for a decision from ``now`` stores: its deadline and what happens
    then (from its risk tier, else the route), since when it waits, its first reminder."""
    tier = tier_for(route, arguments)
    period = tier.deadline if tier is not None and tier.deadline is not None else route.deadline
    action = tier.on_deadline if tier is not None and tier.on_deadline is not None else route.on_deadline
    risk = tier.risk if tier is not None else route.risk
    if action is OnDeadline.APPROVE and risk != "low":  # the config refuses this; never approve it
        action = OnDeadline.EXPIRE
    return {
        "deadline": now + period,
        "on_deadline": action.value,
        "waiting_since": now,
        "nudge_at": first_nudge(now, route),
    }


class RunTiming:
    def __init__(self, ctx: ServiceContext, transitions: Transitions, outbox: Outbox) -> None:
        self.ctx = ctx
        self.transitions = transitions
        self.outbox = outbox
        budgets = [bridge.budget("reopen") for bridge in ctx.adapters.values()]
        lease = work_lease(ctx.lease, max(budgets, default=60.0))
        outbox.register(REOPEN_KIND, self._deliver_reopen, lease)

    async def ready(self, request: ApprovalRequest) -> bool:
        """True when ``request`` (APPROVED, as just read) may be claimed and run now."""
        route = self.ctx.route(request)
        if route is None:  # it may have had a window or a valid_for: fail closed until it is back
            detail = f"its route {request.route!r} is no longer in the config; nothing runs until it is"
            await self.ctx.problem(request.id, "route", detail)
            return False
        if route.window is not None and request.not_after is None:
            found = await self._find_window(request, route)
            if found is None:
                return False
            await self._fix_window(request, found)
            request = await self.ctx.db(self.ctx.store.get, request.id)
            if request.state is not RequestState.APPROVED:
                return False
        now = utcnow()
        if request.not_after is not None and now >= request.not_after:
            reason = f"window {_at(request.not_before or request.not_after)} to {_at(request.not_after)}"
            # an idempotent run cut short and put back may have taken effect: not "nothing ran"
            interrupted = await self._interrupted(request)
            closed = await self.ctx.db(self.transitions.window_closed, request.id, reason, interrupted)
            if closed is not None:
                log.warning("request %s: its change window closed before it could run", request.id)
                self.ctx.recorder.run("window_closed")
                self.outbox.kick(request.id)
            return False
        if request.not_before is not None and now < request.not_before:
            return False  # the pool picks it up once the window opens
        if self._stale(request, route, now) and not await self._interrupted(request):
            await self._went_stale(request, route, now)
            return False
        return True

    async def _interrupted(self, request: ApprovalRequest) -> bool:
        """Whether a run of this approval was started and cut short (an idempotent tool put back
        to run again): it was inside its window, with a fresh approval, when it started."""
        store = self.ctx.store
        return await self.ctx.db(store.audit.has_event, store.engine, request.id, "reclaimed")

    @staticmethod
    def _stale(request: ApprovalRequest, route: RouteConfig, now: datetime) -> bool:
        """An approval by a person older than ``valid_for`` (policy approvals do not age)."""
        if route.valid_for is None or request.decided_at is None:
            return False
        by_policy = (request.approver or "").startswith("policy:")
        return not by_policy and now - request.decided_at > route.valid_for

    # --- the window ------------------------------------------------------------------------------
    async def _find_window(self, request: ApprovalRequest, route: RouteConfig) -> Window | None:
        assert route.window is not None
        now = utcnow()
        if route.window.source == "calendar":
            # the window the approval was for: the one open at, or next after, the decision (a
            # connector that was down through it must not quietly move the call to a later one)
            found = next_window(route.window, min(request.decided_at or now, now))
            if found is None:
                await self.ctx.problem(request.id, "window", "the calendar opens no window within a year")
            return found
        if request.ticket is None:
            return None
        try:
            opens, closes = await self.ctx.adapter(request.ticket.system).read_window(request.ticket, request)
        except (AdapterError, ConfigError) as exc:
            await self.ctx.problem(
                request.id, "window", f"the planned start and end could not be read: {exc}"
            )
            return None
        if opens is None or closes is None or opens >= closes:
            shown = f"start {_at(opens) if opens else 'unset'}, end {_at(closes) if closes else 'unset'}"
            await self.ctx.problem(
                request.id,
                "window",
                f"the ticket shows no valid change window ({shown}); nothing runs until it does",
            )
            return None
        return Window(opens, closes, "ticket")

    async def _fix_window(self, request: ApprovalRequest, window: Window) -> None:
        report = None
        if window.opens > utcnow():
            report = OutcomeReport(
                report_id=f"{request.id}:window-wait",
                request_id=request.id,
                route=request.route,
                kind=ReportKind.WINDOW_WAIT,
                text=(
                    f"Approved. {request.tool_name} waits for its change window and runs between "
                    f"{_at(window.opens)} and {_at(window.closes)} ({window.source}). If the window "
                    "closes before it can run, it is not run."
                ),
                final=False,
            )
        details = {
            "opens": window.opens.isoformat(),
            "closes": window.closes.isoformat(),
            "source": window.source,
        }
        fixed = await self.ctx.db(
            self.transitions.windowed, request.id, window.opens, window.closes, details, report
        )
        if fixed and report is not None:
            log.info("request %s waits for its window (opens %s)", request.id, _at(window.opens))
            self.outbox.kick(request.id)

    # --- validity ---------------------------------------------------------------------------------
    async def _went_stale(self, request: ApprovalRequest, route: RouteConfig, now: datetime) -> None:
        assert route.valid_for is not None and request.decided_at is not None
        values = deadline_values(route, request.arguments, now)
        who = request.approver_name or request.approver or "an approver"
        text = (
            f"Not run: the approval by {who} ({_at(request.decided_at)}) is older than this route "
            f"allows ({describe(route.valid_for)}) now that it is {request.tool_name}'s turn to run. "
            f"Please decide again: the request waits for a fresh decision until {_at(values['deadline'])}."
        )
        report = OutcomeReport(
            report_id=f"{request.id}:reopen@{int(now.timestamp())}",
            request_id=request.id,
            route=request.route,
            kind=ReportKind.REOPENED,
            text=text,
        )
        details = {
            "approver": request.approver,
            "decided_at": request.decided_at.isoformat(),
            "age_seconds": round((now - request.decided_at).total_seconds(), 3),
            "valid_for_seconds": route.valid_for.total_seconds(),
        }
        if await self.ctx.db(self.transitions.went_stale, request.id, details, values, report) is not None:
            log.warning(
                "request %s: approval older than %s; re-opening its ticket", request.id, route.valid_for
            )
            self.ctx.recorder.decision("stale")
            self.outbox.kick(request.id)

    async def _deliver_reopen(self, item: dict[str, Any], request: ApprovalRequest, attempt: int) -> None:
        if request.state is not RequestState.SUBMITTED or request.ticket is None:
            await self.ctx.db(self.transitions.delivered, item["id"])  # expired meanwhile: nothing to re-open
            return
        report = OutcomeReport.model_validate_json(item["payload"])
        await self.ctx.adapter(request.ticket.system).reopen(request.ticket, report, attempt)
        await self.ctx.db(self.transitions.reopened, request.id, item["id"], request.ticket.key)
        log.info("request %s: ticket %s re-opened for a fresh decision", request.id, request.ticket.key)
