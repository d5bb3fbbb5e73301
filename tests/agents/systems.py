"""The three ticketing systems for conversation tests: the local desk, and Jira and ServiceNow
simulated over real HTTP. Each gives a config for a route, and a human's hands in the system:
approve, reject, and comment (ask the agent a question)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import Verdict

_TOOLS = """
tools:
  {tool}: {{import: "connector.demo.tools:{tool}"}}
"""
_ROUTE = """
routes:
  - name: gated
    tools: [{tool}]
    system: {system}
    approvers: [{approver}]
"""

LOCAL = """
store: {{url: "sqlite:///{db}"}}
scheduler: {{lease: 2s, outbox_interval: 1s}}
systems:
  desk: {{type: local}}
"""

JIRA = """
store: {{url: "sqlite:///{db}"}}
scheduler: {{lease: 2s, outbox_interval: 1s}}
systems:
  jira:
    type: jira
    url: {url}
    auth: {{email_env: JIRA_EMAIL, token_env: JIRA_API_TOKEN}}
"""
JIRA_ROUTE = """
    ticket: {project: OPS, issue_type: Task, summary: "Agent asks to run {{ tool }}"}
    decision: {pending: ["Awaiting Approval"], approved: [Approved], rejected: [Rejected]}
    outcome:
      on_success: {transition: Mark executed, fields: {resolution: {name: Done}}}
      on_rejection: Close
"""

SERVICENOW = """
store: {{url: "sqlite:///{db}"}}
scheduler: {{lease: 2s, outbox_interval: 1s}}
systems:
  servicenow:
    type: servicenow
    instance_url: {url}
    auth: {{type: basic, user_env: SN_USER, password_env: SN_PASSWORD}}
    service_account: {{user_name: svc_connector}}
"""
SERVICENOW_ROUTE = """
    ticket:
      fields: {short_description: "Agent asks to run {{ tool }}", type: normal, category: Other}
    decision: {approved_states: ["-2"], rejected_states: ["4"], pending_states: ["-5", "-4", "-3"]}
    outcome:
      transitions:
        succeeded:
          path: ["-1", "0", "3"]
          fields: {close_code: successful, close_notes: "{{ text }}"}
        rejected: {path: ["4"]}
"""


class System:
    """A ticketing system with a person acting in it."""

    kind = "local"
    approver = "alice"

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = env or {}

    def connector(self, worker_id: str | None = None) -> Connector:
        text = self.config.read_text()
        return Connector.from_config(parse_config(text, str(self.config)), env=self.env, worker_id=worker_id)

    async def decide(self, conn: Connector, key: str, approve: bool, reason: str = "") -> None:
        """The person decides; the connector learns it by polling, as ``serve`` / ``poll`` would."""
        verdict = Verdict.APPROVED if approve else Verdict.REJECTED
        conn.adapters["desk"].decide(key, verdict, self.approver, reason)
        await conn.poll_once()
        await conn.process_outbox()

    def ask(self, conn: Connector, key: str, text: str) -> None:
        conn.adapters["desk"].comment(key, self.approver, text)

    def comments(self, conn: Connector, key: str) -> list[str]:
        return [c["body"] for c in conn.adapters["desk"].ticket(key)["comments"]]


class JiraSystem(System):
    kind = "jira"

    def __init__(self, config: Path, sim: Any) -> None:
        super().__init__(config, sim.demo_env())
        self.sim = sim

    async def decide(self, conn: Connector, key: str, approve: bool, reason: str = "") -> None:
        if reason:
            self.sim.comment(key, reason, actor="alice")
        self.sim.transition(key, "Approve" if approve else "Reject", actor="alice")
        await conn.poll_once()
        await conn.process_outbox()

    def ask(self, conn: Connector, key: str, text: str) -> None:
        self.sim.comment(key, text, actor="alice")

    def comments(self, conn: Connector, key: str) -> list[str]:
        return list(self.sim.comment_bodies(key))


class ServiceNowSystem(System):
    kind = "servicenow"

    def __init__(self, config: Path, sim: Any) -> None:
        super().__init__(config, {"SN_USER": "svc_connector", "SN_PASSWORD": "svc-password"})
        self.sim = sim

    async def decide(self, conn: Connector, key: str, approve: bool, reason: str = "") -> None:
        if approve:
            self.sim.approve(key, "change.manager", "ok")
        else:
            self.sim.reject(key, "change.manager", reason)
        await conn.poll_once()
        await conn.process_outbox()

    def ask(self, conn: Connector, key: str, text: str) -> None:
        self.sim.update(key, "change.manager", work_notes=text)

    def comments(self, conn: Connector, key: str) -> list[str]:
        return [n["value"] for n in self.sim.journal(key, "work_notes")]


@contextmanager
def ticketing(kind: str, workdir: Path, tool: str, declare: str | None = None) -> Iterator[System]:
    """One system, configured with a route ``gated`` for ``tool``: a demo tool imported by
    ``tools:``, or what ``declare`` declares (an ``mcp_servers:`` section)."""
    db = workdir / f"{kind}.db"
    path = workdir / f"{kind}.yaml"
    tools = _TOOLS.format(tool=tool) if declare is None else declare
    if kind == "local":
        route = _ROUTE.format(tool=tool, system="desk", approver="alice")
        path.write_text(LOCAL.format(db=db) + tools + route)
        yield System(path)
        return
    if kind == "jira":
        from adapters.jira.simulator import JiraSimulator

        sim = JiraSimulator.seeded_demo("http://127.0.0.1")
        head, route, approver, system_cls = JIRA, JIRA_ROUTE, "alice@example.com", JiraSystem
    else:
        from adapters.servicenow.simulator import seeded_demo

        sim = seeded_demo("http://127.0.0.1")
        head, route, approver, system_cls = SERVICENOW, SERVICENOW_ROUTE, "change.manager", ServiceNowSystem
    with sim.serve() as url:
        text = head.format(db=db, url=url) + tools + _ROUTE.format(tool=tool, system=kind, approver=approver)
        text += route
        path.write_text(text)
        yield system_cls(path, sim)
