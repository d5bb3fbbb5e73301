"""The demo against a seeded ServiceNow simulator served on loopback (real HTTP): the connector
uses its real ServiceNow adapter, with the configuration in ``demo.yaml`` beside this module and a
throw-away store; change.manager answers the approval as they would in ServiceNow."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

from connector.demo.environment import DemoEnvironment, served_simulator

from .simulator import seeded_demo
from .testing import ServiceNowDriver

ENV = {"SN_USER": "svc_connector", "SN_PASSWORD": "svc-password"}  # seeded_demo's service account


@contextmanager
def demo_environment(config_path: str | None) -> Iterator[DemoEnvironment]:
    """``config_path`` is not used: the simulated instance is seeded to match ``demo.yaml``."""
    sim = seeded_demo("http://127.0.0.1")
    config = resources.files(__package__) / "demo.yaml"
    with served_simulator(sim, config, ENV) as (connector, url):
        driver = ServiceNowDriver(sim, arguments_field="u_approved_arguments")  # demo.yaml's column
        yield DemoEnvironment(
            connector,
            driver,
            f"a simulated ServiceNow at {url}",
            "change.manager",
        )
