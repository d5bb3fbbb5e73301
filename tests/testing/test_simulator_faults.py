"""The simulators' fault injection as a client meets it over real HTTP: lost and slow answers
whose change still lands, error statuses at a chosen rate — and a server that closes the
connections of clients that gave up without a traceback in its log."""

from __future__ import annotations

import contextlib
import time

import pytest
import requests

from adapters.jira.simulator import JiraSimulator

BOT = ("jira-bot@example.com", "bot-token")
ISSUE = {"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "s"}}


@pytest.fixture
def sim():
    simulator = JiraSimulator.seeded_demo("http://127.0.0.1")
    with simulator.serve():
        yield simulator


def create(sim: JiraSimulator, timeout: float = 2.0) -> requests.Response:
    return requests.post(f"{sim.base_url}/rest/api/2/issue", json=ISSUE, auth=BOT, timeout=timeout)


def test_a_lost_answer_lands_the_change_and_drops_the_connection_quietly(sim, capfd):
    sim.drop_create_answers = 1  # a route losing its own answer
    with pytest.raises(requests.ConnectionError):
        create(sim)
    chaos = sim.inject_chaos(1.0, statuses=())  # every answer lost
    with pytest.raises(requests.ConnectionError):
        create(sim)
    assert len(sim.issues) == 2 and chaos.counts["lost"] == 1
    sim.clear_faults()
    assert create(sim).status_code == 201
    time.sleep(0.2)
    assert "Traceback" not in capfd.readouterr().err


def test_a_slow_answer_times_the_client_out_and_still_lands_without_a_traceback(sim, capfd):
    sim.inject_chaos(1.0, statuses=(), slow=0.6, applies=lambda r: r.method == "POST")
    chaos = sim.chaos
    for _ in range(4):
        with contextlib.suppress(requests.ReadTimeout, requests.ConnectionError):
            create(sim, timeout=0.2)
    time.sleep(1.0)  # the held answers are written to connections the client closed
    assert chaos.counts["slow"] + chaos.counts["lost"] == 4 and chaos.counts["slow"] > 0
    assert len(sim.issues) == 4  # every change landed after its client gave up
    assert requests.get(f"{sim.base_url}/rest/api/2/myself", auth=BOT, timeout=2).status_code == 200
    assert "Traceback" not in capfd.readouterr().err


def test_chaos_hits_about_its_rate_and_only_the_requests_it_applies_to(sim):
    sim.inject_chaos(0.2, seed=7, applies=lambda r: r.header("Authorization") is not None)

    def status() -> int:
        try:
            return requests.get(f"{sim.base_url}/rest/api/2/myself", auth=BOT, timeout=2).status_code
        except requests.ConnectionError:
            return 0  # a lost answer

    statuses = [status() for _ in range(200)]
    faults = sum(1 for s in statuses if s != 200)
    assert 20 <= faults <= 60, faults  # ~20 % of 200
    assert {0, 429} <= set(statuses) and any(s >= 500 for s in statuses)
    anonymous = [requests.get(f"{sim.base_url}/rest/api/2/serverInfo", timeout=2) for _ in range(30)]
    assert all(a.status_code == 200 for a in anonymous)
