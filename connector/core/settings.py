"""The configuration schema (pydantic models), shared by the core and the application layer.

Loading the YAML file (with the line of every key) is ``connector.app.config``'s job; this module
only describes what a valid configuration is, so the core can use it without the application layer.
Errors name the key path, and the line when the data carries a ``lines`` attribute."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from connector.core.approvals import Approvals
from connector.core.config_errors import format_validation_error, line_of_key  # noqa: F401 - re-exported
from connector.core.durations import Duration, duration_between, parse_duration  # noqa: F401 - re-exported
from connector.core.errors import ConfigError
from connector.core.models import Mode
from connector.core.timing import OnDeadline, Risk, Timing

# Allowed ranges: a zero or negative value would break an invariant (a zero lease declares healthy
# runs in doubt; a negative retention forgets every delivery id), a huge one only hides a typo.
Interval = duration_between("100ms", "1d")  # how often a scheduler job runs
Lease = duration_between("1s", "1d")
Retention = duration_between("1h", "365d")
Deadline = duration_between("1m", "365d")
Grace = duration_between("100ms", "1h")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StoreConfig(_Strict):
    url: str = Field(
        default="sqlite:///approval-connector.db",
        description="a relative SQLite path is relative to the config file's folder",
    )


def sqlite_relative_to(url: str, folder: Path) -> str:
    """A SQLite URL whose file path is relative, made absolute against ``folder`` (the config
    file's): the store must not depend on the directory a command happens to be run from, where a
    relative path would silently open a new, empty database. Other URLs come back unchanged."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number, say
        return url  # the store reports the bad URL, with where it came from
    database = parsed.database or ""
    if not parsed.drivername.startswith("sqlite") or database in ("", ":memory:"):
        return url
    if database.startswith("file:") or Path(database).is_absolute():  # URI filenames: left as written
        return url
    return parsed.set(database=str((folder / database).resolve())).render_as_string(hide_password=False)


class SchedulerConfig(_Strict):
    poll_interval: Interval = timedelta(seconds=30)
    expiry_interval: Interval = timedelta(seconds=60)
    outbox_interval: Interval = timedelta(seconds=10)
    recovery_interval: Interval = timedelta(seconds=30)
    lease: Lease = Field(
        default=timedelta(minutes=5),
        description="How long an executor's claim lasts without a heartbeat before the run is "
        "declared in doubt (or re-run, for idempotent tools).",
    )
    delivery_retention: Retention = Field(
        default=timedelta(days=7),
        description="how long webhook delivery ids and delivered outbox rows are kept",
    )
    pool_size: int = Field(
        default=8,
        ge=1,
        le=256,
        description="how many approved calls run at once in this process (async tools as tasks, sync "
        "tools in threads); decision intake never waits for them",
    )


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = Field(
        default="", description="URL the ticketing systems use to reach /webhooks/<system>"
    )
    shutdown_grace: Grace = Field(
        default=timedelta(seconds=30),
        description="On SIGTERM, how long to wait for runs in progress before exiting",
    )


_DOTTED = r"[^\W\d]\w*(?:\.[^\W\d]\w*)*"  # identifiers joined by dots: no relative, no empty parts
_IMPORT_PATH = re.compile(rf"{_DOTTED}:{_DOTTED}")


class ToolConfig(_Strict):
    import_path: str | None = Field(default=None, alias="import")
    idempotent: bool = False

    @field_validator("import_path")
    @classmethod
    def _looks_like_import(cls, value: str | None) -> str | None:
        if value is not None and not _IMPORT_PATH.fullmatch(value):
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


_NEEDS_A_VALUE = {"gt", "ge", "lt", "le", "contains", "not_contains", "startswith", "endswith", "matches"}


class Condition(_Strict):
    """A declarative test on one argument (dotted path for nested values); no code, no eval."""

    arg: str
    op: ConditionOp = "eq"
    value: Any = None

    @model_validator(mode="after")
    def _check(self) -> Condition:
        if self.op in _NEEDS_A_VALUE and self.value is None:  # str(None) would compare as "None"
            raise invalid(("value",), f"op {self.op!r} needs a value", None)
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} needs a list value")
        if self.op == "matches":
            try:
                re.compile(str(self.value))
            except re.error as exc:
                raise ValueError(f"invalid regular expression {self.value!r}: {exc}") from None
            except RecursionError:  # the parser of re recurses per group
                raise ValueError("regular expression nested too deeply") from None
        return self


