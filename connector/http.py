"""Moved to ``connector.core.http``; this path keeps working for existing imports and configs."""

from connector.core.http import *  # noqa: F401,F403
