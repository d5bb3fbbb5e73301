"""A repeated call (same requester, same tool, same canonical arguments) submitted with a dedupe
key returns its first request — the current state or the outcome — never a second ticket or run:
also when replicas (threads with their own engines, and separate processes) receive it at the
same moment, on SQLite and PostgreSQL. After the window the same call is a new request."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState, Verdict
from connector.demo.tools import send_email
from tests.conftest import EMAIL, LOCAL_CONFIG, REPO, sent_mail
from tests.connector.test_store import store_url  # noqa: F401 - fixture
from tests.faults.replicas import run_together

CC = {**EMAIL, "cc": ["ops@example.com"]}
REORDERED = {key: CC[key] for key in reversed(list(CC))}


def config_for(url: str):
    return parse_config(LOCAL_CONFIG.format(db="unused").replace("sqlite:///unused", url))


async def test_the_same_call_returns_its_request_and_opens_one_ticket(connector, workdir):
    connector.register_tool(send_email)
    first = await connector.service.submit("send_email", CC, {"requester": "jane"}, dedupe_key="jane")
    again = await connector.service.submit("send_email", REORDERED, {"requester": "jane"}, dedupe_key="jane")
    other = await connector.service.submit("send_email", CC, {"requester": "omar"}, dedupe_key="omar")
    changed = await connector.service.submit(
        "send_email", {**CC, "subject": "Other"}, {"requester": "jane"}, dedupe_key="jane"
    )
    assert first.state is RequestState.TICKETED and again.id == first.id
    assert len({first.id, other.id, changed.id}) == 3
    assert len(connector.store.list()) == 3  # three tickets: jane's call once, omar's, jane's other

    connector.adapters["desk"].decide(first.ticket.key, Verdict.APPROVED, "alice")
    await connector.poll_once()
    after = await connector.service.submit("send_email", CC, {"requester": "jane"}, dedupe_key="jane")
    assert (after.id, after.state) == (first.id, RequestState.SUCCEEDED)
    assert after.result.startswith("sent to jane@example.com")
    assert len(sent_mail(workdir)) == 1  # the repeat after the run hears the outcome; nothing reruns

    later = await connector.service.submit(
        "send_email", CC, {"requester": "jane"}, dedupe_key="jane", dedupe_window=timedelta(0)
    )
    assert later.id != first.id and later.state is RequestState.TICKETED  # after the window: new
    assert connector.store.get(first.id).state is RequestState.SUCCEEDED  # the old one is intact


async def test_calls_without_a_key_or_on_auto_routes_are_not_deduplicated(connector, workdir):
    connector.register_tool(send_email)
    one = await connector.service.submit("send_email", CC)
    two = await connector.service.submit("send_email", CC)
    internal = {**CC, "to": "team@ourco.example"}
    runs = [await connector.service.submit("send_email", internal, dedupe_key="jane") for _ in range(2)]
    assert one.id != two.id
    assert [r.state for r in runs] == [RequestState.SUCCEEDED] * 2 and runs[0].id != runs[1].id
    assert len(sent_mail(workdir)) == 2  # an auto route's call is a fresh run each time


def test_replicas_receiving_the_same_call_at_once_store_one_request(store_url, workdir):  # noqa: F811
    config = config_for(store_url)
    replicas = [Connector.from_config(config, worker_id=f"replica-{i}") for i in range(4)]
    try:
        for replica in replicas:
            replica.register_tool(send_email)

        def job(replica: Connector):
            async def submit():
                context = {"requester": "jane"}
                return await replica.service.submit("send_email", CC, context, dedupe_key="jane")

            return submit

        results = run_together([job(r) for r in replicas])
        assert len({r.id for r in results}) == 1
        [stored] = replicas[0].store.list()
        assert stored.state is RequestState.TICKETED
        rows = [r["event"] for r in replicas[0].store.audit.rows(replicas[0].store.engine, stored.id)]
        assert rows.count("submitted") == 1 and rows.count("ticketed") == 1
    finally:
        for replica in replicas:
            replica.close()


SUBMITTER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from connector.app.config import parse_config
    from connector.app.runtime import Connector
    from connector.demo.tools import send_email

    async def main(config_text, start, call):
        connector = Connector.from_config(parse_config(config_text))
        connector.register_tool(send_email)
        try:
            time.sleep(max(0.0, start - time.time()))
            request = await connector.service.submit(
                "send_email", call, {"requester": "jane"}, dedupe_key="jane"
            )
            print(json.dumps({"id": request.id, "state": request.state.value}))
        finally:
            connector.close()

    asyncio.run(main(sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])))
    """
)


def test_processes_receiving_the_same_call_at_once_store_one_request(store_url, workdir: Path):  # noqa: F811
    text = LOCAL_CONFIG.format(db="unused").replace("sqlite:///unused", store_url)
    Connector.from_config(parse_config(text)).close()  # the schema exists before the race starts
    start = time.time() + 4
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SUBMITTER, text, str(start), json.dumps(call)],
            cwd=workdir,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for call in (CC, REORDERED, CC)
    ]
    answers = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        answers.append(json.loads(out.strip().splitlines()[-1]))
    assert len({a["id"] for a in answers}) == 1
    conn = Connector.from_config(parse_config(text))
    try:
        assert [r.id for r in conn.store.list()] == [answers[0]["id"]]
    finally:
        conn.close()
