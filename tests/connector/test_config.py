"""Configuration: every shipped example validates; mistakes name the key path and the line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from connector.app.config import parse_config, parse_duration
from connector.app.runtime import build_adapters
from connector.core.adapter import AdapterContext
from connector.core.errors import ConfigError
from tests.conftest import REPO

EXAMPLES = sorted((REPO / "config").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_config_validates_with_its_adapters(path: Path, tmp_path):
    config = parse_config(path.read_text(), str(path))
    config.store.url = f"sqlite:///{tmp_path / 'x.db'}"
    from connector.core.store import Store

    store = Store.from_url(config.store.url)
    env = _fake_secrets(path.read_text())
    adapters = build_adapters(config, AdapterContext(engine=store.engine, env=env))
    assert set(adapters) == set(config.systems)
    for route in config.routes:
        assert route.tools, route.name


def _fake_secrets(text: str) -> dict[str, str]:
    """Every *_env value named in the file gets a dummy value (adapters may read them lazily)."""
    import re

    return {name: "dummy-secret" for name in re.findall(r"_env:\s*[\"']?([A-Z][A-Z0-9_]+)", text)}


def test_packaged_defaults_validate():
    from connector.app.config import PACKAGED_DEFAULTS

    config = parse_config(PACKAGED_DEFAULTS.read_text(), "defaults")
    assert [r.name for r in config.routes] == ["customer-email", "crm-update", "it-change"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "routes:\n  - name: r\n    tools: [t]\n    system: desk\n",
            "<c>:2: routes[0].approvers: list who may approve",
        ),
        (
            "routes:\n  - name: r\n    tools: []\n    system: desk\n    approvers: ['*']\n",
            "<c>:3: routes[0].tools: List should have at least 1 item",
        ),
        ("scheduler:\n  poll_interval: often\n", "<c>:2: scheduler.poll_interval: 'often' is not a duration"),
        (
            "routes:\n  - name: r\n    tools: [t]\n    system: desk\n    approvers: ['*']\n"
            "    when: [{arg: x, op: matches, value: '(('}]\n",
            "invalid regular expression",
        ),
        (
            "routes:\n  - name: r\n    tools: [t]\n    system: desk\n    approvers: ['*']\n"
            "    when: [{arg: x, op: in, value: 3}]\n",
            "op 'in' needs a list value",
        ),
        (
            "tools:\n  t: {import: 'not a path'}\n",
            "<c>:2: tools.t.import: 'not a path' is not an import path",
        ),
        ("- just\n- a list\n", "the top level must be a mapping"),
        (
            "routes:\n  - {name: a, tools: [t], system: desk, approvers: ['*']}\n"
            "  - {name: a, tools: [t], system: desk, approvers: ['*']}\n",
            "route names must be unique: a",
        ),
    ],
)
def test_config_errors_name_key_and_line(text, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "<c>")
    assert message in str(caught.value)


def test_adapter_settings_errors_name_the_key(tmp_path):
    config = parse_config("systems:\n  desk:\n    type: local\n    key_prefx: X\n", "<c>")
    from connector.core.store import Store

    store = Store.from_url(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ConfigError, match=r"<c>:2: systems.desk.key_prefx: unknown key"):
        build_adapters(config, AdapterContext(engine=store.engine))


def test_unknown_system_type_is_a_config_error(tmp_path):
    config = parse_config("systems:\n  z:\n    type: zendesk\n", "<c>")
    with pytest.raises(ConfigError, match="unknown system type 'zendesk'"):
        build_adapters(config, AdapterContext())


@pytest.mark.parametrize(
    ("value", "seconds"), [("90s", 90), ("15m", 900), ("24h", 86400), ("2d", 172800), (30, 30)]
)
def test_durations(value, seconds):
    assert parse_duration(value) == timedelta(seconds=seconds)


def test_local_desk_route_rejects_settings_it_would_ignore(tmp_path):
    config = parse_config(
        "routes:\n  - name: r\n    tools: [t]\n    system: desk\n    approvers: ['*']\n"
        "    decision: {approved: [Done]}\n",
        "<c>",
    )
    from connector.core.store import Store

    store = Store.from_url(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ConfigError, match=r"routes\[0\].decision.approved: unknown key"):
        build_adapters(config, AdapterContext(engine=store.engine))
