"""The layout's rules, checked on the source: the core knows no ticketing system, agent framework,
CLI or web stack; only the transitions module changes a request's state; modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

CORE = REPO / "connector" / "core"
FORBIDDEN_IN_CORE = (
    "adapters",
    "connector.app",
    "connector.agents",
    "connector.demo",
    "connector.testing",
    "autogen_core",
    "autogen_agentchat",
    "autogen_ext",
    "agent_framework",
    "mcp",
    "typer",
    "click",
    "rich",
    "starlette",
    "uvicorn",
    "prometheus_client",
    "apscheduler",
)
# store methods that change a request's state; outside the store, only the transitions module
# (transitions.py and its timing part) calls them
STATE_WRITERS = {
    "transition",
    "moved",
    "insert_request",
    "set_ticket",
    "claim",
    "mark_refused",
    "seal_legacy",
}
WRITERS = {CORE / "service" / "transitions.py", CORE / "service" / "transitions_timing.py"}
MAX_LINES = 450
ROUTE_TABLES = {"routes.py"}  # simulators' route tables may be longer


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_core_imports_no_adapter_framework_cli_or_web_stack():
    offending = []
    for path in sorted(CORE.rglob("*.py")):
        for name in imports_of(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_CORE):
                offending.append(f"{path.relative_to(REPO)} imports {name}")
    assert offending == []


def test_only_the_transitions_module_changes_a_requests_state():
    offending = []
    for package in ("connector", "adapters"):
        for path in sorted((REPO / package).rglob("*.py")):
            if path in WRITERS or CORE / "store" in path.parents:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in STATE_WRITERS
                    and isinstance(node.func.value, ast.Attribute | ast.Name)
                    and "store" in ast.unparse(node.func.value)
                ):
                    offending.append(f"{path.relative_to(REPO)}:{node.lineno} calls {ast.unparse(node.func)}")
    assert offending == []


def test_no_source_file_is_long():
    long = []
    for package in ("connector", "adapters"):
        for path in sorted((REPO / package).rglob("*.py")):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES and path.name not in ROUTE_TABLES:
                long.append(f"{path.relative_to(REPO)}: {lines} lines")
    assert long == []