class RiskTier(_Strict):
    """A tier of a route: the first tier whose ``when`` holds for the call's arguments gives its
    deadline and what happens then (a tier without ``when`` takes every call: put it last)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    when: list[Condition] = Field(default_factory=list)
    risk: Risk = "normal"
    deadline: Deadline | None = None
    on_deadline: OnDeadline | None = None


class RouteConfig(Timing, Approvals):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    tools: list[str] = Field(min_length=1)
    system: str
    mode: Mode = Mode.GATE
    when: list[Condition] = Field(default_factory=list)
    approvers: list[str] = Field(default_factory=list)
    deadline: Deadline = timedelta(hours=24)
    record_auto: bool = Field(default=False, description="in auto mode, also open a ticket as a record")
    tiers: list[RiskTier] = Field(default_factory=list)
    ticket: dict[str, Any] = Field(default_factory=dict)
    decision: dict[str, Any] = Field(default_factory=dict)
    outcome: dict[str, Any] = Field(default_factory=dict)
    escalation: dict[str, Any] = Field(
        default_factory=dict, description="whom the ticket goes to when escalated (adapter keys)"
    )

    @model_validator(mode="after")
    def _approvers_required(self) -> RouteConfig:
        if self.mode in (Mode.GATE, Mode.SHADOW) and not self.approvers:
            raise invalid(
                ("approvers",),
                "list who may approve (user names, ids, 'group:NAME'), "
                "or ['*'] for anyone the ticketing system lets transition the ticket",
                self.approvers,
            )
        return self

    @model_validator(mode="after")
    def _timing_fits_the_mode(self) -> RouteConfig:
        waits = self.mode in (Mode.GATE, Mode.SHADOW)
        for key in ("remind_after", "remind_every", "escalate_after", "valid_for"):
            if getattr(self, key) is not None and not waits:
                message = f"only routes where a person decides (gate, shadow) use {key}"
                raise invalid((key,), message, str(getattr(self, key)))
        problem = self.quorum_problem()
        if problem:
            raise invalid((problem[0],), problem[1], getattr(self, problem[0]))
        if self.counts_votes and not waits:
            key = "quorum" if self.quorum > 1 else "from_groups"
            message = f"only routes where people decide (gate, shadow) use {key}"
            raise invalid((key,), message, getattr(self, key))
        if self.remind_every is not None and self.remind_after is None:
            raise invalid(("remind_every",), "set remind_after too (when the first reminder is due)", "")
        if self.mode is Mode.STANDARD and not self.when:
            raise invalid(
                ("when",),
                "a standard (pre-approved) route needs conditions: the calls the organisation "
                "pre-approved; anything outside them goes on to the next route (the normal gate)",
                self.when,
            )
        if self.window is not None and self.mode not in (Mode.GATE, Mode.STANDARD):
            message = "only gate and standard routes wait for a window (an auto route runs at once)"
            raise invalid(("window",), message, "")
        escalates = self.escalate_after is not None or self.on_deadline is OnDeadline.ESCALATE
        escalates = escalates or any(t.on_deadline is OnDeadline.ESCALATE for t in self.tiers)
        if escalates and not self.escalation:
            message = "say whom an escalation goes to (e.g. escalation: {assignee: ...})"
            raise invalid(("escalation",), message, self.escalation)
        self._low_risk_only(self.on_deadline, self.risk, ("on_deadline",))
        for i, tier in enumerate(self.tiers):
            self._low_risk_only(tier.on_deadline, tier.risk, ("tiers", i, "on_deadline"))
            if tier.on_deadline is None and self.on_deadline is OnDeadline.APPROVE and tier.risk != "low":
                message = (
                    f"set on_deadline for this risk: {tier.risk} tier: the route's 'approve' is only "
                    "for low-risk calls, and a tier without its own on_deadline would take it"
                )
                raise invalid(("tiers", i, "on_deadline"), message, None)
            if tier.on_deadline is OnDeadline.APPROVE or (
                tier.on_deadline is None and self.on_deadline is OnDeadline.APPROVE
            ):
                _allow_lists_only(tier.when, ("tiers", i, "when"))
        if self.mode is Mode.STANDARD or self.on_deadline is OnDeadline.APPROVE:
            _allow_lists_only(self.when, ("when",))
        return self

    def _low_risk_only(self, action: OnDeadline | None, risk: str, loc: tuple[str | int, ...]) -> None:
        if action is OnDeadline.APPROVE and (risk != "low" or self.mode is not Mode.GATE):
            raise invalid(
                loc,
                "approve on deadline is only for gate routes or tiers marked risk: low "
                f"(this one is risk: {risk}, mode: {self.mode.value})",
                action.value,
            )

    def adapter_part(self) -> dict[str, Any]:
        part = {"ticket": self.ticket, "decision": self.decision, "outcome": self.outcome}
        if self.escalation:  # only routes that escalate: other adapters need not know the key
            part["escalation"] = self.escalation
        return part


ALLOWING_OPS = frozenset({"eq", "in", "startswith", "endswith", "matches", "gt", "ge", "lt", "le"})


def _allow_lists_only(conditions: list[Condition], loc: tuple[str | int, ...]) -> None:
    """Calls that run without a person deciding (standard changes, approval at the deadline) are
    chosen by arguments a model wrote: each condition must say what is allowed. ``ne``, ``not_in``,
    ``not_contains``, ``exists`` and ``not_exists`` also hold for "Prod", "prod " or a missing
    argument."""
    for i, condition in enumerate(conditions):
        if condition.op not in ALLOWING_OPS:
            message = (
                f"op {condition.op!r} cannot pre-approve a call: it also holds for values nobody "
                f"listed (another spelling, a missing argument); use {', '.join(sorted(ALLOWING_OPS))}"
            )
            raise invalid((*loc, i, "op"), message, condition.op)


class SystemConfig(BaseModel):
    """``type`` picks the adapter; the other keys are validated by that adapter's own model."""

    model_config = ConfigDict(extra="allow")
    type: str

    def adapter_part(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")  # RFC 9110 token
_SERVER_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")  # no "/": tools are named SERVER/TOOL
ConnectTimeout = duration_between("1s", "10m")
CallTimeout = duration_between("1s", "1d")
DedupeWindow = duration_between("1m", "30d")


def _named(pattern: re.Pattern[str], what: str) -> Any:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value[:60]!r} is not {what}")
        return value

    return AfterValidator(check)


