"""Transitions of a request's state as stored: one conditional UPDATE (exactly one caller wins a
race), its audit rows chained in the same transaction, and the statement shapes built once
(rows.py). Only the service's transitions module calls these."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Connection

from connector.core.models import ApprovalRequest, RequestState, utcnow

from .audit import AuditEvent, audit_table, chain_rows
from .base import StoreBase
from .prepared import run
from .rows import _from_row, _transition_statement
from .schema import requests_table

_INSERT_AUDIT = insert(audit_table)


def _stored_values(to_state: RequestState, values: dict[str, Any]) -> dict[str, Any]:
    """A transition's column values as stored: the target state, the time, the problem cleared."""
    stored = {
        k: (json.dumps(v) if k == "approved_arguments" and v is not None else v) for k, v in values.items()
    }
    stored.update(state=to_state.value, updated_at=utcnow(), problem_kind=None, problem=None)
    return stored


class TransitionQueries(StoreBase):
    def transition(
        self,
        conn: Connection,
        request_id: str,
        from_states: Sequence[RequestState],
        to_state: RequestState,
        *,
        only_if: Sequence[Any] = (),
        held_by: str | None = None,
        audit: Sequence[AuditEvent] = (),
        within_window: datetime | None = None,
        head: tuple[int, str] | None = None,
        **values: Any,
    ) -> bool:
        """Atomically move a request, with its audit rows; False if it was not in ``from_states``,
        no longer claimed by ``held_by`` (when given) or an ``only_if`` condition no longer
        holds: the caller lost a race, and nothing was written. ``head``: the audit head the
        caller last saw it write (``ApprovalRequest._audit_head``); without it, the one this
        process last saw (heads.py): one statement fewer while it is still the head."""
        moved, _ = self._move(
            conn,
            request_id,
            from_states,
            to_state,
            only_if,
            held_by,
            audit,
            within_window,
            False,
            values,
            head,
        )
        return moved is not None

    def moved(
        self,
        conn: Connection,
        request_id: str,
        from_states: Sequence[RequestState],
        to_state: RequestState,
        *,
        held_by: str | None = None,
        audit: Sequence[AuditEvent] = (),
        within_window: datetime | None = None,
        **values: Any,
    ) -> ApprovalRequest | None:
        """``transition`` that returns the request as moved (from the UPDATE itself: no read
        back), or None when the caller lost the race."""
        row, head = self._move(
            conn, request_id, from_states, to_state, (), held_by, audit, within_window, True, values
        )
        if row is None:
            return None
        request = _from_row(row)
        request._audit_head = head
        return request

    def _move(
        self,
        conn: Connection,
        request_id: str,
        from_states: Sequence[RequestState],
        to_state: RequestState,
        only_if: Sequence[Any],
        held_by: str | None,
        audit: Sequence[AuditEvent],
        within_window: datetime | None,
        full: bool,
        values: dict[str, Any],
        head: tuple[int, str] | None = None,
    ) -> tuple[Any, tuple[int, str] | None]:
        """The conditional UPDATE and its audit rows: (the updated row's mapping when ``full``,
        else a truthy marker; None when nothing moved) and the new audit head, if it wrote one."""
        if audit and not only_if:
            known = head or self.heads.get(request_id)  # type: ignore[attr-defined]
            if known is not None:
                moving = (from_states, to_state, held_by, audit, within_window)
                done = self._move_headed(conn, request_id, *moving, known, values, full)
                if done is not None:
                    return done
        values = _stored_values(to_state, values)
        states = tuple(s.value for s in from_states)
        c = requests_table.c
        if only_if:  # rare paths (recovery): built for the occasion
            where = [c.id == request_id, c.state.in_(states), *only_if]
            if held_by is not None:
                where.append(c.claimed_by == held_by)
            statement: Any = update(requests_table).where(*where).values(**values)
            if audit:
                statement = statement.values(
                    audit_rseq=c.audit_rseq + len(audit), audit_dirty=True
                ).returning(c.audit_rseq, c.audit_hash)
            result = conn.execute(statement)
        else:
            windowed = within_window is not None
            statement = _transition_statement(
                states, tuple(sorted(values)), held_by is not None, bool(audit), windowed, full
            )
            params = {f"v_{k}": v for k, v in values.items()}
            params.update(b_id=request_id, b_held_by=held_by, b_n=len(audit))
            if windowed:
                params["b_now"] = within_window
            result = run(conn, statement, params)
        if not audit and not full:
            return (True if result.rowcount == 1 else None), None
        row = result.mappings().first() if only_if else result.first()
        if row is None:
            return None, None
        new_head = None
        if audit:
            last, prev = int(row["audit_rseq"]), row["audit_hash"]
            digest = self.audit.write_rows(conn, request_id, last, prev, audit)  # type: ignore[attr-defined]
            new_head = (last, digest)  # write_rows noted it (heads.py)
            if full:
                row = {**row, "audit_hash": digest}
        return (row if full else True), new_head

    def _move_headed(
        self,
        conn: Connection,
        request_id: str,
        from_states: Sequence[RequestState],
        to_state: RequestState,
        held_by: str | None,
        audit: Sequence[AuditEvent],
        within_window: datetime | None,
        head: tuple[int, str],
        values: dict[str, Any],
        full: bool,
    ) -> tuple[Any, tuple[int, str]] | None:
        """The transition with its new audit head written in the same UPDATE (the rows are
        chained from ``head``), only while ``head`` is still the stored head: as ``_move``
        returns it, or None (nothing written) when the head moved on or the request did not."""
        old_rseq, prev = head
        rows, digest = chain_rows(request_id, old_rseq + 1, prev, audit)
        values = _stored_values(to_state, values)
        windowed = within_window is not None
        states = tuple(s.value for s in from_states)
        keys = tuple(sorted(values))
        statement = _transition_statement(states, keys, held_by is not None, True, windowed, full, True)
        params = {f"v_{k}": v for k, v in values.items()}
        params.update(b_id=request_id, b_held_by=held_by, b_old_rseq=old_rseq, b_prev=prev)
        params.update(b_rseq=old_rseq + len(rows), b_hash=digest)
        if windowed:
            params["b_now"] = within_window
        result = run(conn, statement, params)
        if result.rowcount != 1:
            return None
        run(conn, _INSERT_AUDIT, rows)
        new_head = (old_rseq + len(rows), digest)
        self.heads.note(request_id, *new_head)  # type: ignore[attr-defined]
        return (result.first() if full else True), new_head
