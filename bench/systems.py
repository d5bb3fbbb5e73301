"""The two ticketing systems as the benchmarks meet them: their simulator, the SHIPPED config with
only the system URL pointed at it (config/jira-customer-email.yaml, config/servicenow-change-
triage.yaml), the environment the config names, a person deciding through the system's
TicketDriver, and a gated call that its ``gate`` route (not the auto or deny one) takes. Plus fast
seeding of idle waiting requests straight into simulator and store, for the sizes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from connector.core.models import RequestState, TicketRef
from connector.core.store import _to_row, requests_table

from .setup import REPO, new_request, seed_jira_pending

CHANGE = {
    "summary": "Rotate the TLS certificate on web-01",
    "plan": "1. Issue the new certificate. 2. Deploy it. 3. Reload nginx.",
    "category": "software",
    "risk": "moderate",
}


@dataclass
class System:
    name: str  # the system's name in the config
    sim: Any
    config_file: Path
    url_in_file: str
    env: dict[str, str]
    driver: Any
    approver: str
    tool_name: str
    route: str

    def config_text(self, url: str) -> str:
        """The shipped file, only its system URL replaced."""
        text = self.config_file.read_text()
        if self.url_in_file not in text:
            raise RuntimeError(f"{self.config_file.name} changed: no {self.url_in_file} to replace")
        return text.replace(self.url_in_file, url)

    def tool(self) -> Any:
        from connector.demo import tools

        return getattr(tools, self.tool_name)

    def arguments(self, i: int) -> dict[str, Any]:
        if self.tool_name == "send_email":
            return {"to": f"customer{i}@example.com", "subject": f"Refund {i}", "body": "Refund approved."}
        return {**CHANGE, "summary": f"{CHANGE['summary']} ({i})"}


def jira(base_url: str = "https://acme.atlassian.test") -> System:
    from adapters.jira.simulator import JiraSimulator
    from adapters.jira.testing import JiraDriver

    sim = JiraSimulator.seeded_demo(base_url)
    return System(
        "jira",
        sim,
        REPO / "config" / "jira-customer-email.yaml",
        "https://example.atlassian.net",
        sim.demo_env(),
        JiraDriver(sim),
        "alice",
        "send_email",
        "customer-email",
    )


def servicenow(base_url: str = "https://acme.service-now.test") -> System:
    from adapters.servicenow.simulator import seeded_demo
    from adapters.servicenow.testing import ServiceNowDriver

    sim = seeded_demo(base_url)
    env = {"SN_USER": "svc_connector", "SN_PASSWORD": "svc-password", "SN_WEBHOOK_SECRET": "bench-sn-secret"}
    return System(
        "servicenow",
        sim,
        REPO / "config" / "servicenow-change-triage.yaml",
        "https://example.service-now.com",
        env,
        ServiceNowDriver(sim),
        "change.manager",
        "apply_change",
        "change-triage",
    )


def seed_waiting(system: System, store: Any, count: int) -> None:
    """``count`` idle waiting requests (TICKETED, a pending ticket each) written straight into the
    simulator and the store: they are never decided, only carried by every poll."""
    if system.name == "jira":
        seed_jira_pending(system.sim, store, count)
        return
    sim = system.sim
    rows = []
    with sim.lock:
        for i in range(count):
            request = new_request(system.route, system.name, RequestState.TICKETED)
            request.tool_name = system.tool_name
            request.arguments = system.arguments(i)
            record = sim.insert_raw(
                "change_request",
                {
                    "number": f"CHG9{i:06d}",
                    "short_description": f"[agent] seeded {i}",
                    "correlation_id": f"agent-action:{request.id}",
                    "state": "-4",
                    "approval": "requested",
                    "type": "normal",
                },
                "svc_connector",
            )
            request.ticket = TicketRef(system=system.name, key=record["number"], id=record["sys_id"])
            rows.append(_to_row(request))
    with store.transaction() as conn:
        for start in range(0, len(rows), 2000):
            conn.execute(insert(requests_table), rows[start : start + 2000])
