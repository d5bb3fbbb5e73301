"""The demo against a seeded Jira simulator served on loopback (real HTTP): the connector uses its
real Jira adapter, with the configuration in ``demo.yaml`` beside this module and a throw-away
store; alice approves through the simulator as she would in Jira."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

from connector.demo.environment import DemoEnvironment, served_simulator

from .simulator import JiraSimulator
from .testing import JiraDriver


@contextmanager
def demo_environment(config_path: str | None) -> Iterator[DemoEnvironment]:
    """``config_path`` is not used: the simulated project is seeded to match ``demo.yaml``."""
    sim = JiraSimulator.seeded_demo("http://127.0.0.1")
    config = resources.files(__package__) / "demo.yaml"
    with served_simulator(sim, config, sim.demo_env()) as (connector, url):
        yield DemoEnvironment(
            connector,
            JiraDriver(sim, arguments_field="customfield_10100"),
            f"a simulated Jira at {url}",
            "alice",
        )