EnvName = Annotated[str, _named(_ENV_NAME, "an environment variable name (letters, digits and _)")]
HeaderName = Annotated[str, _named(_HEADER_NAME, "an HTTP header name")]
Principal = Annotated[str, Field(min_length=1, max_length=200)]


class McpProxyConfig(_Strict):
    """``approval-connector mcp-proxy --server NAME``: who its calls come from. Over stdio it is
    ``requester``; over HTTP the bearer token's principal (``tokens``: principal → the variable
    holding their token), never what the client says of itself."""

    requester: str = Field(default="", max_length=200)
    tokens: dict[Principal, EnvName] = Field(default_factory=dict, max_length=100)
    tasks: bool = Field(default=False, description="answer task-capable clients with an MCP Task")
    dedupe_window: DedupeWindow = Field(
        default=timedelta(hours=1),
        description="how long after its request ended the same call still returns its outcome",
    )


class McpServerConfig(_Strict):
    """One MCP server, started (``command``) or reached (``url``, streamable HTTP). Secrets only by
    variable name: ``env`` maps the child's variable to ours, ``headers`` a header to ours.
    ``trusted`` lets its tools' annotations set defaults (read-only tools pass ungated)."""

    command: str | None = Field(default=None, min_length=1, max_length=1000)
    args: list[Annotated[str, Field(max_length=4000)]] = Field(default_factory=list, max_length=100)
    env: dict[EnvName, EnvName] = Field(default_factory=dict, max_length=100)
    cwd: str | None = Field(default=None, min_length=1, max_length=1000)
    url: str | None = Field(default=None, max_length=2000)
    headers: dict[HeaderName, EnvName] = Field(default_factory=dict, max_length=50)
    trusted: bool = False
    connect_timeout: ConnectTimeout = timedelta(seconds=30)
    call_timeout: CallTimeout = timedelta(minutes=5)
    proxy: McpProxyConfig = Field(default_factory=McpProxyConfig)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError(f"{value[:60]!r} is not an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (a server started over stdio) or url (streamable HTTP)")
        if self.url is not None:
            for key in ("args", "env", "cwd"):
                if getattr(self, key):
                    raise invalid((key,), "only for a server started by command", getattr(self, key))
        elif self.headers:
            raise invalid(("headers",), "only for a server reached by url", self.headers)
        return self


