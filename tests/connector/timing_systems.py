"""The three ticketing systems for the timing tests: the local desk, and Jira and ServiceNow
simulated over real HTTP, each with a route ``gated`` for send_email whose timing keys the test
gives (and, on request, a pre-approved ``std`` route before it), and a person's hands in the
system: approve, set the planned window, read comments, status and assignee."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from adapters.jira.testing import JiraDriver
from adapters.local.testing import LocalDeskDriver
from adapters.servicenow.testing import ServiceNowDriver
from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import TicketRef
from connector.testing.driver import TicketDriver

SYSTEMS = ["local", "jira", "servicenow"]
BERLIN = ZoneInfo("Europe/Berlin")

HEAD = """
store: {{url: "{store}"}}
scheduler: {{lease: 2s, outbox_interval: 1s}}
tools:
  send_email: {{import: "connector.demo.tools:send_email"}}
systems:
"""
LOCAL = """
  desk: {{type: local}}
"""
JIRA = """
  jira:
    type: jira
    url: {url}
    auth: {{email_env: JIRA_EMAIL, token_env: JIRA_API_TOKEN}}
"""
SERVICENOW = """
  servicenow:
    type: servicenow
    instance_url: {url}
    auth: {{type: basic, user_env: SN_USER, password_env: SN_PASSWORD}}
    service_account: {{user_name: svc_connector}}
"""
STANDARD_ROUTE = """
  - name: std
    tools: [send_email]
    system: {system}
    mode: standard
    when: [{{arg: to, op: endswith, value: "@ourco.example"}}]
"""
GATED_ROUTE = """
  - name: gated
    tools: [send_email]
    system: {system}
    approvers: [{approver}]
"""
ADAPTER_KEYS = {
    "local": {"gated": "    escalation: {assignee: carol}\n", "std": ""},
    "jira": {
        "gated": """    escalation: {assignee: 5b10a2844c20165700ede21d}
    ticket:
      project: OPS
      summary: "Agent asks to run {{ tool }}"
      window: {start: Planned start, end: Planned end}
    outcome:
      on_success: {transition: Mark executed, fields: {resolution: {name: Done}}}
      on_window_closed: Mark failed
      on_reopen: Reopen
""",
        "std": """    ticket: {project: OPS, summary: "Standard change: {{ tool }}"}
""",
    },
    "servicenow": {
        "gated": """    escalation: {assignment_group: CAB Approval}
    ticket:
      fields: {short_description: "Agent asks to run {{ tool }}", type: normal}
      window: {}
    decision: {approved_states: ["-2"], rejected_states: ["4"], pending_states: ["-5", "-4", "-3"]}
    outcome:
      transitions:
        succeeded: {path: ["-1", "0", "3"], fields: {close_code: successful, close_notes: "{{ text }}"}}
        window_closed: {path: ["4"]}
        reopened: {path: ["-5", "-4"]}
""",
        "std": """    ticket:
      standard_template: {template}
      fields: {short_description: "Standard change: {{ tool }}"}
    outcome:
      transitions:
        succeeded: {path: ["-2", "-1", "0", "3"], fields: {close_code: successful, close_notes: done}}
