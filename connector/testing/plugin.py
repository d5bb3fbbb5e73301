"""The approval-connector pytest plugin (entry point ``pytest11``: loaded wherever the package is
installed). Fixtures for testing your own gated flows, all prefixed so they never shadow yours:

- ``approval_flow``: factory; ``approval_flow("my-config.yaml")`` gives an ApprovalFlow — your
  config on a temporary SQLite store, its Jira / ServiceNow systems on simulators, helpers to act
  as people on the ticket, to run the connector's jobs and move time, and assertions.
- ``acr_connector``: factory for just the Connector of such a flow.
- ``acr_jira`` / ``acr_servicenow``: a seeded simulator in-process (on ``responses``);
  ``acr_jira_server`` / ``acr_servicenow_server``: the same served on loopback (real HTTP).
- ``acr_clock``: the clock the connector and the simulators read; reset after every test.

Heavy imports happen inside the fixtures: loading the plugin costs a test run nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from connector.app.runtime import Connector
    from connector.testing.flow import ApprovalFlow
    from connector.testing.systems import SimulatedSystem

CONFIG_INI = "approval_connector_config"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        CONFIG_INI,
        "config file approval_flow() uses when called without one (relative to the rootdir)",
        default="",
    )


class KitClock:
    """What ``acr_clock`` gives: the connector's "now", moved forward only."""

    def now(self) -> datetime:
        from connector.core import clock

        return clock.utcnow()

    def advance(self, by: timedelta | float | str) -> datetime:
        """Move now forward by "2h", "15m", seconds or a timedelta (nothing runs: see
        ``ApprovalFlow.fast_forward`` for moving time and running a cycle)."""
        from connector.core import clock
        from connector.core.durations import parse_duration

        return clock.advance(parse_duration(by))

    def travel_to(self, moment: datetime) -> datetime:
        from connector.core import clock

        return clock.travel_to(moment)


@pytest.fixture
def acr_clock() -> Iterator[KitClock]:
    from connector.core import clock

    clock.reset()
    yield KitClock()
    clock.reset()


def _system(kind: str, served: bool) -> Iterator[SimulatedSystem]:
    from connector.testing.systems import kit_system

    system = kit_system(kind)()
    with system.served() if served else system.in_process():
        yield system


@pytest.fixture
def acr_jira(acr_clock: KitClock) -> Iterator[SimulatedSystem]:
    """The seeded Jira simulator on ``responses`` (``.sim``, ``.driver``, ``.mock``)."""
    yield from _system("jira", served=False)


@pytest.fixture
def acr_servicenow(acr_clock: KitClock) -> Iterator[SimulatedSystem]:
    """The seeded ServiceNow simulator on ``responses`` (``.sim``, ``.driver``, ``.mock``)."""
    yield from _system("servicenow", served=False)


@pytest.fixture
def acr_jira_server(acr_clock: KitClock) -> Iterator[SimulatedSystem]:
    """The seeded Jira simulator served on loopback (``.sim.base_url``)."""
    yield from _system("jira", served=True)


@pytest.fixture
def acr_servicenow_server(acr_clock: KitClock) -> Iterator[SimulatedSystem]:
    """The seeded ServiceNow simulator served on loopback (``.sim.base_url``)."""
    yield from _system("servicenow", served=True)


FlowFactory = Callable[..., "ApprovalFlow"]


@pytest.fixture
def approval_flow(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, acr_clock: KitClock
) -> Iterator[FlowFactory]:
    """``approval_flow(config=None, *, served=False, env=None, systems=None)``: see ``open_flow``.
    Every flow made in a test is closed after it, and the clock is reset."""
    from connector.testing.kit import open_flow

    with ExitStack() as stack:

        def make(
            config: Any = None,
            *,
            served: bool = False,
            env: dict[str, str] | None = None,
            systems: dict[str, SimulatedSystem] | None = None,
        ) -> ApprovalFlow:
            from connector.core.errors import UserError

            source = config if config is not None else _configured(request.config)
            folder = tmp_path_factory.mktemp("approval-flow")
            try:
                return stack.enter_context(open_flow(source, folder, served=served, env=env, systems=systems))
            except UserError as exc:  # the user's config (ConfigError is one): one line, no traceback
                problem = str(exc)
            pytest.fail(f"approval_flow: {problem}", pytrace=False)

        yield make


@pytest.fixture
def acr_connector(approval_flow: FlowFactory) -> Callable[..., Connector]:
    """``acr_connector(config=None, **options)``: the Connector of ``approval_flow(...)``."""

    def make(config: Any = None, **options: Any) -> Connector:
        return approval_flow(config, **options).connector

    return make


def _configured(config: pytest.Config) -> Path:
    value = str(config.getini(CONFIG_INI) or "").strip()
    if not value:
        pytest.fail(
            f"approval_flow() needs a config: pass a path or dict, or set {CONFIG_INI} in the pytest ini",
            pytrace=False,
        )
    return Path(config.rootpath) / value
