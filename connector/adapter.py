"""Moved to ``connector.core.adapter``; this path keeps working for existing imports and configs."""

from connector.core.adapter import *  # noqa: F401,F403