""",
    },
}


class TimingSystem:
    """One system with a person in it. ``approver`` is that person's name in the system."""

    def __init__(self, kind: str, config: Path, env: dict[str, str], sim: Any = None) -> None:
        self.kind, self.config, self.env, self.sim = kind, config, env, sim
        self.approver = {"local": "alice", "jira": "alice", "servicenow": "change.manager"}[kind]

    def connector(self, worker_id: str | None = None) -> Connector:
        config = parse_config(self.config.read_text(), str(self.config))
        return Connector.from_config(config, env=self.env, worker_id=worker_id)

    # --- a person acts (through the adapter package's TicketDriver) -----------------------------
    def driver(self, conn: Connector) -> TicketDriver:
        if self.kind == "local":
            return LocalDeskDriver.of(conn.adapters)
        return JiraDriver(self.sim) if self.kind == "jira" else ServiceNowDriver(self.sim)

    def approve(self, conn: Connector, ticket: TicketRef) -> None:
        self.driver(conn).approve(ticket, self.approver)

    def plan(self, ticket: TicketRef, start: datetime, end: datetime) -> None:
        """The planner sets the change's planned start and end on the ticket, in the system's
        own format (Jira: ISO 8601 with a Berlin offset; ServiceNow: UTC date-time)."""
        if self.kind == "jira":
            for field, moment in (("customfield_10070", start), ("customfield_10071", end)):
                text = moment.astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M:%S.000%z")
                self.sim.edit_field(ticket.key, field, text, actor="alice")
        else:
            utc = {
                k: v.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
                for k, v in (("s", start), ("e", end))
            }
            self.sim.update(ticket.key, self.approver, start_date=utc["s"], end_date=utc["e"])

    # --- what a person sees -----------------------------------------------------------------------
    def comments(self, conn: Connector, ticket: TicketRef) -> list[str]:
        return self.driver(conn).comments(ticket)

    def status(self, conn: Connector, ticket: TicketRef) -> str:
        return self.driver(conn).status(ticket)

    def describe(self, conn: Connector, ticket: TicketRef) -> str:
        """The ticket's text as a person reads it."""
        if self.kind == "local":
            row = conn.adapters["desk"].ticket(ticket.key)
            return f"{row['status']} {row['summary']}\n{row['description']}"
        if self.kind == "jira":
            return str(self.sim.issue(ticket.key).fields.get("description"))
        return self.sim.record(ticket.key)["description"]

    def waiting_status(self) -> str:
        return {"local": "open", "jira": "Awaiting Approval", "servicenow": "in state -4"}[self.kind]

    def assignee(self, conn: Connector, ticket: TicketRef) -> str:
        if self.kind == "local":
            return conn.adapters["desk"].ticket(ticket.key)["assignee"] or ""
        if self.kind == "jira":
            return (self.sim.issue(ticket.key).fields.get("assignee") or {}).get("displayName", "")
        group = self.sim.record(ticket.key)["assignment_group"]
        return self.sim.group_row(group)["name"] if group else ""


@contextmanager
def timing_system(
    kind: str, workdir: Path, timing: str, *, standard: bool = False, store: str = ""
) -> Iterator[TimingSystem]:
    """``timing``: YAML lines of the gated route's timing keys (indented four spaces)."""
    store = store or f"sqlite:///{workdir / (kind + '.db')}"
    path = workdir / f"{kind}.yaml"
    system = {"local": "desk"}.get(kind, kind)
    approver = {"local": "alice", "jira": "alice@example.com", "servicenow": "change.manager"}[kind]

    def write(url: str = "", template: str = "") -> None:
        text = HEAD.format(store=store) + {"local": LOCAL, "jira": JIRA, "servicenow": SERVICENOW}[
            kind
        ].format(url=url)
        text += "routes:\n"
        if standard:
            text += STANDARD_ROUTE.format(system=system) + ADAPTER_KEYS[kind]["std"].replace(
                "{template}", template
            )
        text += GATED_ROUTE.format(system=system, approver=approver) + timing + ADAPTER_KEYS[kind]["gated"]
        path.write_text(text)

    if kind == "local":
        write()
        yield TimingSystem(kind, path, {})
        return
    if kind == "jira":
        from adapters.jira.simulator import JiraSimulator

        sim = JiraSimulator.seeded_demo("http://127.0.0.1")
        sim.add_user("carol", "Carol Lead", "carol@example.com", account_id="5b10a2844c20165700ede21d")
        sim.zone = BERLIN  # the server shows date-time fields with Berlin's offset
        env = sim.demo_env()
    else:
        from adapters.servicenow.simulator import seeded_demo

        sim = seeded_demo("http://127.0.0.1")
        env = {"SN_USER": "svc_connector", "SN_PASSWORD": "svc-password"}
    template = (
        sim.add_standard_template("Send a routine e-mail", "category=Other") if kind == "servicenow" else ""
    )
    with sim.serve() as url:
        write(url, template)
        yield TimingSystem(kind, path, env, sim)
