"""Where the demo's ticket lives: the local desk, or a simulated Jira / ServiceNow served on
loopback (real HTTP), with a scripted human acting in it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from connector.app.runtime import Connector
from connector.core.errors import UserError
from connector.core.models import ApprovalRequest, Verdict


class LocalDemo:
    label = "the local desk"

    def __init__(self, connector: Connector) -> None:
        self.connector = connector

    def _desk(self, request: ApprovalRequest) -> Any:
        from connector.app.cli.desk import desk_for

        return desk_for(self.connector, request)

    def describe_ticket(self, request: ApprovalRequest) -> str:
        assert request.ticket is not None
        ticket = self._desk(request).ticket(request.ticket.key)
        return f"{ticket['key']}  [{ticket['status']}]  {ticket['summary']}\n{ticket['description']}"

    async def decide(
        self, request: ApprovalRequest, verdict: Verdict, actor: str, reason: str, edited: dict | None
    ) -> None:
        from connector.app.cli.desk import decide

        await decide(self.connector, request, verdict, actor, reason, edited)

    def ticket_comments(self, request: ApprovalRequest) -> str:
        assert request.ticket is not None
        ticket = self._desk(request).ticket(request.ticket.key)
        lines = [f"ticket {ticket['key']} is now {ticket['status']}; comments:"]
        lines += [f"  [{c['author']}] {c['body']}" for c in ticket["comments"]]
        return "\n".join(lines)


class SimulatedDemo:
    """Jira or ServiceNow simulated on loopback (real HTTP); the connector uses its real adapter."""

    def __init__(self, connector: Connector, sim: Any, kind: str) -> None:
        self.connector = connector
        self.sim = sim
        self.kind = kind
        self.label = f"a simulated {'Jira' if kind == 'jira' else 'ServiceNow'} at {sim.base_url}"

    def describe_ticket(self, request: ApprovalRequest) -> str:
        assert request.ticket is not None
        key = request.ticket.key
        if self.kind == "jira":
            issue = self.sim.issue(key)
            head = f"{key}  [{self.sim.status_of(key)}]  {issue.fields.get('summary')}"
            return f"{head}\n{issue.fields.get('description')}"
        record = self.sim.record(key)
        head = f"{key}  [state {record.get('state')}]  {record.get('short_description')}"
        return f"{head}\n{record.get('description')}"

    async def decide(
        self, request: ApprovalRequest, verdict: Verdict, actor: str, reason: str, edited: dict | None
    ) -> None:
        assert request.ticket is not None
        if edited is not None:
            raise UserError("approve-with-edits is a local desk feature; use --approve or --reject here")
        key = request.ticket.key
        if self.kind == "jira":
            if verdict is Verdict.REJECTED and reason:
                self.sim.comment(key, reason, actor=actor)
            self.sim.transition(key, "Approve" if verdict is Verdict.APPROVED else "Reject", actor=actor)
        elif verdict is Verdict.APPROVED:
            self.sim.approve(key, actor, "approved in the demo")
        else:
            self.sim.reject(key, actor, reason)
        await self.connector.poll_once()  # the scheduler's poll job, once
        await self.connector.process_outbox()

    def ticket_comments(self, request: ApprovalRequest) -> str:
        assert request.ticket is not None
        key = request.ticket.key
        if self.kind == "jira":
            lines = [f"issue {key} is now {self.sim.status_of(key)}; comments:"]
            lines += [f"  {body}" for body in self.sim.comment_bodies(key)]
        else:
            lines = [f"record {key} is now in state {self.sim.record(key).get('state')}; work notes:"]
            lines += [f"  {note['value']}" for note in self.sim.journal(key, "work_notes")]
        return "\n".join(lines)


_JIRA_DEMO = """
store: {{url: "sqlite:///{db}"}}
systems:
  jira:
    type: jira
    url: {url}
    auth: {{email_env: JIRA_EMAIL, token_env: JIRA_API_TOKEN}}
    webhook: {{secret_env: JIRA_WEBHOOK_SECRET}}
routes:
  - name: customer-email
    tools: [send_email]
    system: jira
    approvers: [alice@example.com]
    ticket:
      project: OPS
      issue_type: Task
      summary: "Customer e-mail to {{{{ args.to }}}}: {{{{ args.subject }}}}"
    decision: {{pending: ["Awaiting Approval"], approved: [Approved], rejected: [Rejected]}}
    outcome:
      on_success: {{transition: Mark executed, fields: {{resolution: {{name: Done}}}}}}
      on_failure: Mark failed
      on_rejection: Close
      on_expiry: Cancel
"""

_SERVICENOW_DEMO = """
store: {{url: "sqlite:///{db}"}}
systems:
  servicenow:
    type: servicenow
    instance_url: {url}
    auth: {{type: basic, user_env: SN_USER, password_env: SN_PASSWORD}}
    service_account: {{user_name: svc_connector}}
routes:
  - name: customer-email
    tools: [send_email]
    system: servicenow
    approvers: [change.manager]
    ticket:
      fields:
        short_description: "Send customer e-mail to {{{{ args.to }}}}"
        type: normal
        category: Other
    decision: {{approved_states: ["-2"], rejected_states: ["4"], pending_states: ["-5", "-4", "-3"]}}
    outcome:
      transitions:
        succeeded:
          path: ["-1", "0", "3"]
          fields: {{close_code: successful, close_notes: "{{{{ text }}}}"}}
        failed:
          path: ["-1", "0", "3"]
          fields: {{close_code: unsuccessful, close_notes: "{{{{ text }}}}"}}
        rejected: {{path: ["4"]}}
        expired: {{path: ["4"]}}
"""


@contextmanager
def demo_environment(system: str, config: str | None) -> Iterator[Any]:
    """The local desk uses the configured store; a simulated system gets a throw-away one."""
    if system == "local":
        connector = Connector.from_config(config)
        try:
            yield LocalDemo(connector)
        finally:
            connector.close()
        return
    if system not in ("jira", "servicenow"):
        raise UserError(f"--system: {system!r} is not one of local, jira, servicenow")
    import tempfile

    from connector.app.config import parse_config

    if system == "jira":
        from adapters.jira.simulator import JiraSimulator

        sim = JiraSimulator.seeded_demo("http://127.0.0.1")
        template, env = _JIRA_DEMO, sim.demo_env()
    else:
        from adapters.servicenow.simulator import seeded_demo

        sim = seeded_demo("http://127.0.0.1")
        template = _SERVICENOW_DEMO
        env = {"SN_USER": "svc_connector", "SN_PASSWORD": "svc-password"}
    with tempfile.TemporaryDirectory() as folder, sim.serve() as url:
        text = template.format(db=f"{folder}/demo.db", url=url)
        connector = Connector.from_config(parse_config(text, f"demo-{system}.yaml"), env=env)
        try:
            yield SimulatedDemo(connector, sim, system)
        finally:
            connector.close()
