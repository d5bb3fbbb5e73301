"""Writing the outcome back on the record: a journal entry with a hidden marker and the configured
state path, walked one step per PATCH (the change model refuses jumps). The entry rides with the
first step, so a closed change costs one PATCH per state and nothing else: a first delivery
starts from where the decision left the record, without reading it first; only when that is
refused, or on a retry, is the record's state read and the path resumed from there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.core.errors import ConflictError, PermissionDenied
from connector.core.models import OutcomeReport, TicketRef

from . import render
from .decide import safe
from .parse import value

if TYPE_CHECKING:
    from .adapter import ServiceNowAdapter


class _FirstStepRefused(Exception):
    """A business rule refused the step that carried the journal entry: nothing was written."""

    def __init__(self, error: PermissionDenied) -> None:
        super().__init__(str(error))
        self.error = error


class ServiceNowOutcome:
    def __init__(self, adapter: ServiceNowAdapter) -> None:
        self.adapter = adapter
        self.client = adapter.client

    def report(self, ticket: TicketRef, report: OutcomeReport, attempt: int) -> None:
        """Journal entry and, when final, the state path. A retry (``attempt`` > 0) first looks
        for the entry's marker, and reads where the record is: never twice, never a skipped step."""
        table = self.adapter.table_of(ticket)
        outcome = self.adapter.outcome_for(table, report)
        posted = attempt > 0 and self.marker_present(ticket, outcome.journal_field, report.report_id)
        note = None if posted else {outcome.journal_field: render.outcome_note(report)}
        transition = outcome.transitions.get(report.kind) if report.final else None
        if transition is None or not (transition.path or transition.fields):
            if note:
                self.client.update(table, ticket.id, note, ["sys_id"], appends=True)
            return
        extra = render.transition_fields(transition, report)
        if not transition.path:
            self.client.update(table, ticket.id, {**(note or {}), **extra}, ["sys_id"], appends=bool(note))
            return
        field, path = outcome.state_field, list(transition.path)
        if attempt == 0:
            try:
                return self._walk(table, ticket, field, path, extra, note)
            except _FirstStepRefused:
                pass  # the record is not where the decision left it: read where it is
        current = value(self.client.read(table, ticket.id, ["sys_id", field]), field)
        remaining = path[path.index(current) + 1 :] if current in path else path
        if not remaining:  # already there (an earlier attempt got through)
            if note:
                self.client.update(table, ticket.id, note, ["sys_id"], appends=True)
            return
        try:
            self._walk(table, ticket, field, remaining, extra, note)
        except _FirstStepRefused as refused:
            assert note is not None
            self.client.update(table, ticket.id, note, ["sys_id"], appends=True)  # the ticket is told
            raise refused.error from None

    def _walk(
        self,
        table: str,
        ticket: TicketRef,
        field: str,
        steps: list[str],
        extra: dict[str, str],
        note: dict[str, str] | None,
    ) -> None:
        """One PATCH per state; the journal entry with the first, ``extra`` with the last."""
        for i, target in enumerate(steps):
            body = {field: target, **(note or {}), **(extra if i == len(steps) - 1 else {})}
            try:
                answer = self.client.update(table, ticket.id, body, ["sys_id", field], appends=bool(note))
            except PermissionDenied as exc:
                if note:
                    raise _FirstStepRefused(exc) from None
                raise
            note = None
            if value(answer, field) != target:
                raise ConflictError(
                    f"{self.adapter.name}: {ticket.key} stayed in {field}={value(answer, field)!r} instead "
                    f"of {target!r}; a workflow or business rule on the instance refused the move",
                    system=self.adapter.name,
                )

    def marker_present(self, ticket: TicketRef, element: str, report_id: str) -> bool:
        needle = f"{render.MARKER_PREFIX}{report_id}"
        query = f"element_id={ticket.id}^element={element}"
        if safe(needle):
            query += f"^valueLIKE{needle}"
        rows = self.client.list(
            "sys_journal_field", query, ["sys_id", "element_id", "value", "sys_created_by"]
        )
        mine = self.adapter.settings.service_account.user_name
        return any(
            needle in value(r, "value")
            and value(r, "sys_created_by") == mine
            and value(r, "element_id") == ticket.id
            for r in rows
        )
