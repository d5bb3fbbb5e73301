"""Shared fixtures: a connector on a fresh SQLite file, demo tools writing into tmp_path, and a
real AssistantAgent scripted by ReplayChatCompletionClient."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_core import FunctionCall
from autogen_core.models import CreateResult, ModelInfo, RequestUsage
from autogen_ext.models.replay import ReplayChatCompletionClient

from connector.app.config import ConnectorConfig, parse_config
from connector.app.runtime import Connector

# the per-system fixtures of the contract and attack suites; pytester for the testing kit's own tests
# (the kit's fixtures come from its pytest11 entry point, as in a user's suite)
pytest_plugins = ["tests.contract.fixtures", "pytester"]


def pytest_configure(config: pytest.Config) -> None:
    """A checkout installed before the kit existed lacks its entry point: load it by hand then."""
    if not config.pluginmanager.has_plugin("approval_connector"):
        import connector.testing.plugin as kit

        config.pluginmanager.register(kit, "approval_connector")


REPO = Path(__file__).resolve().parents[1]
PG_URL_ENV = "APPROVAL_CONNECTOR_TEST_PG_URL"

LOCAL_CONFIG = """
store:
  url: sqlite:///{db}
scheduler:
  lease: 2s
systems:
  desk:
    type: local
    groups:
      leads: [carol]
tools:
  send_email: {{import: "connector.demo.tools:send_email"}}
  apply_change: {{import: "connector.demo.tools:apply_change"}}
routes:
  - name: internal
    tools: [send_email]
    system: desk
    mode: auto
    when: [{{arg: to, op: endswith, value: "@ourco.example"}}]
  - name: blocked
    tools: [send_email]
    system: desk
    mode: deny
    when: [{{arg: to, op: endswith, value: "@competitor.example"}}]
  - name: customer-email
    tools: [send_email]
    system: desk
    approvers: [alice, "group:leads"]
    deadline: 1h
    ticket:
      summary: "E-mail to {{{{ args.to }}}}"
  - name: change
    tools: [apply_change]
    system: desk
    approvers: ["*"]
"""

EMAIL = {"to": "jane@example.com", "subject": "Your refund", "body": "Refund in 3 business days."}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APPROVAL_CONNECTOR_DEMO_MAILBOX", str(tmp_path / "mailbox.jsonl"))
    monkeypatch.setenv("APPROVAL_CONNECTOR_DEMO_CHANGELOG", str(tmp_path / "changes.jsonl"))
    monkeypatch.delenv("APPROVAL_CONNECTOR_CONFIG", raising=False)
    monkeypatch.delenv("APPROVAL_CONNECTOR_DB_URL", raising=False)
    return tmp_path


@pytest.fixture
def config_path(workdir: Path) -> Path:
    path = workdir / "connector.yaml"
    path.write_text(LOCAL_CONFIG.format(db=workdir / "connector.db"))
    return path


@pytest.fixture
def config(config_path: Path) -> ConnectorConfig:
    return parse_config(config_path.read_text(), str(config_path))


@pytest.fixture
def connector(config: ConnectorConfig) -> Iterator[Connector]:
    conn = Connector.from_config(config)
    yield conn
    conn.close()


def sent_mail(workdir: Path) -> list[dict[str, Any]]:
    path = workdir / "mailbox.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def tool_call_client(name: str, arguments: dict[str, Any] | str, *more: str) -> ReplayChatCompletionClient:
    """A model that calls one tool, then answers ``more`` texts on later turns."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    call = FunctionCall(id="call_1", name=name, arguments=args)
    return ReplayChatCompletionClient(
        [
            CreateResult(
                finish_reason="function_calls",
                content=[call],
                usage=RequestUsage(prompt_tokens=0, completion_tokens=0),
                cached=False,
            ),
            *more,
        ],
        model_info=ModelInfo(
            vision=False, function_calling=True, json_output=False, family="unknown", structured_output=False
        ),
    )


async def agent_calls(tool: Any, name: str, arguments: dict[str, Any] | str) -> str:
    """Run a real AssistantAgent whose model calls ``name``; returns what the tool answered."""
    agent = AssistantAgent("assistant", model_client=tool_call_client(name, arguments), tools=[tool])
    result = await agent.run(task="do it")
    from autogen_agentchat.messages import ToolCallExecutionEvent

    answers = [m for m in result.messages if isinstance(m, ToolCallExecutionEvent)]
    assert answers, "the agent did not call the tool"
    return answers[-1].content[0].content


def pg_url() -> str | None:
    return os.environ.get(PG_URL_ENV)
