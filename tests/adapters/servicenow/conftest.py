"""Shared fixtures: a seeded simulator installed on `responses`, adapters built from plain dicts
(as the core would pass them), and approval requests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses

from adapters.servicenow import ServiceNowAdapter, ServiceNowRouteSettings, ServiceNowSystemSettings
from adapters.servicenow.simulator import ServiceNowSimulator, seeded_demo
from connector.core.adapter import AdapterContext
from connector.core.models import ApprovalRequest
from tests.adapters.servicenow.sn_testlib import BASE, ENV, ROUTE, SYSTEM, Calls, make_request


@pytest.fixture
def sim() -> ServiceNowSimulator:
    return seeded_demo(BASE)


@pytest.fixture
def rsps(sim: ServiceNowSimulator) -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        sim.install(mock)
        yield mock


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_adapter(calls: Calls, sleeps: list[float]) -> Callable[..., ServiceNowAdapter]:
    def make(
        system: dict[str, Any] | None = None,
        routes: dict[str, dict[str, Any]] | None = None,
        env: dict[str, str] | None = None,
        now: Callable[[], float] | None = None,
    ) -> ServiceNowAdapter:
        settings = ServiceNowSystemSettings.model_validate(system or SYSTEM)
        parsed = {
            name: ServiceNowRouteSettings.model_validate(r)
            for name, r in (routes or {"change": ROUTE}).items()
        }
        context = AdapterContext(env=ENV if env is None else env, on_api_call=calls)
        extra = {"now": now} if now else {}
        return ServiceNowAdapter("sn", settings, parsed, context, sleep=sleeps.append, **extra)

    return make


@pytest.fixture
def adapter(
    make_adapter: Callable[..., ServiceNowAdapter], rsps: responses.RequestsMock
) -> ServiceNowAdapter:
    return make_adapter()


@pytest.fixture
def new_request() -> Callable[..., ApprovalRequest]:
    return make_request
