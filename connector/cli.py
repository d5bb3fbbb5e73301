"""Moved to ``connector.app.cli``; this path keeps working for existing imports and configs."""

from connector.app.cli import main  # noqa: F401

if __name__ == "__main__":
    main()
