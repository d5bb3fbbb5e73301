"""Moved to ``connector.testing.simulator``; this path keeps working for existing imports and configs."""

from connector.testing.simulator import *  # noqa: F401,F403
