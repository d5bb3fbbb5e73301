"""Approvers' questions: a comment (work note) on a waiting conversation's ticket that starts with
the conversation's prefix (``@agent`` by default), written by an allowed approver, is relayed to
the conversation; the agent's answer is commented back; the request keeps waiting and its stored
call never changes. Each question is taken once (recorded with its outbox work in one
transaction), whichever poll or replica sees it first. The connector's own comments, the
requester's and anyone not allowed to approve never count."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Connection

from connector.core.errors import AdapterError
from connector.core.models import (
    ApprovalRequest,
    OutcomeReport,
    Question,
    ReportKind,
    RequestState,
    TicketDecision,
    Verdict,
)
from connector.core.store.conversations import AWAITING, WAITING, ConversationRecord, RunOutcome

from .context import ServiceContext
from .conversation_text import answer_report_text, question_message
from .conversations import QUESTION_KIND, Conversations, ResumeJob, item_id
from .decisions import Decisions
from .outbox import NotYet

log = logging.getLogger("approval_connector")

CLOCK_MARGIN = timedelta(minutes=5)  # comments are stamped by the ticketing system's clock


def asked(text: str, prefix: str) -> str | None:
    """The question in a comment that starts with ``prefix`` (case-insensitive), else None."""
    body = text.strip()
    if not prefix or not body.lower().startswith(prefix.lower()):
        return None
    question = body[len(prefix) :].lstrip(" :,-\t\n")
    return question or None


class Questions:
    def __init__(self, ctx: ServiceContext, conversations: Conversations, decisions: Decisions) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.conversations = conversations
        self.decisions = decisions
        conversations.outbox.register(QUESTION_KIND, self._deliver, conversations.lease)

    async def poll(self, systems: list[str] | None = None) -> int:
        """Look for new questions on every ticket a waiting conversation waits on; returns how
        many were relayed. One comment read per such ticket (only those, not every ticket)."""
        relayed = 0
        for link in await self.ctx.db(self.store.awaiting_links):
            request = await self.ctx.db(self.store.get, link.request_id)
            if request.state is not RequestState.TICKETED or request.ticket is None:
                continue
            if systems and request.system not in systems:
                continue
            record = await self.ctx.db(self.store.conversation, link.conversation_id)
            if record is None or record.status != WAITING or not record.question_prefix:
                continue
            try:
                relayed += await self._ticket(request, record)
            except AdapterError as exc:
                log.warning("questions on %s not read: %s", request.ticket.key, exc)
        return relayed

    async def _ticket(self, request: ApprovalRequest, record: ConversationRecord) -> int:
        assert request.ticket is not None
        bridge = self.ctx.adapter(request.system)
        since = request.created_at - CLOCK_MARGIN
        # the bridge's one way to an adapter (worker thread, budget, metrics)
        found: list[Question] = await bridge._call("questions", request.ticket, request, since)
        seen = await self.ctx.db(self.store.question_ids, request.id)
        fresh = [q for q in found if q.id[:100] not in seen]
        if not fresh:
            return 0
        own = {n.lower() for n in await bridge.service_identities()}
        relayed, taken = 0, False
        for question in fresh:
            text = asked(question.text, record.question_prefix)
            names = {n.lower() for n in question.actor.names()}
            if text is None or names & own:
                continue  # an ordinary comment, or the connector's own
            refusal = await self._refusal(request, question)
            if await self.ctx.db(self._recorded, request, record, question, text, refusal):
                relayed += refusal is None
                taken = True
        if taken:
            self.conversations.outbox.kick(request.id)  # relay (or refuse) them now, in order
        return relayed

    async def _refusal(self, request: ApprovalRequest, question: Question) -> str | None:
        """The approval rules themselves: whoever could not approve this request may not ask."""
        as_if = TicketDecision(verdict=Verdict.APPROVED, actor=question.actor, status="question")
        return await self.decisions.refusal(request, as_if)

    def _recorded(
        self,
        request: ApprovalRequest,
        record: ConversationRecord,
        question: Question,
        text: str,
        refusal: str | None,
    ) -> bool:
        """Take the question once, with its audit row and its outbox work, in one transaction."""
        actor = question.actor
        who = actor.display or actor.id
        with self.store.transaction() as conn:
            added = self.store.add_question(
                conn,
                request.id,
                question.id,
                conversation_id=record.id,
                asked_by=actor.id,
                asked_by_name=who,
                text=text[:4000],
                status="refused" if refusal else "queued",
            )
            if not added:
                return False  # another poll or replica took it
            details = {"question_id": question.id, "asked_by": actor.id, "conversation_id": record.id}
            if refusal is not None:
                self.store.audit.append(
                    conn, request.id, "question_refused", actor.id, {**details, "why": refusal}
                )
                report = OutcomeReport(
                    report_id=item_id(request.id, "q-refused", question.id),
                    request_id=request.id,
                    route=request.route,
                    kind=ReportKind.CONVERSATION,
                    text=f"Question not relayed to the agent: {refusal}.",
                    final=False,
                )
                self.conversations.transitions.enqueue_report(conn, report)
                return True
            self.store.audit.append(
                conn, request.id, "question_asked", actor.id, {**details, "text": text[:500]}
            )
            payload = {
                "conversation_id": record.id,
                "question_id": question.id[:100],
                "text": text[:4000],
                "asked_by": actor.id,
                "asked_by_name": who,
            }
            self.store.enqueue(
                conn, item_id(request.id, "q", question.id), request.id, QUESTION_KIND, payload
            )
            return True

    # --- relaying one question -------------------------------------------------------------------
    async def _deliver(self, item: dict[str, Any], request: ApprovalRequest, attempt: int) -> None:
        """Outbox handler: run the waiting conversation once with the question, store its state
        with the answer queued for the ticket — or skip a question whose request moved on."""
        asked = json.loads(item["payload"])
        conversations = self.conversations
        record = await self.ctx.db(self.store.conversation, asked["conversation_id"])
        if record is None or not await self._still_waiting(request.id):
            await self.ctx.db(self._skipped, request, asked)
            return
        claim = await conversations.claim(record, QUESTION_KIND)
        request = await self.ctx.db(self.store.get, request.id)
        if not await self._still_waiting(request.id):
            await self.ctx.db(self.store.release_conversation, claim)
            await self.ctx.db(self._skipped, request, asked)
            return
        record = await self.ctx.db(self.store.conversation, record.id)
        assert record is not None
        job = ResumeJob(
            record,
            claim,
            QUESTION_KIND,
            question_message(request, asked["asked_by_name"], asked["text"]),
            request,
            conversations.run_context(record, claim),
            asked["asked_by_name"],
        )
        outcome = await conversations.run(job, attempt)
        if outcome is None:
            return

        def answered(conn: Connection, outcome: RunOutcome) -> None:
            self._answered(conn, request, asked, outcome.result)

        if not await conversations.store_result(claim, outcome, also=answered):
            raise NotYet("the conversation changed while answering; asking again from its new state")
        await conversations.outbox.deliver_for(request.id)  # the answer on the ticket, now

    async def _still_waiting(self, request_id: str) -> bool:
        request = await self.ctx.db(self.store.get, request_id)
        link = await self.ctx.db(self.store.link, request_id)
        return link is not None and link.status == AWAITING and request.state is RequestState.TICKETED

    def _answered(
        self, conn: Connection, request: ApprovalRequest, asked: dict[str, Any], answer: str
    ) -> None:
        qid = asked["question_id"]
        answer = answer.strip() or "(the agent gave no answer)"
        self.store.set_question(conn, request.id, qid, status="answered", answer=answer[:4000])
        self.store.audit.append(
            conn,
            request.id,
            "question_answered",
            self.ctx.worker_id,
            {"question_id": qid, "answer": answer[:500]},
        )
        if self.ctx.wants_ticket(request):
            report = OutcomeReport(
                report_id=item_id(request.id, "answer", qid),
                request_id=request.id,
                route=request.route,
                kind=ReportKind.ANSWER,
                text=answer_report_text(asked["asked_by_name"], asked["text"], answer),
                final=False,
            )
            self.conversations.transitions.enqueue_report(conn, report)

    def _skipped(self, request: ApprovalRequest, asked: dict[str, Any]) -> None:
        with self.store.transaction() as conn:
            self.store.set_question(conn, request.id, asked["question_id"], status="skipped")
            self.store.audit.append(
                conn,
                request.id,
                "question_skipped",
                self.ctx.worker_id,
                {"question_id": asked["question_id"], "why": f"the request is {request.state.value}"},
            )
