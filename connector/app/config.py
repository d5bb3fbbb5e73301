"""Loading the YAML configuration: the file is found (``--config``, ``$APPROVAL_CONNECTOR_CONFIG``,
``./config/connector.yaml``, packaged defaults), read with the line of every key remembered, and
validated against the schema in ``connector.core.settings`` (re-exported here, so
``from connector.app.config import RouteConfig`` keeps working). Secrets only by variable name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from connector.core.errors import ConfigError
from connector.core.settings import (  # noqa: F401 - re-exported: the schema's historical home
    Condition,
    ConditionOp,
    ConnectorConfig,
    Duration,
    RouteConfig,
    SchedulerConfig,
    ServerConfig,
    StoreConfig,
    SystemConfig,
    ToolConfig,
    format_validation_error,
    line_of_key,
    parse_duration,
)

CONFIG_ENV = "APPROVAL_CONNECTOR_CONFIG"
DB_URL_ENV = "APPROVAL_CONNECTOR_DB_URL"
DEFAULT_CONFIG_PATH = Path("config/connector.yaml")
PACKAGED_DEFAULTS = Path(__file__).with_name("defaults.yaml")

# --- loading with line numbers ---------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key and sequence item."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    lines = {}
    for key_node, _ in node.value:
        lines[str(key_node.value)] = key_node.start_mark.line + 1
    return _LinedDict(mapping, lines, node.start_mark.line + 1)


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> list[Any]:
    items = loader.construct_sequence(node, deep=True)
    return _LinedList(items, [item.start_mark.line + 1 for item in node.value])


class _LinedDict(dict):
    def __init__(self, data: dict, lines: dict[str, int], line: int) -> None:
        super().__init__(data)
        self.lines = lines
        self.line = line


class _LinedList(list):
    def __init__(self, data: list, lines: list[int]) -> None:
        super().__init__(data)
        self.lines = lines


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def resolve_config_path(explicit: str | os.PathLike | None) -> Path | None:
    """--config, then $APPROVAL_CONNECTOR_CONFIG, then ./config/connector.yaml; None means the
    packaged defaults (local desk, SQLite, demo tools)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    if DEFAULT_CONFIG_PATH.exists():
        return DEFAULT_CONFIG_PATH
    return None


def load_config(path: str | os.PathLike | None = None) -> ConnectorConfig:
    resolved = resolve_config_path(path)
    source_path = resolved or PACKAGED_DEFAULTS
    try:
        text = source_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {source_path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {source_path}: {exc.strerror}") from None
    config = parse_config(text, str(source_path))
    env_url = os.environ.get(DB_URL_ENV)
    if env_url:
        config.store.url = env_url
    return config


def parse_config(text: str, source: str = "<config>") -> ConnectorConfig:
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys")
    try:
        config = ConnectorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, data=data, source=source)) from None
    config._source = source  # type: ignore[attr-defined]
    config._data = data  # type: ignore[attr-defined]
    return config


def line_of(config: ConnectorConfig, loc: tuple[Any, ...]) -> str:
    """'file:line' for a key path of a loaded config, used by adapter errors."""
    data = getattr(config, "_data", None)
    source = getattr(config, "_source", "<config>")
    line = line_of_key(data, loc) if data is not None else None
    return f"{source}:{line}" if line else source
