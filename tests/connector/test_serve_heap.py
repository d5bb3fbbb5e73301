"""``serve`` freezes its start-up heap: a full cyclic collection would otherwise walk every module,
config and app object, a 10–100 ms pause in the middle of webhook intake (its p99). A test serving
in a thread of its own process (the testing kit) leaves the collector as it is."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref

import pytest

from adapters.jira.simulator import JiraSimulator
from connector.app.server import build_server
from connector.testing.service import RunningService, wait_until
from tests.connector.test_webhooks import make_connector


@pytest.fixture
def sim(acr_jira_server) -> JiraSimulator:
    return acr_jira_server.sim


class _Node:
    """A reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_serve_freezes_start_up_heap_and_still_collects_later_garbage(sim, workdir):
    conn = make_connector(sim, workdir)
    before = gc.get_freeze_count()
    server = build_server(conn, "127.0.0.1", 0, freeze=True)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started)
        wait_until(lambda: gc.get_freeze_count() > before)
        cycle = _Node()
        ref = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert ref() is None  # garbage made after start-up is collected as before
    finally:
        server.should_exit = True
        thread.join(15)
        gc.unfreeze()
        conn.close()


def test_testing_kit_service_leaves_the_collector_alone(sim, workdir):
    conn = make_connector(sim, workdir)
    before = gc.get_freeze_count()
    with RunningService(conn) as service:
        wait_until(lambda: service.get("/healthz").json()["status"] == "ok")
        assert gc.get_freeze_count() == before
    conn.close()
