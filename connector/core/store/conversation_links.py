"""What hangs off a conversation: the requests it proposed (and what became of each), its
messages, and approvers' questions with the agent's answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from connector.core.models import utcnow

from .base import StoreBase
from .conversations import (
    AWAITING,
    PROPOSED,
    ConversationLink,
    ConversationRecord,
    _link,
    conversation_messages_table,
    conversation_questions_table,
    conversation_requests_table,
)
from .schema import insert_if_absent, outbox_table


class ConversationLinkQueries(StoreBase):
    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        c = conversation_messages_table.c
        query = select(conversation_messages_table).where(c.conversation_id == conversation_id).order_by(c.id)
        return [dict(r) for r in self._read(query).mappings().all()]

    # --- requests proposed in a conversation -------------------------------------------------------
    def link_request(
        self, conn: Connection, conversation: ConversationRecord, request_id: str, revision_of: str | None
    ) -> None:
        conn.execute(
            insert(conversation_requests_table).values(
                request_id=request_id,
                conversation_id=conversation.id,
                run_token=conversation.run_token,
                step=conversation.version,
                status=PROPOSED,
                revision_of=revision_of or None,
                created_at=utcnow(),
            )
        )

    def link(self, request_id: str, conn: Connection | None = None) -> ConversationLink | None:
        query = select(conversation_requests_table).where(
            conversation_requests_table.c.request_id == request_id
        )
        row = (conn.execute(query) if conn else self._read(query)).mappings().first()
        return _link(row) if row else None

    def links(self, conversation_id: str, conn: Connection | None = None) -> list[ConversationLink]:
        c = conversation_requests_table.c
        query = (
            select(conversation_requests_table)
            .where(c.conversation_id == conversation_id)
            .order_by(c.created_at, c.request_id)
        )
        rows = (conn.execute(query) if conn else self._read(query)).mappings().all()
        return [_link(r) for r in rows]

    def awaiting_links(self) -> list[ConversationLink]:
        """Requests some waiting conversation's saved state waits on (questions are looked for here)."""
        c = conversation_requests_table.c
        query = select(conversation_requests_table).where(c.status == AWAITING).order_by(c.created_at)
        return [_link(r) for r in self._read(query).mappings().all()]

    def set_link_status(
        self, conn: Connection, request_ids: Sequence[str], status: str, only_from: Sequence[str] = ()
    ) -> int:
        if not request_ids:
            return 0
        c = conversation_requests_table.c
        query = update(conversation_requests_table).where(c.request_id.in_(list(request_ids)))
        if only_from:
            query = query.where(c.status.in_(list(only_from)))
        return int(conn.execute(query.values(status=status)).rowcount or 0)

    def due_now(self, conn: Connection, item_ids: Sequence[str]) -> None:
        """Outbox items that waited (with backoff) for a run to save its state: due at once."""
        if item_ids:
            c = outbox_table.c
            conn.execute(
                update(outbox_table)
                .where(c.id.in_(list(item_ids)), c.delivered_at.is_(None), c.leased_by.is_(None))
                .values(next_attempt_at=utcnow())
            )

    # --- approvers' questions ------------------------------------------------------------------------
    def add_question(self, conn: Connection, request_id: str, question_id: str, **values: Any) -> bool:
        """Record a question once (across replicas and polls); False when seen before."""
        return insert_if_absent(
            conn,
            conversation_questions_table,
            request_id=request_id,
            question_id=question_id[:100],
            created_at=utcnow(),
            **values,
        )

    def question_ids(self, request_id: str) -> set[str]:
        c = conversation_questions_table.c
        rows = self._read(select(c.question_id).where(c.request_id == request_id)).all()
        return {r[0] for r in rows}

    def questions_of(self, conversation_id: str) -> list[dict[str, Any]]:
        c = conversation_questions_table.c
        query = (
            select(conversation_questions_table)
            .where(c.conversation_id == conversation_id)
            .order_by(c.created_at)
        )
        return [dict(r) for r in self._read(query).mappings().all()]

    def set_question(self, conn: Connection, request_id: str, question_id: str, **values: Any) -> None:
        c = conversation_questions_table.c
        conn.execute(
            update(conversation_questions_table)
            .where(c.request_id == request_id, c.question_id == question_id[:100])
            .values(**values)
        )
