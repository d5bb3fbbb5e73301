"""Moved to ``connector.core.models``; this path keeps working for existing imports and configs."""

from connector.core.models import *  # noqa: F401,F403
