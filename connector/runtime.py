"""Moved to ``connector.app.runtime``; this path keeps working for existing imports and configs."""

from connector.app.runtime import Connector, build_adapters  # noqa: F401
