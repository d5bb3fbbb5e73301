"""Which route gates a call: the first route that lists the tool and whose conditions all hold.
Conditions are data (``{arg, op, value}``), evaluated without eval."""

from __future__ import annotations

import re
from typing import Any

from connector.core.errors import ConfigError
from connector.core.models import Mode
from connector.core.settings import Condition, ConnectorConfig, RiskTier, RouteConfig

_MISSING = object()


def _lookup(arguments: dict[str, Any], path: str) -> Any:
    value: Any = arguments
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _compare(op: str, actual: Any, expected: Any) -> bool:
    try:
        if op == "gt":
            return actual > expected
        if op == "ge":
            return actual >= expected
        if op == "lt":
            return actual < expected
        if op == "le":
            return actual <= expected
    except TypeError:
        return False  # e.g. a string compared with a number: the condition does not hold
    raise ValueError(op)


def condition_holds(condition: Condition, arguments: dict[str, Any]) -> bool:
    actual = _lookup(arguments, condition.arg)
    op, expected = condition.op, condition.value
    if op == "exists":
        return actual is not _MISSING
    if op == "not_exists":
        return actual is _MISSING
    if actual is _MISSING:
        return op in ("ne", "not_in", "not_contains")
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if op in ("gt", "ge", "lt", "le"):
        return _compare(op, actual, expected)
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    if op in ("contains", "not_contains"):
        found = (
            (str(expected) in actual)
            if isinstance(actual, str)
            else (expected in actual if isinstance(actual, list | dict) else False)
        )
        return found if op == "contains" else not found
    if op == "startswith":
        return isinstance(actual, str) and actual.startswith(str(expected))
    if op == "endswith":
        return isinstance(actual, str) and actual.endswith(str(expected))
    if op == "matches":
        return isinstance(actual, str) and re.search(str(expected), actual) is not None
    raise ValueError(f"unknown condition op {op!r}")


def lists_tool(route: RouteConfig, tool_name: str) -> bool:
    """Whether a route gates ``tool_name``: by name, or an MCP server's tool through ``SERVER/*``."""
    if tool_name in route.tools:
        return True
    server, slash, _ = tool_name.partition("/")
    return bool(slash) and f"{server}/*" in route.tools


def routes_for_tool(config: ConnectorConfig, tool_name: str) -> list[RouteConfig]:
    return [route for route in config.routes if lists_tool(route, tool_name)]


def require_route(config: ConnectorConfig, tool_name: str, route_name: str | None = None) -> None:
    """A tool being gated must have a route: the one pinned by name must list it, or some route
    must; ConfigError saying which otherwise."""
    if route_name is not None:
        if not lists_tool(config.route(route_name), tool_name):
            raise ConfigError(f"route {route_name!r} does not list tool {tool_name!r} in its tools")
    elif not routes_for_tool(config, tool_name):
        raise ConfigError(
            f"no route in the configuration lists tool {tool_name!r}; add it to a route's tools"
        )


def select_route(
    config: ConnectorConfig, tool_name: str, arguments: dict[str, Any], route_name: str | None = None
) -> RouteConfig | None:
    """The route for this call, or None when no route's conditions hold (the call is denied).
    A route pinned by name (``gate(tool, route=...)``) must list the tool, and a matching deny
    route for the tool wins over it."""
    routes = routes_for_tool(config, tool_name)
    if route_name:
        pinned = config.route(route_name)
        if pinned not in routes:
            raise ConfigError(f"route {route_name!r} does not list tool {tool_name!r} in its tools")
        denials = [r for r in routes if r.mode is Mode.DENY]
        routes = denials + [pinned]
    for route in routes:
        if all(condition_holds(c, arguments) for c in route.when):
            return route
    return None


def tier_for(route: RouteConfig, arguments: dict[str, Any]) -> RiskTier | None:
    """The first risk tier of ``route`` whose conditions hold for the call (None: the route's
    own deadline and deadline action apply)."""
    for tier in route.tiers:
        if all(condition_holds(c, arguments) for c in tier.when):
            return tier
    return None
