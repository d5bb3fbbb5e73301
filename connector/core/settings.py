"""The configuration schema (pydantic models), shared by the core and the application layer.

Loading the YAML file (with the line of every key) is ``connector.app.config``'s job; this module
only describes what a valid configuration is, so the core can use it without the application layer.
Errors name the key path, and the line when the data carries a ``lines`` attribute."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from connector.core.errors import ConfigError
from connector.core.models import Mode

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: Any) -> timedelta:
    """'90s', '15m', '24h', '7d' or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 15m, 24h or 7d")
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 15m, 24h, 7d)")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StoreConfig(_Strict):
    url: str = "sqlite:///approval-connector.db"


class SchedulerConfig(_Strict):
    poll_interval: Duration = timedelta(seconds=30)
    expiry_interval: Duration = timedelta(seconds=60)
    outbox_interval: Duration = timedelta(seconds=10)
    recovery_interval: Duration = timedelta(seconds=30)
    lease: Duration = Field(
        default=timedelta(minutes=5),
        description="How long an executor's claim lasts without a heartbeat before the run is "
        "declared in doubt (or re-run, for idempotent tools).",
    )
    delivery_retention: Duration = Field(
        default=timedelta(days=7),
        description="how long webhook delivery ids are kept to recognise redeliveries",
    )


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = Field(
        default="", description="URL the ticketing systems use to reach /webhooks/<system>"
    )
    shutdown_grace: Duration = Field(
        default=timedelta(seconds=30),
        description="On SIGTERM, how long to wait for runs in progress before exiting",
    )


class ToolConfig(_Strict):
    import_path: str | None = Field(default=None, alias="import")
    idempotent: bool = False

    @field_validator("import_path")
    @classmethod
    def _looks_like_import(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[\w.]+:[\w.]+$", value):
            raise ValueError(f"{value!r} is not an import path like 'myapp.tools:send_email'")
        return value


ConditionOp = Literal[
    "eq",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "startswith",
    "endswith",
    "matches",
    "exists",
    "not_exists",
]


class Condition(_Strict):
    """A declarative test on one argument (dotted path for nested values); no code, no eval."""

    arg: str
    op: ConditionOp = "eq"
    value: Any = None

    @model_validator(mode="after")
    def _check(self) -> Condition:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} needs a list value")
        if self.op == "matches":
            try:
                re.compile(str(self.value))
            except re.error as exc:
                raise ValueError(f"invalid regular expression {self.value!r}: {exc}") from None
        return self


class RouteConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    tools: list[str] = Field(min_length=1)
    system: str
    mode: Mode = Mode.GATE
    when: list[Condition] = Field(default_factory=list)
    approvers: list[str] = Field(default_factory=list)
    deadline: Duration = timedelta(hours=24)
    record_auto: bool = Field(default=False, description="in auto mode, also open a ticket as a record")
    ticket: dict[str, Any] = Field(default_factory=dict)
    decision: dict[str, Any] = Field(default_factory=dict)
    outcome: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _approvers_required(self) -> RouteConfig:
        if self.mode in (Mode.GATE, Mode.SHADOW) and not self.approvers:
            raise ValueError(
                "approvers: list who may approve (user names, ids, 'group:NAME'), "
                "or ['*'] for anyone the ticketing system lets transition the ticket"
            )
        return self

    def adapter_part(self) -> dict[str, Any]:
        return {"ticket": self.ticket, "decision": self.decision, "outcome": self.outcome}


class SystemConfig(BaseModel):
    """``type`` picks the adapter; the other keys are validated by that adapter's own model."""

    model_config = ConfigDict(extra="allow")
    type: str

    def adapter_part(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _default_systems() -> dict[str, SystemConfig]:
    return {"desk": SystemConfig(type="local")}


class ConnectorConfig(_Strict):
    store: StoreConfig = Field(default_factory=StoreConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    systems: dict[str, SystemConfig] = Field(default_factory=_default_systems)
    tools: dict[str, ToolConfig] = Field(default_factory=dict)
    routes: list[RouteConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_check(self) -> ConnectorConfig:
        names = [r.name for r in self.routes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"route names must be unique: {', '.join(dupes)}")
        for i, route in enumerate(self.routes):
            if route.system not in self.systems:
                known = ", ".join(sorted(self.systems)) or "none"
                raise ValueError(f"routes[{i}].system: unknown system {route.system!r} (configured: {known})")
        return self

    def route(self, name: str) -> RouteConfig:
        for route in self.routes:
            if route.name == name:
                return route
        known = ", ".join(r.name for r in self.routes) or "none"
        raise ConfigError(f"unknown route {name!r} (configured: {known})")


# --- errors that name the key path and the line --------------------------------------------


def line_of_key(data: Any, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest key of ``loc`` found in ``data`` (mappings and lists that carry a
    ``lines`` attribute, as the YAML loader makes them), or None."""
    line = None
    node = data
    for part in loc:
        lines = getattr(node, "lines", None)
        if isinstance(node, dict) and isinstance(lines, dict) and str(part) in node:
            line = lines.get(str(part), line)
            node = node[str(part)]
        elif isinstance(node, list) and isinstance(lines, list) and isinstance(part, int):
            if part >= len(node):
                break
            line = lines[part]
            node = node[part]
        else:
            break
    return line


def _loc_text(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def format_validation_error(
    exc: ValidationError, prefix: str = "", data: Any = None, source: str = ""
) -> str:
    """One line per problem: 'file:line: key.path: message'."""
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-after"))
        path = _loc_text(loc)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        where = ""
        if data is not None:
            line = line_of_key(data, loc)
            if line:
                where = f"{source}:{line}: " if source else f"line {line}: "
        elif source:
            where = f"{source}: "
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{where}{path}: {message}" if path else f"{where}{message}")
    return "; ".join(lines)
