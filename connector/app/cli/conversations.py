"""``approval-connector conversations``: what a conversation that waits on approvals did — its runs'
messages, the requests it proposed (and what became of them), approvers' questions and answers,
and where it stands now. ``ask`` puts an approver's question on a local desk ticket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click

from connector.app.cli import codes
from connector.app.cli.options import command
from connector.core.errors import UserError
from connector.core.models import ApprovalRequest
from connector.core.store.conversations import ConversationRecord

TEXT_LIMIT = 600


class _Cli:
    """What these commands use of the CLI's session and output."""

    from connector.app.cli.desk import desk_for
    from connector.app.cli.output import out
    from connector.app.cli.session import connector, default_actor


def _cli() -> Any:
    return _Cli


def _clip(text: str, limit: int = TEXT_LIMIT) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + " …"


def find_conversation(conn: Any, ident: str) -> ConversationRecord:
    """By conversation id, or by a request id / ticket key of a request proposed in it."""
    store = conn.store
    record = store.conversation(ident.strip())
    if record is not None:
        return record
    try:
        request = store.resolve(ident)
    except UserError:
        raise UserError(f"no conversation, request or ticket matches {ident!r}") from None
    link = store.link(request.id)
    if link is None:
        raise UserError(f"request {request.id[:12]} was not proposed in a registered conversation")
    found = store.conversation(link.conversation_id)
    assert found is not None
    return found


def _label(request: ApprovalRequest) -> str:
    return request.ticket.key if request.ticket else request.id[:12]


@command("list")
@click.option("--limit", default=50, type=click.IntRange(1, 2**62), help="At most this many (newest).")
def list_conversations(limit: int) -> None:
    """Registered conversations, most recently active first."""
    cli = _cli()
    rows = cli.connector().store.conversations(limit)
    if not rows:
        cli.out.print("No conversations.")
        return
    for record in rows:
        waiting = f"  waiting on {len(record.awaiting)}" if record.awaiting else ""
        cli.out.print(
            f"{record.id}  [{record.status}]  runs {record.version}  updated "
            f"{record.updated_at:%Y-%m-%d %H:%M}{waiting}"
        )


@command("show")
@click.argument("ident", metavar="ID")
@click.option("--full", is_flag=True, help="Messages in full, not clipped.")
def show_conversation(ident: str, full: bool) -> None:
    """One conversation (ID: conversation id, or a request id / ticket key proposed in it): where
    it stands, its requests, questions, and every run's messages."""
    cli = _cli()
    conn = cli.connector()
    out = cli.out
    record = find_conversation(conn, ident)
    store = conn.store
    out.print(f"conversation {record.id}  [{record.status}]  ({record.resumer} team {record.factory})")
    out.print(f"  runs stored  {record.version}   registered {record.created_at:%Y-%m-%d %H:%M:%S} UTC")
    if record.context:
        out.print(
            "  context      " + "  ".join(f"{k}={_clip(v, 80)}" for k, v in sorted(record.context.items()))
        )
    if record.options:
        out.print(f"  options      {json.dumps(record.options, sort_keys=True)}")
    if record.run_holder:
        lease = f"{record.run_lease_until:%H:%M:%S}" if record.run_lease_until else "-"
        out.print(f"  running      {record.run_kind} run by {record.run_holder} (lease until {lease} UTC)")
    if record.awaiting:
        waits = [store.get(r) for r in record.awaiting]
        out.print(
            "  waiting on   " + ", ".join(f"{_label(r)} {r.tool_name} [{r.state.value}]" for r in waits)
        )
    if record.error:
        out.print(f"  error        {record.error}")
    links = store.links(record.id)
    if links:
        out.print("requests:")
        for link in links:
            request = store.get(link.request_id)
            line = f"  {_label(request):<12} {request.tool_name:<20} {request.state.value:<10} {link.status}"
            if link.revision_of:
                line += f"   revision of {_label(store.get(link.revision_of))}"
            out.print(line)
            for item in store.outbox_for(request.id):
                if item["delivered_at"] is None and item["kind"] in ("continue", "question"):
                    error = item["last_error"] or ""
                    out.print(f"      pending {item['kind']}, {item['attempts']} attempts {error}".rstrip())
    questions = store.questions_of(record.id)
    if questions:
        out.print("questions:")
        for q in questions:
            out.print(f"  {q['asked_by_name'] or q['asked_by']} [{q['status']}]: {_clip(q['text'])}")
            if q["answer"]:
                out.print(f"    answer: {_clip(q['answer'])}")
    step = None
    for message in store.messages(record.id):
        if message["step"] != step:
            step = message["step"]
            out.print(f"run {step}:")
        text = message["text"] if full else _clip(message["text"])
        out.print(f"  [{message['source']}] {message['kind']}: {text}")
    if record.stop_reason or record.result:
        out.print(f"stop reason: {record.stop_reason or '-'}")
        out.print(f"result: {_clip(record.result or '', 2000)}")


@command("ask")
@click.argument("ident", metavar="ID")
@click.argument("question")
@click.option("--as", "as_", metavar="NAME", help="Who asks (default: your login name); must be an approver.")
def ask(ident: str, question: str, as_: str | None) -> None:
    """Ask the waiting agent a QUESTION on a local desk ticket (ID: request id, prefix or ticket
    key); its answer is commented back."""
    cli = _cli()
    conn = cli.connector()
    request = conn.store.resolve(ident)
    link = conn.store.link(request.id)
    record = conn.store.conversation(link.conversation_id) if link else None
    if record is None or request.ticket is None:
        raise UserError(f"request {request.id[:12]} has no waiting conversation to ask")
    if not record.question_prefix:
        raise UserError(f"conversation {record.id} takes no questions (question_prefix is empty)")
    desk = cli.desk_for(conn, request)
    desk.comment(request.ticket.key, as_ or cli.default_actor(), f"{record.question_prefix} {question}")

    async def relay() -> None:
        await conn.service.questions.poll([request.system])
        await conn.process_outbox()

    asyncio.run(relay())
    for q in reversed(conn.store.questions_of(record.id)):
        if q["request_id"] == request.id and q["text"] == question.strip():
            if q["answer"]:
                cli.out.print(f"{request.ticket.key}: answer: {q['answer']}")
                return
            cli.out.print(f"{request.ticket.key}: question {q['status']}; no answer")
            codes.leave(codes.CHECK_FAILED)
    cli.out.print(f"{request.ticket.key}: the question was not relayed (see the ticket's comments)")
    codes.leave(codes.CHECK_FAILED)
