"""Every ticketing system the contract and attack suites run against. A new adapter is tested
by adding its ContractSystem here: no other change."""

from __future__ import annotations

import importlib

SYSTEMS = [
    "adapters.local.contract:LocalContract",
    "adapters.jira.contract:JiraContract",
    "adapters.servicenow.contract:ServiceNowContract",
]


def load(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
