"""Conversations that wait on approvals: the framework's saved state (opaque JSON: the core knows
no agent framework), which requests each conversation waits on, its transcript, and the claim a
run holds while it works. Every run ends with one compare-and-set on (claim token, version), so a
run whose claim was taken over — a slow holder, a lease that ran out — can never store its result
over its successor's: one continuation completes, whatever the timing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection

from connector.core.models import utcnow

from .base import StoreBase
from .schema import aware, insert_if_absent, metadata

# conversation status
RUNNING, WAITING, DONE, FAILED = "running", "waiting", "done", "failed"
# what a request proposed in a conversation became
PROPOSED = "proposed"  # made by a run that has not stored its state yet
AWAITING = "awaiting"  # the saved state waits for its outcome
INLINE = "inline"  # the tool already returned its outcome (auto route, bounded wait)
CONTINUED = "continued"  # the conversation was resumed with its outcome
ORPHANED = "orphaned"  # its run lost the claim before storing: the conversation never saw it
LOST = "lost"  # its run stopped before its state was saved: the conversation cannot hear it

conversations_table = Table(
    "conversations",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("resumer", String(100), nullable=False),  # which framework integration resumes it
    Column("factory", String(300), nullable=False),  # import path that rebuilds the team
    Column("status", String(20), nullable=False, index=True),
    Column("options", Text, nullable=False, default="{}"),  # handed to the factory in every process
    Column("context", Text, nullable=False, default="{}"),  # requester, rationale, agent
    Column("question_prefix", String(50), nullable=False, default="@agent"),
    Column("state", Text),  # the framework's saved state, opaque JSON
    Column("version", Integer, nullable=False, default=0),  # runs stored so far
    Column("run_token", Integer, nullable=False, default=0),  # grows with every claim (fencing)
    Column("run_kind", String(20)),  # start | continue | question, while a run holds the claim
    Column("run_holder", String(200)),
    Column("run_lease_until", DateTime(timezone=True)),
    Column("awaiting", Text, nullable=False, default="[]"),  # request ids the saved state waits on
    Column("result", Text),
    Column("stop_reason", Text),
    Column("error", Text),
    Column("failures", Integer, nullable=False, default=0),  # failed runs since the last stored one
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

conversation_requests_table = Table(
    "conversation_requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("conversation_id", String(200), nullable=False, index=True),
    Column("run_token", Integer, nullable=False),
    Column("step", Integer, nullable=False),
    Column("status", String(20), nullable=False, index=True),  # each poll reads the awaiting ones
    Column("revision_of", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

conversation_messages_table = Table(
    "conversation_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(200), nullable=False, index=True),
    Column("step", Integer, nullable=False),
    Column("source", String(200), nullable=False),
    Column("kind", String(80), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

conversation_questions_table = Table(
    "conversation_questions",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("question_id", String(100), primary_key=True),
    Column("conversation_id", String(200), nullable=False, index=True),
    Column("asked_by", String(200), nullable=False),
    Column("asked_by_name", String(300)),
    Column("text", Text, nullable=False),
    Column("status", String(20), nullable=False),  # queued | answered | refused | skipped
    Column("answer", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


@dataclass
class ConversationRecord:
    id: str
    resumer: str
    factory: str
    status: str
    options: dict[str, Any]
    context: dict[str, str]
    question_prefix: str
    state: Any
    version: int
    run_token: int
    run_kind: str | None
    run_holder: str | None
    run_lease_until: datetime | None
    awaiting: list[str]
    result: str | None
    stop_reason: str | None
    error: str | None
    failures: int
    created_at: datetime
    updated_at: datetime

    def held(self, now: datetime | None = None) -> bool:
        """Whether a run holds the claim and its lease has not run out."""
        lease = self.run_lease_until
        return self.run_holder is not None and lease is not None and lease >= (now or utcnow())


@dataclass
class ConversationLink:
    """One request proposed inside a conversation."""

    request_id: str
    conversation_id: str
    run_token: int
    step: int
    status: str
    revision_of: str | None
    created_at: datetime


@dataclass
class Claim:
    """A run's hold on a conversation: ``token`` fences its writes, ``version`` is the state it
    starts from (its result is stored only if both are still current)."""

    conversation_id: str
    token: int
    version: int
    kind: str


@dataclass
class RunOutcome:
    """What a finished run hands back to be stored (the framework's part is opaque)."""

    state: Any
    messages: list[dict[str, str]] = field(default_factory=list)  # {source, kind, text}
    deferred: list[str] = field(default_factory=list)  # requests the saved state now waits on
    inline: list[str] = field(default_factory=list)  # requests whose outcome the run already heard
    result: str = ""
    stop_reason: str = ""


def _record(row: Any) -> ConversationRecord:
    data = dict(row)
    return ConversationRecord(
        id=data["id"],
        resumer=data["resumer"],
        factory=data["factory"],
        status=data["status"],
        options=json.loads(data["options"] or "{}"),
        context=json.loads(data["context"] or "{}"),
        question_prefix=data["question_prefix"],
        state=json.loads(data["state"]) if data["state"] else None,
        version=int(data["version"]),
        run_token=int(data["run_token"]),
        run_kind=data["run_kind"],
        run_holder=data["run_holder"],
        run_lease_until=aware(data["run_lease_until"]),
        awaiting=list(json.loads(data["awaiting"] or "[]")),
        result=data["result"],
        stop_reason=data["stop_reason"],
        error=data["error"],
        failures=int(data["failures"] or 0),
        created_at=aware(data["created_at"]) or utcnow(),
        updated_at=aware(data["updated_at"]) or utcnow(),
    )


def _link(row: Any) -> ConversationLink:
    data = dict(row)
    data["created_at"] = aware(data["created_at"])
    return ConversationLink(**data)


class ConversationQueries(StoreBase):
    # --- conversations -----------------------------------------------------------------------------
    def add_conversation(
        self,
        conversation_id: str,
        *,
        resumer: str,
        factory: str,
        options: dict[str, Any],
        context: dict[str, str],
        question_prefix: str,
    ) -> bool:
        """Register a conversation once; False when it exists (a second registration is a no-op)."""
        now = utcnow()
        with self.transaction() as conn:
            return insert_if_absent(
                conn,
                conversations_table,
                id=conversation_id,
                resumer=resumer,
                factory=factory,
                status=DONE,
                options=json.dumps(options, sort_keys=True, default=str),
                context=json.dumps(context, sort_keys=True),
                question_prefix=question_prefix,
                state=None,
                version=0,
                run_token=0,
                awaiting="[]",
                created_at=now,
                updated_at=now,
            )

    def conversation(self, conversation_id: str, conn: Connection | None = None) -> ConversationRecord | None:
        query = select(conversations_table).where(conversations_table.c.id == conversation_id)
        row = (conn.execute(query) if conn else self._read(query)).mappings().first()
        return _record(row) if row else None

    def conversations(self, limit: int | None = None) -> list[ConversationRecord]:
        c = conversations_table.c
        query = select(conversations_table).order_by(c.updated_at.desc(), c.id)
        if limit:
            query = query.limit(limit)
        return [_record(r) for r in self._read(query).mappings().all()]

    def claim_conversation(
        self, conversation_id: str, worker: str, lease: timedelta, kind: str
    ) -> Claim | None:
        """Take the conversation for one run; None while another run holds it (lease not over)
        or when it failed for good. The token grows, so the previous holder's writes are refused."""
        c = conversations_table.c
        now = utcnow()
        with self.transaction() as conn:
            row = conn.execute(
                update(conversations_table)
                .where(
                    c.id == conversation_id,
                    c.status != FAILED,
                    or_(c.run_holder.is_(None), c.run_lease_until.is_(None), c.run_lease_until < now),
                )
                .values(
                    run_token=c.run_token + 1,
                    run_holder=worker,
                    run_kind=kind,
                    run_lease_until=now + lease,
                    updated_at=now,
                )
                .returning(c.run_token, c.version)
            ).first()
        return Claim(conversation_id, int(row[0]), int(row[1]), kind) if row else None

    def extend_conversation_claim(self, claim: Claim, lease: timedelta) -> bool:
        """Heartbeat of a run; False once its claim was taken over."""
        c = conversations_table.c
        with self.transaction() as conn:
            result = conn.execute(
                update(conversations_table)
                .where(c.id == claim.conversation_id, c.run_token == claim.token, c.run_holder.is_not(None))
                .values(run_lease_until=utcnow() + lease)
            )
            return result.rowcount == 1

    def release_conversation(self, claim: Claim, error: str | None = None) -> int | None:
        """Give the claim back without storing a result. With ``error`` the run failed (it is
        retried from the stored state) and is counted; returns the failures so far, or None when
        the claim was no longer this run's."""
        c = conversations_table.c
        values: dict[str, Any] = {"run_holder": None, "run_kind": None, "run_lease_until": None}
        if error is not None:
            values.update(error=error[:2000], failures=c.failures + 1)
        with self.transaction() as conn:
            row = conn.execute(
                update(conversations_table)
                .where(c.id == claim.conversation_id, c.run_token == claim.token)
                .values(updated_at=utcnow(), **values)
                .returning(c.failures)
            ).first()
            return int(row[0]) if row else None

    def holds_claim(self, conn: Connection, conversation_id: str, token: int) -> ConversationRecord | None:
        """The conversation, if the run with ``token`` still holds it. A plain read, no lock (a
        request's transaction must not wait on a conversation's): a claim taken over a moment
        later is caught when the successor stores, which orphans what the old run proposed."""
        c = conversations_table.c
        query = select(conversations_table).where(
            c.id == conversation_id, c.run_token == token, c.run_holder.is_not(None)
        )
        row = conn.execute(query).mappings().first()
        return _record(row) if row else None

    def store_run(
        self, conn: Connection, claim: Claim, outcome: RunOutcome, status: str, awaiting: Sequence[str]
    ) -> bool:
        """Compare-and-set the run's result: only while this claim is current and the version is
        the one it started from. False: another run took over; nothing is written."""
        c = conversations_table.c
        result = conn.execute(
            update(conversations_table)
            .where(c.id == claim.conversation_id, c.run_token == claim.token, c.version == claim.version)
            .values(
                state=json.dumps(outcome.state),
                version=c.version + 1,
                status=status,
                awaiting=json.dumps(list(awaiting)),
                result=outcome.result,
                stop_reason=outcome.stop_reason,
                error=None,
                failures=0,
                run_holder=None,
                run_kind=None,
                run_lease_until=None,
                updated_at=utcnow(),
            )
        )
        if result.rowcount != 1:
            return False
        now = utcnow()
        for message in outcome.messages:
            conn.execute(
                insert(conversation_messages_table).values(
                    conversation_id=claim.conversation_id,
                    step=claim.version + 1,
                    source=str(message.get("source", ""))[:200],
                    kind=str(message.get("kind", ""))[:80],
                    text=str(message.get("text", "")),
                    created_at=now,
                )
            )
        return True

    def fail_conversation(self, conn: Connection, conversation_id: str, error: str) -> None:
        """Failed for good: no run claims it again (a human looks at ``conversations show``)."""
        conn.execute(
            update(conversations_table)
            .where(conversations_table.c.id == conversation_id)
            .values(
                status=FAILED,
                error=error[:2000],
                run_holder=None,
                run_kind=None,
                run_lease_until=None,
                updated_at=utcnow(),
            )
        )
