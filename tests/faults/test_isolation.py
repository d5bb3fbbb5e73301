"""One bad request never blocks the cycle: an approved request whose tool cannot be imported in
this process is marked and skipped, while expiry, reports and the others still happen."""

from __future__ import annotations

from datetime import timedelta

from autogen_core.tools import FunctionTool

from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState, Verdict, utcnow
from connector.demo.tools import send_email
from tests.conftest import EMAIL

CONFIG = """
store: {{url: "sqlite:///{db}"}}
systems: {{desk: {{type: local}}}}
tools:
  send_email: {{import: "connector.demo.tools:send_email"}}
  sync_crm: {{import: "{crm}"}}
routes:
  - {{name: mail, tools: [send_email], system: desk, approvers: [alice], deadline: 1h}}
  - {{name: crm, tools: [sync_crm], system: desk, approvers: [alice]}}
"""


async def sync_crm(account: str) -> str:
    """Push one account to the CRM."""
    return f"synced {account}"


def make(workdir, crm: str) -> Connector:
    return Connector.from_config(parse_config(CONFIG.format(db=workdir / "c.db", crm=crm), "iso.yaml"))


async def test_an_unimportable_tool_does_not_block_expiry_or_reports(workdir):
    gate_side = make(workdir, "tests.faults.test_isolation:sync_crm")
    gate_side.register_tool(FunctionTool(sync_crm, description="Push one account to the CRM."))
    gate_side.register_tool(send_email)
    crm = await gate_side.service.submit("sync_crm", {"account": "ACME"}, {"agent": "a"})
    mail = await gate_side.service.submit("send_email", EMAIL, {"agent": "a"})
    gate_side.adapters["desk"].decide(crm.ticket.key, Verdict.APPROVED, "alice")
    with gate_side.store.transaction() as conn:
        gate_side.store.set_fields(conn, mail.id, deadline=utcnow() - timedelta(minutes=1))
    gate_side.close()

    executor = make(workdir, "tests.faults.broken_tool_module:tool")  # the CRM client is missing here
    try:
        counts = await executor.run_all_jobs_once()
        assert counts["failed_jobs"] == 0
        assert counts["expired"] == 1
        stuck = executor.store.get(crm.id)
        assert stuck.state is RequestState.APPROVED  # not run, not lost: left for a process that can
        assert stuck.problem_kind == "tool" and "crm_sdk" in stuck.problem
        assert executor.store.get(mail.id).state is RequestState.EXPIRED
        comments = executor.adapters["desk"].ticket(mail.ticket.key)["comments"]
        assert any("deadline" in c["body"] for c in comments)  # its report went out in the same cycle
        metrics = executor.metrics.render().decode()
        assert 'approval_requests_with_problems{kind="tool"} 1.0' in metrics
        assert (await executor.run_all_jobs_once())["failed_jobs"] == 0  # and again, quietly
    finally:
        executor.close()
