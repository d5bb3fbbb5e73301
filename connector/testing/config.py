"""A user's own configuration, made fit for a test: the store on a temporary SQLite file, every
Jira / ServiceNow system pointed at a simulator, the secrets it names filled with the simulator's
credentials, and a seal key of the test's own. Routes, templates, approvers, deadlines and tools
stay exactly as the user wrote them: that is what the test is about."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from connector.app.config import ConnectorConfig, parse_config
from connector.core.errors import UserError
from connector.core.integrity import KEY_ENV
from connector.testing.systems import SimulatedSystem, has_kit_system, kit_system

ConfigSource = str | os.PathLike | Mapping[str, Any]


@dataclass
class KitConfig:
    """The test's configuration, the environment it names, and the simulated systems by name."""

    config: ConnectorConfig
    env: dict[str, str]
    systems: dict[str, SimulatedSystem] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


def read_source(source: ConfigSource) -> tuple[dict[str, Any], str]:
    """The config as data and a name for messages. A path is parsed as the CLI would parse it
    first, so a mistake in the user's file is reported with its own file and line."""
    if isinstance(source, Mapping):
        return _plain(source), "<config dict>"
    path = Path(source)
    if not path.is_file():
        raise UserError(f"approval_flow: config file {str(path)!r} not found")
    text = path.read_text(encoding="utf-8")
    parse_config(text, str(path))  # the user's own errors, with file:line
    return dict(yaml.safe_load(text) or {}), str(path)


def simulated_systems(
    data: Mapping[str, Any], given: Mapping[str, SimulatedSystem] | None = None
) -> dict[str, SimulatedSystem]:
    """One simulated system per Jira / ServiceNow entry of the config, by system name (``given``
    ones reused, to share a simulator between connectors); the local desk needs none."""
    found: dict[str, SimulatedSystem] = {}
    for system_name, system in (data.get("systems") or {}).items():
        kind = (system or {}).get("type")
        if system_name in (given or {}):
            found[system_name] = dict(given or {})[system_name]
        elif isinstance(kind, str) and has_kit_system(kind):
            found[system_name] = kit_system(kind)(system)
    return found


def kit_config(
    data: Mapping[str, Any],
    name: str,
    folder: Path,
    systems: Mapping[str, SimulatedSystem],
    env: Mapping[str, str] | None = None,
) -> KitConfig:
    """``data`` rewritten for a test whose files live in ``folder``, its systems pointed at
    ``systems`` (started: their URLs are final). ``env`` adds variables (the user's own tools'
    settings); the seal key is the test's own."""
    data = _plain(data)
    data["store"] = {**(data.get("store") or {}), "url": f"sqlite:///{folder / 'approval-connector.db'}"}
    values: dict[str, str] = {KEY_ENV: secrets.token_hex(32)}
    for system_name, sim in systems.items():
        system = data["systems"][system_name]
        sim.point(system)
        values.update(sim.credentials(system))
    values.update(env or {})
    text = yaml.safe_dump(data, sort_keys=False)
    config = parse_config(text, f"{name} (as the testing kit runs it)")
    return KitConfig(config, values, dict(systems), data)


def _plain(value: Any) -> Any:
    """A deep copy of a mapping as plain dicts and lists (the kit edits it)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
