"""The timing part of the only writer of a request's state (see transitions.py): change windows,
stale approvals re-opened, deadline actions, reminders. Mixed into ``Transitions``."""

from __future__ import annotations

import logging
from typing import Any

from connector.core.models import (
    ApprovalRequest,
    OutcomeReport,
    ReportKind,
    RequestState,
    utcnow,
)
from connector.core.reports import outcome_report
from connector.core.store import requests_table

log = logging.getLogger("approval_connector")

REOPEN_KIND = "reopen"
OutboxItem = tuple[str, str, dict[str, Any]]  # (item id, kind, payload)
FORGOTTEN_WHEN_STALE = ("approver", "approver_name", "decision_reason", "decided_at")
FORGOTTEN_WHEN_STALE += ("approved_arguments", "approved_digest", "not_before", "not_after")


class TimingTransitions:
    """Needs ``store``, ``ctx``, ``enqueue_report``, ``_report_if_ticketed`` and ``_final`` of
    ``Transitions``."""

    def windowed(
        self, request_id: str, opens: Any, closes: Any, details: dict[str, Any], report: OutcomeReport | None
    ) -> bool:
        """An approved call learns its change window (once: the first replica to look sets it);
        waiting for it to open is said on the ticket. False when it was set already."""
        c = requests_table.c
        with self.store.transaction() as conn:
            if not self.store.transition(
                conn,
                request_id,
                [RequestState.APPROVED],
                RequestState.APPROVED,
                only_if=[c.not_after.is_(None)],
                not_before=opens,
                not_after=closes,
                audit=[("window", self.ctx.worker_id, details)],
            ):
                return False
            if report is not None:
                self.enqueue_report(conn, report)
            return True

    def window_closed(
        self, request_id: str, reason: str, interrupted: bool = False
    ) -> ApprovalRequest | None:
        """APPROVED → WINDOW_CLOSED: the window closed before the call could run; nothing ran.
        ``interrupted``: a run was started and cut short before, so it may have taken effect:
        APPROVED → IN_DOUBT instead, for a human to settle."""
        with self.store.transaction() as conn:
            audit = [("window_closed", "scheduler", {"reason": reason, "interrupted": interrupted})]
            closed, kind = RequestState.WINDOW_CLOSED, ReportKind.WINDOW_CLOSED
            if interrupted:
                closed, kind = RequestState.IN_DOUBT, ReportKind.IN_DOUBT
                reason = (
                    f"a run was cut short, then its change window closed ({reason}) before it could run again"
                )
            if not self.store.transition(
                conn, request_id, [RequestState.APPROVED], closed, error=reason, audit=audit
            ):
                return None
            stored = self.store.get(request_id, conn)
            self._report_if_ticketed(conn, stored, kind)
            self._final(conn, stored)
            return stored

    def went_stale(
        self, request_id: str, details: dict[str, Any], values: dict[str, Any], report: OutcomeReport
    ) -> ApprovalRequest | None:
        """APPROVED → SUBMITTED: the approval is older than the route's ``valid_for`` when its turn
        to run came. The decision is forgotten (approver, edit, window), the call is sealed as
        proposed again, and the ticket is re-opened through the outbox (then → TICKETED)."""
        with self.store.transaction() as conn:
            stored = self.store.get(request_id, conn)
            if stored.state is not RequestState.APPROVED:
                return None
            forgotten = dict.fromkeys(FORGOTTEN_WHEN_STALE)
            values |= {**forgotten, "seal": self.ctx.sealer.call_seal(stored.model_copy(update=forgotten))}
            audit = [("approval_stale", "scheduler", details)]
            back = RequestState.SUBMITTED
            if not self.store.transition(
                conn, request_id, [RequestState.APPROVED], back, audit=audit, **values
            ):
                return None
            self.enqueue_report(conn, report, REOPEN_KIND)  # delivered by the re-open handler
            return self.store.get(request_id, conn)

    def reopened(self, request_id: str, item_id: str, ticket_key: str) -> bool:
        """The ticket waits for a fresh decision again: SUBMITTED → TICKETED, with its audit row."""
        audit = [("reopened", self.ctx.worker_id, {"ticket": ticket_key})]
        with self.store.transaction() as conn:
            self.store.outbox_delivered(conn, item_id)
            return self.store.transition(
                conn, request_id, [RequestState.SUBMITTED], RequestState.TICKETED, audit=audit
            )

    def deadline_escalated(
        self, request_id: str, deadline: Any, item: OutboxItem, details: dict[str, Any]
    ) -> bool:
        """The deadline of an ``escalate`` tier passed: escalate once, wait one more deadline."""
        c = requests_table.c
        with self.store.transaction() as conn:
            if not self.store.transition(
                conn,
                request_id,
                [RequestState.TICKETED],
                RequestState.TICKETED,
                only_if=[c.on_deadline == "escalate"],
                deadline=deadline,
                on_deadline="expire",
                audit=[("deadline_escalated", "scheduler", details)],
            ):
                return False
            self.store.enqueue(conn, item[0], request_id, item[1], item[2])
            return True

    def deadline_approved(
        self, request_id: str, reason: str, details: dict[str, Any]
    ) -> ApprovalRequest | None:
        """TICKETED → APPROVED by policy: a low-risk tier's deadline passed without a decision."""
        c = requests_table.c
        now = utcnow()
        with self.store.transaction() as conn:
            if not self.store.transition(
                conn,
                request_id,
                [RequestState.TICKETED],
                RequestState.APPROVED,
                only_if=[c.on_deadline == "approve"],
                approver="policy:deadline",
                decision_reason=reason,
                decided_at=now,
                audit=[("auto_approved", "policy", {**details, "reason": reason})],
            ):
                return None
            stored = self.store.get(request_id, conn)
            self.enqueue_report(conn, outcome_report(stored, ReportKind.AUTO_APPROVED, reason))
            return stored