def _default_systems() -> dict[str, SystemConfig]:
    return {"desk": SystemConfig(type="local")}


class ConnectorConfig(_Strict):
    store: StoreConfig = Field(default_factory=StoreConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    systems: dict[str, SystemConfig] = Field(default_factory=_default_systems)
    tools: dict[str, ToolConfig] = Field(default_factory=dict)
    routes: list[RouteConfig] = Field(default_factory=list)
    mcp_servers: dict[str, McpServerConfig] = Field(default_factory=dict, max_length=100)

    _source: str = PrivateAttr(default="<config>")  # set by the loader: the file ...
    _data: Any = PrivateAttr(default=None)  # ... and what it held, with the line of every key
    _store_url_from: str = PrivateAttr(default="")  # the variable store.url came from, if not the file

    def store_origin(self) -> str:
        """Where ``store.url`` came from, for its errors: ``store.url (c.yaml:3)``, or the
        environment variable that overrode it."""
        if self._store_url_from:
            return f"${self._store_url_from}"
        return f"store.url ({self.where('store', 'url')})"

    def where(self, *loc: str | int) -> str:
        """'file:line' of a key path (``where("tools", "x", "import")``), for errors found after
        loading; the file alone when the line is unknown."""
        line = line_of_key(self._data, loc) if self._data is not None else None
        return f"{self._source}:{line}" if line else self._source

    @model_validator(mode="after")
    def _cross_check(self) -> ConnectorConfig:
        first: dict[str, int] = {}
        for i, route in enumerate(self.routes):
            if route.name in first:
                message = f"route names must be unique: {route.name} is also routes[{first[route.name]}]"
                raise invalid(("routes", i, "name"), message, route.name)
            first[route.name] = i
            if route.system not in self.systems:
                known = ", ".join(sorted(self.systems)) or "none"
                message = f"unknown system {route.system!r} (configured: {known})"
                raise invalid(("routes", i, "system"), message, route.system)
            for j, tool in enumerate(route.tools):
                problem = self._mcp_tool_problem(tool)
                if problem:
                    raise invalid(("routes", i, "tools", j), problem, tool)
        for name in self.mcp_servers:
            if not _SERVER_NAME.fullmatch(name):
                message = "an MCP server's name is 1 to 100 letters, digits, '_', '.' or '-' (no '/')"
                raise invalid(("mcp_servers", name), message, name)
        return self

    def _mcp_tool_problem(self, tool: str) -> str | None:
        """A route's ``SERVER/TOOL`` (or ``SERVER/*``) must name a declared MCP server."""
        if "/" not in tool or tool in self.tools:
            return None
        server, _, name = tool.partition("/")
        if not name or "/" in name or (name != "*" and "*" in name):
            return f"{tool!r}: an MCP tool is SERVER/TOOL, or SERVER/* for all of a server's tools"
        if server not in self.mcp_servers:
            known = ", ".join(sorted(self.mcp_servers)) or "none"
            return f"{tool!r}: no MCP server {server!r} in mcp_servers (declared: {known})"
        return None

    def route(self, name: str) -> RouteConfig:
        for route in self.routes:
            if route.name == name:
                return route
        known = ", ".join(r.name for r in self.routes) or "none"
        raise ConfigError(f"unknown route {name!r} (configured: {known})")


def invalid(loc: tuple[str | int, ...], message: str, value: Any) -> ValidationError:
    """An error for a key below the model being validated (a cross-check names the exact key, so
    the line is found), raised from a model validator."""
    error = PydanticCustomError("config", "{message}", {"message": message})
    return ValidationError.from_exception_data("config", [InitErrorDetails(type=error, loc=loc, input=value)])
