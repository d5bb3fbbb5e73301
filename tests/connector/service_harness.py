"""Moved to connector.testing.service (the testing kit serves the connector the same way)."""

from connector.testing.service import RunningService, wait_until

__all__ = ["RunningService", "wait_until"]
