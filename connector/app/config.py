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
    parse_duration,
    sqlite_relative_to,
)

CONFIG_ENV = "APPROVAL_CONNECTOR_CONFIG"
DB_URL_ENV = "APPROVAL_CONNECTOR_DB_URL"
DEFAULT_CONFIG_PATH = Path("config/connector.yaml")
PACKAGED_DEFAULTS = Path(__file__).with_name("defaults.yaml")

# Bounds checked before anything recursive runs (PyYAML's composer and constructor, pydantic, the
# templates that walk custom-field values): a file nested thousands deep, or aliases that expand
# to billions of values, gets one line instead of a RecursionError or a hang.
MAX_DEPTH = 50
MAX_VALUES = 100_000

# --- loading with line numbers ---------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key and sequence item, and refuses a
    document nested deeper than MAX_DEPTH before its (recursive) composer goes deeper."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text)
        self.source = source
        self.depth = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 - PyYAML's name
        """Flow nesting (``[[[...``) is refused as the scanner meets it: it would otherwise scan the
        whole run ahead (a ``[`` may start a key), in time quadratic in its length."""
        if self.flow_level >= MAX_DEPTH:
            raise ConfigError(f"{self.source}:{self.line + 1}: nested deeper than {MAX_DEPTH} levels")
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if not self.check_event(yaml.CollectionStartEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            line = self.peek_event().start_mark.line + 1
            raise ConfigError(f"{self.source}:{line}: nested deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


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
        raw = source_path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {source_path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {source_path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        raise ConfigError(
            f"{source_path}:{line}: not UTF-8 text (byte 0x{byte}); save the file as UTF-8"
        ) from None
    config = parse_config(text, str(source_path))
    env_url = os.environ.get(DB_URL_ENV)
    if env_url:  # from the shell: a relative SQLite path there is relative to the working directory
        config.store.url = env_url
        config._store_url_from = DB_URL_ENV
    elif resolved is not None:  # a file's relative SQLite path is relative to that file's folder
        config.store.url = sqlite_relative_to(config.store.url, source_path.parent)
    return config


def parse_config(text: str, source: str = "<config>") -> ConnectorConfig:
    try:
        data = _load_yaml(text, source)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{_yaml_where(exc, text, source)}: invalid YAML: {_yaml_problem(exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys")
    try:
        config = ConnectorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, data=data, source=source)) from None
    config._source = source
    config._data = data
    return config


def _load_yaml(text: str, source: str) -> Any:
    """The document, its nesting depth checked while it is composed and its size with aliases
    expanded checked before the constructor builds it."""
    loader = _LineLoader(text, source)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded(node, source)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_expanded(root: yaml.Node, source: str) -> None:
    """Depth and number of values once aliases are expanded (an alias is a reference to a node
    already read, so ``&a [*a]`` is a cycle and nine aliases of nine aliases are 387 million
    values). Iterative, with the result per node remembered: linear in the file's size."""
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth), both capped
    entered: set[int] = set()
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack[-1]
        children = _children(node)
        if id(node) not in entered:
            entered.add(id(node))
            for child in children:
                if id(child) in entered and id(child) not in done:
                    line = child.start_mark.line + 1
                    raise ConfigError(f"{source}:{line}: an alias refers to a value that contains it")
                if id(child) not in done:
                    stack.append(child)
            continue
        stack.pop()
        values = min(MAX_VALUES + 1, 1 + sum(done[id(c)][0] for c in children))
        depth = 1 + max((done[id(c)][1] for c in children), default=0)
        if values > MAX_VALUES:
            raise ConfigError(f"{source}: the aliases expand to more than {MAX_VALUES} values")
        if depth > MAX_DEPTH + 1:
            line = node.start_mark.line + 1
            raise ConfigError(
                f"{source}:{line}: nested deeper than {MAX_DEPTH} levels once aliases are expanded"
            )
        done[id(node)] = (values, depth)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _yaml_where(exc: yaml.YAMLError, text: str, source: str) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return f"{source}:{mark.line + 1}"
    position = getattr(exc, "position", None)  # ReaderError: a character YAML does not allow
    if isinstance(position, int):
        return f"{source}:{text.count(chr(10), 0, position) + 1}"
    return source


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return " ".join(problem.split())


def line_of(config: ConnectorConfig, loc: tuple[Any, ...]) -> str:
    """'file:line' for a key path of a loaded config, used by adapter errors."""
    return config.where(*loc)
