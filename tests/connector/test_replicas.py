"""Several replicas on one PostgreSQL database, each in its own thread with its own event loop,
engine and adapter, released together by a barrier so their claims really race: every approved
call runs exactly once. The same race with a check-then-set claim runs calls twice — the test
below shows this setup catches it (the multi-process suite is tests/faults/test_multiprocess.py)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta

from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState, utcnow
from connector.demo.tools import send_email
from tests.conftest import EMAIL, LOCAL_CONFIG, sent_mail
from tests.connector.test_store import pg_store_url  # noqa: F401 - fixture
from tests.faults.replicas import run_together

CALLS = 24


def cluster(url: str, count: int = 3) -> list[Connector]:
    config = parse_config(LOCAL_CONFIG.format(db="unused").replace("sqlite:///unused", url))
    replicas = [Connector.from_config(config, worker_id=f"replica-{i}") for i in range(count)]
    for replica in replicas:
        replica.register_tool(send_email)
    return replicas


def approved_calls(submitter: Connector) -> list[str]:
    async def submit() -> list[str]:
        ids = []
        for n in range(CALLS):
            request = await submitter.service.submit("send_email", {**EMAIL, "subject": f"refund {n}"}, {})
            ids.append(request.id)
        return ids

    ids = asyncio.run(submit())
    store = submitter.store
    for request_id in ids:  # decided by a process that stopped before it could run them
        with store.transaction() as conn:
            waiting = [RequestState.TICKETED]
            assert store.transition(conn, request_id, waiting, RequestState.APPROVED, approver="alice")
    return ids


def race(replicas: list[Connector]) -> None:
    async def cycles(replica: Connector) -> None:
        for _ in range(3):
            await replica.run_all_jobs_once()

    run_together([lambda r=r: cycles(r) for r in replicas], timeout=120)


def test_three_replicas_run_each_approved_call_once(pg_store_url, workdir):  # noqa: F811
    replicas = cluster(pg_store_url)
    try:
        ids = approved_calls(replicas[0])
        race(replicas)
        store = replicas[0].store
        assert {store.get(i).state for i in ids} == {RequestState.SUCCEEDED}
        subjects = Counter(m["subject"] for m in sent_mail(workdir))
        assert subjects == Counter(f"refund {n}" for n in range(CALLS))  # each exactly once
        claims = Counter(
            r["request_id"] for i in ids for r in store.audit.rows(store.engine, i) if r["event"] == "claimed"
        )
        assert set(claims.values()) == {1}
        runners = {store.get(i).claimed_by for i in ids}
        assert len(runners) >= 2, runners  # the work really was shared out between replicas
        assert store.outbox_backlog() == 0
        assert store.audit.verify(store.engine) == []
    finally:
        for replica in replicas:
            replica.close()


def test_the_race_catches_a_check_then_set_claim(pg_store_url, workdir, monkeypatch):  # noqa: F811
    """The same replicas with a claim that reads, then writes: calls run twice. (If this ever
    stops failing the claim, the race above proves nothing.)"""
    replicas = cluster(pg_store_url)
    try:
        approved_calls(replicas[0])
        for replica in replicas:
            store = replica.store

            def check_then_set(request_id, worker, lease, store=store):
                if store.get(request_id).state is not RequestState.APPROVED:
                    return None
                time.sleep(0.02)  # the gap between the check and the set
                with store.transaction() as conn:
                    store.set_fields(
                        conn,
                        request_id,
                        state=RequestState.EXECUTING.value,
                        claimed_by=worker,
                        lease_until=utcnow() + timedelta(seconds=30),
                    )
                return store.get(request_id)  # the claimed request, as the store's claim returns it

            monkeypatch.setattr(store, "claim", check_then_set)
        race(replicas)
        subjects = Counter(m["subject"] for m in sent_mail(workdir))
        assert max(subjects.values()) > 1, "the replicas did not race"
    finally:
        for replica in replicas:
            replica.close()
