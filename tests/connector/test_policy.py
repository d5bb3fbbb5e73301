"""Route selection: first matching route wins; conditions are data, never code."""

from __future__ import annotations

import pytest

from connector.app.config import Condition, parse_config
from connector.core.policy import condition_holds, select_route

CONFIG = parse_config(
    """
routes:
  - {name: internal, tools: [send_email], system: desk, mode: auto,
     when: [{arg: to, op: endswith, value: "@ourco.example"}]}
  - {name: big, tools: [refund], system: desk, approvers: ['*'], when: [{arg: amount, op: gt, value: 1000}]}
  - {name: small, tools: [refund], system: desk, mode: auto, when: [{arg: amount, op: le, value: 1000}]}
  - {name: email, tools: [send_email], system: desk, approvers: ['*']}
""",
    "<c>",
)


@pytest.mark.parametrize(
    ("tool", "args", "route"),
    [
        ("send_email", {"to": "x@ourco.example"}, "internal"),
        ("send_email", {"to": "x@customer.example"}, "email"),
        ("refund", {"amount": 5000}, "big"),
        ("refund", {"amount": 10}, "small"),
        ("refund", {"amount": "lots"}, None),  # a string is never > 1000: denied, not crashed
        ("refund", {}, None),
        ("other", {}, None),
    ],
)
def test_first_matching_route_wins(tool, args, route):
    selected = select_route(CONFIG, tool, args)
    assert (selected.name if selected else None) == route


@pytest.mark.parametrize(
    ("condition", "args", "holds"),
    [
        ({"arg": "a.b", "op": "eq", "value": 1}, {"a": {"b": 1}}, True),
        ({"arg": "tags", "op": "contains", "value": "vip"}, {"tags": ["vip"]}, True),
        ({"arg": "x", "op": "in", "value": [1, 2]}, {"x": 3}, False),
        ({"arg": "x", "op": "not_in", "value": [1, 2]}, {}, True),
        ({"arg": "x", "op": "matches", "value": "^prod-"}, {"x": "prod-db1"}, True),
        ({"arg": "x", "op": "exists"}, {"x": None}, True),
        ({"arg": "x", "op": "not_exists"}, {}, True),
        ({"arg": "x", "op": "startswith", "value": "a"}, {"x": 5}, False),
    ],
)
def test_conditions(condition, args, holds):
    assert condition_holds(Condition.model_validate(condition), args) is holds
