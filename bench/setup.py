"""Configs for the benchmarks and fast seeding: issues straight into the Jira simulator, requests
straight into the store (no agent, no REST create), so 10,000 pending requests take seconds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from adapters.jira import parse as jira_parse
from adapters.jira.simulator import JiraSimulator
from adapters.local.adapter import tickets as local_tickets
from connector.core.models import ApprovalRequest, RequestState, TicketRef, digest_of, utcnow
from connector.core.store import Store, _to_row, requests_table

REPO = Path(__file__).resolve().parent.parent
JIRA_EXAMPLE = REPO / "config" / "jira-customer-email.yaml"
ALICE = "5b10a2844c20165700ede21a"  # alice's accountId in JiraSimulator.seeded_demo()
WEBHOOK_SECRET = "demo-webhook-secret"
ROUTE = "customer-email"
EMAIL = {"to": "jane@example.com", "subject": "Your refund", "body": "Refund in 3 business days."}


def desk_and_jira_config(jira_url: str, db: Path, *, port: int, poll_interval: str) -> str:
    """The local desk (polled from the same SQLite file) plus a Jira system for webhook deliveries."""
    return f"""
store:
  url: sqlite:///{db}
scheduler:
  poll_interval: {poll_interval}
  outbox_interval: 10s
  expiry_interval: 60s
  lease: 5m
server:
  host: 127.0.0.1
  port: {port}
systems:
  desk:
    type: local
  jira:
    type: jira
    url: {jira_url}
    deployment: cloud
    auth: {{email_env: JIRA_EMAIL, token_env: JIRA_API_TOKEN}}
    service_account: "712020:0b9d5a1e-1111-4c2e-9f00-bot000000001"
    webhook: {{secret_env: JIRA_WEBHOOK_SECRET, events: ["jira:issue_updated"]}}
    label: approval-connector
tools:
  send_email: {{import: "connector.demo.tools:send_email"}}
routes:
  - name: customer-email
    tools: [send_email]
    system: desk
    approvers: ["*"]
    deadline: 30d
  - name: jira-email
    tools: [send_email]
    system: jira
    approvers: ["{ALICE}"]
    deadline: 30d
    ticket: {{project: OPS, issue_type: Task}}
    decision: {{pending: ["Awaiting Approval"], approved: ["Approved"], rejected: ["Rejected"]}}
"""


def new_request(route: str, system: str, state: RequestState, **fields: object) -> ApprovalRequest:
    now = utcnow()
    return ApprovalRequest(
        id=uuid.uuid4().hex,
        route=route,
        system=system,
        tool_name="send_email",
        arguments=EMAIL,
        arguments_digest=digest_of(EMAIL),
        requester="bob@example.com",
        agent="bench-agent",
        state=state,
        deadline=now + timedelta(days=30),
        created_at=now,
        updated_at=now,
        **fields,  # type: ignore[arg-type]
    )


@dataclass
class Seeded:
    request_id: str
    key: str


def seed_jira_pending(sim: JiraSimulator, store: Store, count: int, system: str = "jira") -> list[Seeded]:
    """``count`` TICKETED requests, each with an 'Awaiting Approval' issue carrying the labels the
    adapter would have put on it (system label, request label, route label)."""
    return _seed_jira(sim, store, count, system, RequestState.TICKETED, None)


def _seed_jira(
    sim: JiraSimulator, store: Store, count: int, system: str, state: RequestState, status: str | None
) -> list[Seeded]:
    seeded: list[Seeded] = []
    rows = []
    for _ in range(count):
        request = new_request(ROUTE, system, state)
        labels = ["approval-connector", jira_parse.request_label(request.id), jira_parse.route_label(ROUTE)]
        issue = sim.create_issue("OPS", f"Customer e-mail {request.id[:8]}", labels=labels, status=status)
        url = f"{sim.base_url}/browse/{issue.key}"
        request.ticket = TicketRef(system=system, key=issue.key, id=issue.id, url=url)
        rows.append(_to_row(request))
        seeded.append(Seeded(request.id, issue.key))
    with store.transaction() as conn:
        for start in range(0, len(rows), 2000):
            conn.execute(insert(requests_table), rows[start : start + 2000])
    return seeded


def seed_store_for_memory(
    store: Store, total: int, ticketed: int, system: str = "desk", sealer: Any = None
) -> list[int]:
    """``total`` requests: ``ticketed`` TICKETED on the local desk (with open desk tickets), the rest
    in terminal states with short results, as months of use would leave them. Returns the desk
    ticket numbers. With ``sealer`` (the connector's) each call and ticket carries its seal as the
    real path writes it, so a seeded ticket that is decided later runs (is not refused as altered)."""
    terminal = [RequestState.SUCCEEDED, RequestState.REJECTED, RequestState.EXPIRED, RequestState.FAILED]
    now = utcnow()
    seqs: list[int] = []
    batch: list[dict] = []
    ticket_rows: list[dict] = []
    with store.transaction() as conn:
        for i in range(total):
            if i < ticketed:
                seq = i + 1
                request = new_request(ROUTE, system, RequestState.TICKETED)
                request.ticket = TicketRef(system=system, key=f"LOCAL-{seq}", id=str(seq))
                if sealer is not None:
                    request.seal = sealer.call_seal(request)
                ticket_rows.append(
                    {
                        "seq": seq,
                        "system": system,
                        "request_id": request.id,
                        "route": ROUTE,
                        "summary": "Send e-mail to jane@example.com",
                        "description": "bench",
                        "status": "open",
                        "seal": sealer.ticket_seal(request) if sealer is not None else None,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                seqs.append(seq)
            else:
                state = terminal[i % len(terminal)]
                request = new_request(
                    ROUTE,
                    system,
                    state,
                    result="sent to jane@example.com as <0123456789ab@demo.invalid>"
                    if state is RequestState.SUCCEEDED
                    else None,
                    approver="alice" if state is RequestState.SUCCEEDED else None,
                )
            batch.append(_to_row(request))
            if len(batch) >= 5000:
                conn.execute(insert(requests_table), batch)
                batch = []
        if batch:
            conn.execute(insert(requests_table), batch)
        if ticket_rows:
            conn.execute(insert(local_tickets), ticket_rows)
    return seqs
