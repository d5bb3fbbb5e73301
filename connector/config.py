"""Moved to ``connector.app.config``; this path keeps working for existing imports and configs."""

from connector.app.config import *  # noqa: F401,F403
