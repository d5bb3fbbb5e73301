"""Moved to ``connector.core.errors``; this path keeps working for existing imports and configs."""

from connector.core.errors import *  # noqa: F401,F403
