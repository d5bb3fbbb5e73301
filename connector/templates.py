"""Moved to ``connector.core.templates``; this path keeps working for existing imports and configs."""

from connector.core.templates import *  # noqa: F401,F403
