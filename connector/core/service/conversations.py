"""Conversations that pause on a ticket and resume with the outcome, in whatever process handles
the decision, exactly once.

- A gated call made inside a conversation's run is linked to it in the transaction that stores
  the request (``Transitions.on_submitted``), and only while that run still holds the
  conversation's claim: a run that was taken over cannot propose anything.
- When the run ends, the framework's state is stored with one compare-and-set on (claim token,
  version), together with which requests it now waits on.
- The transaction that makes a linked request final queues its continuation
  (``Transitions.on_final``): an outbox item, so it is never lost between the outcome and the
  resume, and is delivered under a lease, retried after a crash, in any process.
- The continuation claims the conversation, rebuilds it through the framework's resumer
  (registered by name), continues it with one message carrying the outcome, and stores the
  result by the same compare-and-set: if its claim was taken over meanwhile (a slow holder whose
  lease ran out), its result is dropped and the successor's stands — one continuation completes.

The core stores the framework's state as opaque JSON; it knows no agent framework."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Connection

from connector.core.errors import UserError
from connector.core.models import ApprovalRequest, Mode, OutcomeReport, ReportKind, RequestState
from connector.core.redact import redact
from connector.core.store.conversations import (
    AWAITING,
    CONTINUED,
    DONE,
    FAILED,
    INLINE,
    LOST,
    ORPHANED,
    PROPOSED,
    WAITING,
    Claim,
    ConversationRecord,
    RunOutcome,
)

from .context import ServiceContext
from .conversation_text import outcome_message, revision_note
from .outbox import NotYet, Outbox
from .transitions import Transitions

log = logging.getLogger("approval_connector")

CONTINUE_KIND = "continue"
QUESTION_KIND = "question"
START_KIND = "start"
RUN_KEY = "conversation_run"  # approval-context key: the claim token of the run making the call
MAX_FAILURES = 5  # failed continuations before the conversation is marked failed and reported


class ConversationBusy(UserError):
    """The conversation cannot take this run or this call now (another run holds it, it waits
    for a decision, or the run was taken over); nothing was stored."""


@dataclass
class ResumeJob:
    """One continuation for a framework resumer: rebuild ``conversation`` from its factory, load
    its state, continue it with ``message`` from the gatekeeper, and make every gated call inside
    carry ``context`` (it names the claim, so the core can refuse calls of a superseded run)."""

    conversation: ConversationRecord
    claim: Claim
    kind: str  # continue | question
    message: str
    request: ApprovalRequest  # the request the message is about
    context: dict[str, str] = field(default_factory=dict)
    asked_by: str = ""


Resumer = Callable[[ResumeJob], Awaitable[RunOutcome]]


def item_id(request_id: str, kind: str, suffix: str = "") -> str:
    """An outbox item id that starts with its request id (how the outbox finds an item's
    request) and fits the column: a long suffix (a foreign comment id) is hashed."""
    base = f"{request_id}:{kind}"
    if suffix and len(base) + 1 + len(suffix) > 80:
        suffix = hashlib.sha256(suffix.encode()).hexdigest()[:20]
    return f"{base}:{suffix}" if suffix else base


class Conversations:
    def __init__(self, ctx: ServiceContext, transitions: Transitions, outbox: Outbox) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.transitions = transitions
        self.outbox = outbox
        self.resumers: dict[str, Resumer] = {}
        # runs are leased like executions (heartbeated) and a continuation must finish within it
        self.lease = max(ctx.lease, timedelta(seconds=1))
        self.budget = self.lease.total_seconds() * 0.9
        transitions.on_submitted.append(self._on_submitted)
        transitions.on_final.append(self._on_final)
        outbox.register(CONTINUE_KIND, self._deliver_continue, self.lease)  # questions: questions.py

    def register_resumer(self, name: str, resumer: Resumer) -> None:
        """``resumer(job) -> RunOutcome`` continues conversations registered with ``resumer=name``."""
        self.resumers[name] = resumer

    # --- the framework side's calls ------------------------------------------------------------
    async def register(
        self,
        conversation_id: str,
        *,
        resumer: str,
        factory: str,
        options: dict[str, Any] | None = None,
        context: dict[str, str] | None = None,
        question_prefix: str = "@agent",
    ) -> ConversationRecord:
        """Register once; a second registration of the same id keeps the first (its factory
        must match: the conversation is rebuilt from it in every process)."""
        if not conversation_id.strip() or len(conversation_id) > 200:
            raise UserError("conversation_id must be 1 to 200 characters")
        await self.ctx.db(
            self.store.add_conversation,
            conversation_id,
            resumer=resumer,
            factory=factory,
            options=dict(options or {}),
            context={k: str(v) for k, v in (context or {}).items()},
            question_prefix=question_prefix,
        )
        record = await self.ctx.db(self.store.conversation, conversation_id)
        assert record is not None
        if record.factory != factory or record.resumer != resumer:
            raise UserError(
                f"conversation {conversation_id!r} is registered with {record.resumer} factory "
                f"{record.factory!r}, not {factory!r}"
            )
        return record

    async def begin(self, conversation_id: str) -> tuple[Claim, ConversationRecord]:
        """Claim a conversation for a run started by the application (a new task)."""
        claim = await self.ctx.db(
            self.store.claim_conversation, conversation_id, self.ctx.worker_id, self.lease, START_KIND
        )
        record = await self.ctx.db(self.store.conversation, conversation_id)
        if record is None:
            raise UserError(f"no conversation {conversation_id!r}; register it first")
        if claim is None:
            why = "it failed; see conversations show" if record.status == FAILED else "another run holds it"
            raise ConversationBusy(f"conversation {conversation_id!r} cannot start a run: {why}")
        if record.status == WAITING:
            await self.ctx.db(self.store.release_conversation, claim)
            raise ConversationBusy(
                f"conversation {conversation_id!r} waits for a decision on {', '.join(record.awaiting)}; "
                "it resumes by itself when they are decided"
            )
        return claim, record

    def run_context(self, record: ConversationRecord, claim: Claim, **extra: str) -> dict[str, str]:
        """What every gated call in this run carries (``approval_context``)."""
        return {**record.context, "conversation_id": record.id, RUN_KEY: str(claim.token), **extra}

    @asynccontextmanager
    async def holding(self, claim: Claim) -> AsyncIterator[None]:
        """Keep the claim while the run works (a heartbeat at a third of the lease)."""
        beat = asyncio.ensure_future(self._heartbeat(claim))
        try:
            yield
        finally:
            beat.cancel()

    async def _heartbeat(self, claim: Claim) -> None:
        interval = max(0.05, self.lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self.ctx.db(self.store.extend_conversation_claim, claim, self.lease):
                    log.error("conversation %s: claim taken over while running", claim.conversation_id)
                    return
            except Exception as exc:  # noqa: BLE001 - retried at the next beat, within the lease
                log.warning("conversation %s: could not extend the claim (%s)", claim.conversation_id, exc)

    async def finish(self, claim: Claim, outcome: RunOutcome) -> bool:
        """Store a run's result; False (and its proposals orphaned) when it was taken over."""
        stored = await self.store_result(claim, outcome)
        if not stored:
            await self.ctx.db(self._orphaned, claim)
        return stored

    async def abandon(self, claim: Claim, error: str) -> None:
        """A run failed without a result: give the claim back; the stored state is unchanged."""
        await self.ctx.db(self.store.release_conversation, claim, redact(error) or error)

    # --- hooks inside the core's transactions --------------------------------------------------
    def _on_submitted(self, conn: Connection, request: ApprovalRequest, context: Mapping[str, str]) -> None:
        conversation_id, token = context.get("conversation_id"), context.get(RUN_KEY)
        if not conversation_id or not token:
            return  # not made inside a registered conversation's run
        record = self.store.holds_claim(conn, conversation_id, int(token))
        if record is None:
            raise ConversationBusy(
                f"conversation {conversation_id!r} was taken over by another run; this call was not "
                "recorded. Stop here."
            )
        if record.run_kind == QUESTION_KIND:
            raise ConversationBusy(
                "while an approver's question is being answered no action can be proposed; answer "
                "the question only"
            )
        revision_of = context.get("revision_of") or None
        self.store.link_request(conn, record, request.id, revision_of)
        details = {"conversation_id": record.id, "step": record.version + 1, "revision_of": revision_of}
        self.store.audit.append(conn, request.id, "in_conversation", request.agent, details)

    def _on_final(self, conn: Connection, request: ApprovalRequest) -> None:
        if not request.conversation_id or request.mode is Mode.AUTO:
            return  # auto calls answer inline
        link = self.store.link(request.id, conn)
        if link is None or link.status not in (PROPOSED, AWAITING):
            return
        payload = {"conversation_id": link.conversation_id}
        self.store.enqueue(conn, item_id(request.id, CONTINUE_KIND), request.id, CONTINUE_KIND, payload)

    # --- storing a run -------------------------------------------------------------------------
    def _stored(
        self,
        claim: Claim,
        outcome: RunOutcome,
        continued: ApprovalRequest | None,
        also: Callable[[Connection, RunOutcome], None] | None,
    ) -> list[str] | None:
        """One transaction: the compare-and-set of the state, what the run proposed, audit rows,
        and the outbox work that follows (an answer on the ticket, continuations now due).
        Returns the requests whose outbox work to start now, or None when the run was taken over."""
        cid = claim.conversation_id
        with self.store.transaction() as conn:
            record = self.store.conversation(cid, conn)
            if record is None:
                return None
            links = self.store.links(cid, conn)
            inline = set(outcome.inline)
            mine = [k.request_id for k in links if k.status == PROPOSED and k.run_token == claim.token]
            stale = [k.request_id for k in links if k.status == PROPOSED and k.run_token < claim.token]
            fresh = [r for r in mine if r not in inline]
            kept = [r for r in record.awaiting if not continued or r != continued.id]
            awaiting = kept + [r for r in fresh if r not in kept]
            if not self.store.store_run(conn, claim, outcome, WAITING if awaiting else DONE, awaiting):
                return None
            step = claim.version + 1
            self.store.set_link_status(conn, fresh, AWAITING, only_from=[PROPOSED])
            self.store.set_link_status(conn, sorted(inline & set(mine)), INLINE, only_from=[PROPOSED])
            for request_id in fresh:
                self.store.audit.append(
                    conn, request_id, "conversation_waiting", self.ctx.worker_id, {"conversation_id": cid}
                )
            self._orphan(conn, cid, stale)
            if continued is not None:
                self.store.set_link_status(conn, [continued.id], CONTINUED)
                details = {
                    "conversation_id": cid,
                    "step": step,
                    "outcome": continued.state.value.lower(),
                    "stop_reason": outcome.stop_reason[:300],
                    "waiting_on": awaiting,
                }
                self.store.audit.append(
                    conn, continued.id, "conversation_resumed", self.ctx.worker_id, details
                )
            if also is not None:
                also(conn, outcome)  # e.g. the answer to an approver's question, for the ticket
            # continuations that came in while this run was still going: due now, not after backoff
            self.store.due_now(conn, [item_id(r, CONTINUE_KIND) for r in fresh])
        return fresh

    async def store_result(
        self,
        claim: Claim,
        outcome: RunOutcome,
        continued: ApprovalRequest | None = None,
        also: Callable[[Connection, RunOutcome], None] | None = None,
    ) -> bool:
        """Store a run's result (compare-and-set); False when another run took over meanwhile."""
        kicks = await self.ctx.db(self._stored, claim, outcome, continued, also)
        for request_id in kicks or []:
            self.outbox.kick(request_id)  # a continuation that came in while this run went on
        return kicks is not None

    def note(self, conn: Connection, request: ApprovalRequest, tag: str, text: str) -> None:
        """A note on the request's ticket about its conversation (never moves the ticket)."""
        if self.ctx.wants_ticket(request):
            report = OutcomeReport(
                report_id=item_id(request.id, "conv", tag),
                request_id=request.id,
                route=request.route,
                kind=ReportKind.CONVERSATION,
                text=text,
                final=False,
            )
            self.transitions.enqueue_report(conn, report)

    def _orphan(self, conn: Connection, cid: str, request_ids: list[str]) -> None:
        if not self.store.set_link_status(conn, request_ids, ORPHANED, only_from=[PROPOSED]):
            return
        for request_id in request_ids:
            request = self.store.get(request_id, conn)
            self.store.audit.append(
                conn, request_id, "conversation_orphaned", self.ctx.worker_id, {"conversation_id": cid}
            )
            self.note(
                conn,
                request,
                "orphaned",
                f"Note: conversation {cid} was continued by another run before the run that proposed "
                "this call could save its state; the conversation will not hear this request's "
                "outcome. Decide it on its own merits.",
            )

    def _orphaned(self, claim: Claim) -> None:
        with self.store.transaction() as conn:
            links = self.store.links(claim.conversation_id, conn)
            mine = [k.request_id for k in links if k.status == PROPOSED and k.run_token == claim.token]
            self._orphan(conn, claim.conversation_id, mine)

    def _given_up(self, claim: Claim, request: ApprovalRequest, status: str, why: str) -> None:
        """The conversation cannot hear this outcome: marked, audited, said on the ticket."""
        cid = claim.conversation_id
        with self.store.transaction() as conn:
            self.store.fail_conversation(conn, cid, why)
            self.store.set_link_status(conn, [request.id], status)
            self.store.audit.append(
                conn,
                request.id,
                "conversation_failed",
                self.ctx.worker_id,
                {"conversation_id": cid, "why": why},
            )
            self.note(
                conn,
                request,
                "failed",
                f"Conversation {cid} could not be resumed with this outcome: {why}. The outcome "
                "stands; the agent was not told.",
            )

    async def _give_up(self, claim: Claim, request: ApprovalRequest, why: str) -> None:
        await self.ctx.db(self._given_up, claim, request, LOST, why)
        await self.outbox.deliver_for(request.id)  # the note on the ticket, now (this process may exit)

    # --- continuations -------------------------------------------------------------------------
    async def _deliver_continue(self, item: dict[str, Any], request: ApprovalRequest, attempt: int) -> None:
        cid = json.loads(item["payload"])["conversation_id"]
        link = await self.ctx.db(self.store.link, request.id)
        if link is None or link.status not in (PROPOSED, AWAITING):
            return  # heard inline, continued already, or not hearable
        record = await self.ctx.db(self.store.conversation, cid)
        if record is None or record.status == FAILED:
            return
        if link.status == PROPOSED and record.held():
            raise NotYet(f"conversation {cid}: the run that proposed it has not saved its state yet")
        claim = await self.claim(record, CONTINUE_KIND)
        link = await self.ctx.db(self.store.link, request.id)
        if link is not None and link.status == PROPOSED:  # its run is over and never stored
            why = "the run that proposed this call stopped before its state was saved"
            await self._give_up(claim, request, why)
            return
        if link is None or link.status != AWAITING:
            await self.ctx.db(self.store.release_conversation, claim)
            return
        record = await self.ctx.db(self.store.conversation, cid)
        assert record is not None
        extra = {}
        if request.state is RequestState.REJECTED:
            note = revision_note(request)
            rationale = record.context.get("rationale", "")
            extra = {"revision_of": request.id, "rationale": f"{note}\n{rationale}".strip()}
        job = ResumeJob(
            record,
            claim,
            CONTINUE_KIND,
            outcome_message(request),
            request,
            self.run_context(record, claim, **extra),
        )
        outcome = await self.run(job, attempt)
        if outcome is None:
            return
        if await self.store_result(claim, outcome, continued=request):
            log.info("conversation %s resumed with the outcome of %s", cid, request.id)
        else:
            await self.ctx.db(self._orphaned, claim)
            log.warning(
                "conversation %s: continuation for %s superseded; its result dropped", cid, request.id
            )

    async def claim(self, record: ConversationRecord, kind: str) -> Claim:
        """Claim the conversation for a continuation or an answer; NotYet while that cannot be."""
        if record.resumer not in self.resumers:
            raise NotYet(f"no {record.resumer} resumer in this process for conversation {record.id}")
        claim = await self.ctx.db(
            self.store.claim_conversation, record.id, self.ctx.worker_id, self.lease, kind
        )
        if claim is None:
            raise NotYet(f"conversation {record.id}: another run holds it")
        return claim

    async def run(self, job: ResumeJob, attempt: int) -> RunOutcome | None:
        """Run the resumer under the claim, within the lease. A failure gives the claim back and
        is retried from the stored state; after MAX_FAILURES the conversation is marked failed,
        said on the ticket, and None is returned."""
        resumer = self.resumers[job.conversation.resumer]
        budget = self.budget
        try:
            async with self.holding(job.claim):
                task = asyncio.ensure_future(resumer(job))
                done, _ = await asyncio.wait({task}, timeout=budget)
                if not done:
                    task.cancel()  # not awaited: a framework may hang on cancel; its writes are fenced
                    raise TimeoutError(f"the continuation did not finish within {budget:.0f}s")
                return task.result()
        except Exception as exc:
            error = redact(f"{type(exc).__name__}: {exc}") or type(exc).__name__
            failures = await self.ctx.db(self.store.release_conversation, job.claim, error)
            log.warning("conversation %s: continuation failed (%s): %s", job.conversation.id, failures, error)
            if failures is not None and failures >= MAX_FAILURES:
                why = f"{failures} attempts failed; the last: {error}"
                await self._give_up(job.claim, job.request, why)
                return None
            raise
