"""Several replicas on one PostgreSQL database: every approved call runs exactly once."""

from __future__ import annotations

import asyncio

from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState, Verdict
from connector.demo.tools import send_email
from tests.conftest import EMAIL, LOCAL_CONFIG, agent_calls, sent_mail
from tests.connector.test_store import pg_store_url  # noqa: F401 - fixture


async def test_three_replicas_run_each_approved_call_once(pg_store_url, workdir):  # noqa: F811
    config = parse_config(LOCAL_CONFIG.format(db="unused").replace("sqlite:///unused", pg_store_url))
    replicas = [Connector.from_config(config, worker_id=f"replica-{i}") for i in range(3)]
    try:
        submitter = replicas[0]
        gated = submitter.gate(send_email)
        for n in range(12):
            await agent_calls(gated, "send_email", {**EMAIL, "subject": f"refund {n}"})
        for replica in replicas[1:]:
            replica.register_tool(send_email)
        desk = submitter.adapters["desk"]
        for request in submitter.store.list([RequestState.TICKETED]):
            desk.decide(request.ticket.key, Verdict.APPROVED, "alice")

        async def cycle(replica: Connector) -> None:
            for _ in range(3):
                await replica.run_all_jobs_once()

        await asyncio.gather(*(cycle(r) for r in replicas))
        states = {r.state for r in submitter.store.list()}
        assert states == {RequestState.SUCCEEDED}
        subjects = sorted(m["subject"] for m in sent_mail(workdir))
        assert subjects == sorted(f"refund {n}" for n in range(12))  # each exactly once
        assert submitter.store.outbox_backlog() == 0
        assert submitter.store.audit.verify(submitter.store.engine) == []
    finally:
        for replica in replicas:
            replica.close()
