"""Jira Cloud and Data Center adapter: approval issues, decisions by status or JSM approval.

Modules, one job each: settings (config schema), client (python-jira + typed errors and retries),
render (escaped wiki markup), parse (payload → verdict/actor), webhook (HMAC + hints), check
(check-config), simulator (a stateful Jira for tests and demos), adapter (the TicketAdapter)."""

from .adapter import JiraAdapter

ADAPTER = JiraAdapter

__all__ = ["ADAPTER", "JiraAdapter"]
