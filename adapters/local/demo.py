"""The demo on the local desk: the configured connector (or the built-in defaults), so the demo's
request stays in its store for ``requests show`` and ``audit`` afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from connector.app.runtime import Connector
from connector.demo.environment import DemoEnvironment

from .testing import LocalDeskDriver


@contextmanager
def demo_environment(config_path: str | None) -> Iterator[DemoEnvironment]:
    connector = Connector.from_config(config_path)
    try:
        yield DemoEnvironment(
            connector, LocalDeskDriver.of(connector.adapters), "the local desk", "demo-approver"
        )
    finally:
        connector.close()
