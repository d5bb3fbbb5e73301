"""The README's Governance examples are a config that loads: a reader who copies it gets a
working route, not an error."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from connector.app.runtime import Connector
from tests.connector.test_config_values import ENV

README = Path(__file__).resolve().parents[2] / "README.md"


def apply_change(
    change: str, action: str = "restart", service: str = "web", environment: str = "prod"
) -> str:
    """The tool the example gates."""
    return f"applied {change}"


def governance_example() -> dict:
    section = README.read_text().split("## Governance", 1)[1].split("\n## ", 1)[0]
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", section, re.S)]
    return {"routes": [route for block in blocks for route in block["routes"]]}


def test_the_readme_governance_example_loads(tmp_path):
    config = governance_example()
    config["store"] = {"url": "sqlite://"}
    config["tools"] = {"apply_change": {"import": "tests.examples.test_readme_governance:apply_change"}}
    config["systems"] = {
        "jira": {
            "type": "jira",
            "url": "https://example.atlassian.net",
            "auth": {"email_env": "JIRA_EMAIL", "token_env": "JIRA_API_TOKEN"},
        },
        "servicenow": {
            "type": "servicenow",
            "instance_url": "https://example.service-now.com",
            "auth": {"type": "basic", "user_env": "SN_USER", "password_env": "SN_PASSWORD"},
            "service_account": {"user_name": "svc_connector"},
        },
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    connector = Connector.from_config(path, env=ENV)
    try:
        names = {route.name for route in connector.config.routes}
        assert names == {"routine-restart", "change", "production-change"}
        connector.registry.require("apply_change")
    finally:
        connector.close()
