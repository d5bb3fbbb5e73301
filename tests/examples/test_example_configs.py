"""Every example's configs load, name tools the connector can import, and route each tool."""

from __future__ import annotations

import pytest

from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.policy import routes_for_tool
from connector.demo.examples import NAMES, load
from tests.examples.conftest import EXAMPLES, config_for

CONFIGS = [(name, system) for name in NAMES for system in load(name).configs]


@pytest.mark.parametrize("name, system", CONFIGS)
def test_example_config_is_valid_and_its_tools_import(name, system, workdir):
    example = load(name)
    path = example.config_path(system)
    assert path.parent == EXAMPLES / NAMES[name] and (path.parent / "README.md").exists()
    copy = config_for(NAMES[name], path.name, workdir)  # its store in the test's directory
    config = parse_config(copy.read_text(), str(copy))
    conn = Connector.from_config(config, env={})
    try:
        for tool in config.tools:
            assert conn.registry.require(tool).name == tool
            assert routes_for_tool(config, tool)
    finally:
        conn.close()


def test_an_unknown_example_is_one_clear_error():
    from connector.core.errors import UserError

    with pytest.raises(UserError, match="no example 'nope' here"):
        load("nope")
