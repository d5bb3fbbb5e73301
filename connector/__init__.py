"""approval-connector: human approval for AI agents' tool calls."""

__version__ = "0.1.0"  # the one place the version is written (pyproject reads it; --version prints it)
