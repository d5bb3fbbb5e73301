"""The built-in local desk: tickets in the connector's own database, decided from the terminal."""

from .adapter import LocalDeskAdapter

ADAPTER = LocalDeskAdapter

__all__ = ["ADAPTER", "LocalDeskAdapter"]
