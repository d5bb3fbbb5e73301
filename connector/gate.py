"""Moved to ``connector.agents.autogen.gate``; this path keeps working for existing imports and configs."""

from connector.agents.autogen.gate import GatedTool, approval_context, outcome_message, pending_message  # noqa: F401
