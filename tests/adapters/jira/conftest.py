"""Fixtures for the Jira adapter tests: the seeded simulator in-process on ``responses`` (Cloud and
Data Center) and an adapter wired to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from adapters.jira import JiraAdapter
from adapters.jira.simulator import JiraSimulator
from tests.adapters.jira.jira_testlib import build_adapter


@pytest.fixture
def sim() -> Iterator[JiraSimulator]:
    simulator = JiraSimulator.seeded_demo()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        simulator.install(rsps)
        yield simulator


@pytest.fixture
def dc_sim() -> Iterator[JiraSimulator]:
    simulator = JiraSimulator.seeded_demo("https://jira.dc.example.test", deployment="datacenter")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        simulator.install(rsps)
        yield simulator


@pytest.fixture
def adapter(sim: JiraSimulator) -> JiraAdapter:
    return build_adapter(sim)
