"""Moved to ``connector.demo.tools``; this path keeps working for existing imports and configs."""

from connector.demo.tools import *  # noqa: F401,F403
