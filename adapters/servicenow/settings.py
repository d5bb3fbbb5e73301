"""Configuration of a ServiceNow system and of the routes that use it, declared as data.

Secrets are only ever named (``*_env``: an environment variable name); the adapter reads their
values through ``AdapterContext.secret`` when it needs them, so a config file can be shared.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connector.core.adapter import RouteSettings, SystemSettings
from connector.core.durations import seconds_between
from connector.core.http import ConnectTimeout, ReadTimeout, RetrySettings
from connector.core.models import ReportKind
from connector.core.templates import template_problem

_FIELD = re.compile(r"^[a-z][a-z0-9_]*$")
_TABLE = re.compile(r"^[a-z][a-z0-9_]*$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Characters that would change the meaning of an encoded query if they were in a value.
_QUERY_UNSAFE = re.compile(r"[\^,\r\n]")

TokenMargin = seconds_between("0s", "1h")
SignatureAge = seconds_between("0s", "1d")  # 0: no limit
PollOverlap = seconds_between("1s", "1h")

DEFAULT_SHORT_DESCRIPTION = "[agent] {{ tool }} needs approval"


def _check_template(name: str, source: str) -> None:
    problem = template_problem(source)
    if problem:
        raise ValueError(f"{name}: invalid template: {problem}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _env_name(value: str | None) -> str | None:
    if value is not None and not _ENV.match(value):
        raise ValueError(f"{value!r} is not an environment variable name (secrets are named, never inlined)")
    return value


class BasicAuth(_Model):
    """User name and password of the integration user, both read from the environment."""

    type: Literal["basic"] = "basic"
    user_env: str
    password_env: str

    @field_validator("user_env", "password_env")
    @classmethod
    def _env(cls, value: str) -> str | None:
        return _env_name(value)


class OAuthAuth(_Model):
    """OAuth 2 against ``/oauth_token.do``. ``password`` (ROPC) also needs the user's name and
    password; ``client_credentials`` acts as the OAuth application user configured on the instance."""

    type: Literal["oauth"] = "oauth"
    grant: Literal["password", "client_credentials"] = "client_credentials"
    client_id_env: str
    client_secret_env: str
    user_env: str | None = None
    password_env: str | None = None
    token_path: str = "/oauth_token.do"
    refresh_margin_seconds: TokenMargin = Field(default=60.0, description="renew this long before expiry")

    @field_validator("client_id_env", "client_secret_env", "user_env", "password_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        return _env_name(value)

    @model_validator(mode="after")
    def _password_grant_needs_user(self) -> OAuthAuth:
        if self.grant == "password" and not (self.user_env and self.password_env):
            raise ValueError("grant 'password' needs user_env and password_env")
        return self


Auth = Annotated[BasicAuth | OAuthAuth, Field(discriminator="type")]


class ServiceAccount(_Model):
    """The connector's own ServiceNow user: its writes are never decisions."""

    user_name: str = Field(min_length=1)
    sys_id: str = ""


class WebhookSettings(_Model):
    """Signed notifications sent by a business rule on the instance (see ``webhook_setup``)."""

    secret_env: str
    signature_header: str = "X-SN-Webhook-Signature"
    timestamp_header: str = "X-SN-Webhook-Timestamp"
    max_age_seconds: SignatureAge = Field(
        default=300.0, description="refuse deliveries signed longer ago than this (0: no limit)"
    )
    secret_property: str = Field(
        default="x_approval_connector.webhook_secret",
        description="system property on the instance that holds the same secret (named in the script)",
    )

    @field_validator("secret_env")
    @classmethod
    def _env(cls, value: str) -> str | None:
        return _env_name(value)


class Timeouts(_Model):
    connect: ConnectTimeout = 10.0
    read: ReadTimeout = Field(default=75.0, description="the instance cancels Table API calls after 60 s")


class ServiceNowSystemSettings(SystemSettings):
    """``systems.<name>`` for ``type: servicenow``."""

    instance_url: str = Field(description="https://<instance>.service-now.com")
    auth: Auth
    service_account: ServiceAccount
    webhook: WebhookSettings | None = None
    timeouts: Timeouts = Field(default_factory=Timeouts)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    page_size: int = Field(default=100, ge=1, le=10000)
    poll_overlap_seconds: PollOverlap = Field(
        default=60.0, description="re-read this much before the cursor (1 s timestamps, late commits)"
    )
    identity_cache_seconds: float = Field(
        default=300.0,
        ge=0,
        le=86400,
        description="how long a looked-up user and their groups are reused (0: always ask)",
    )

    @field_validator("instance_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")


# --- routes --------------------------------------------------------------------------------------

_RESERVED_FIELDS = {"work_notes", "comments", "approval", "sys_id", "number"}


class WindowColumns(_Model):
    """The record's planned start and end (glide_date_time: UTC in the Table API's value mode)."""

    start: str = "start_date"
    end: str = "end_date"

    @field_validator("start", "end")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _FIELD.match(value):
            raise ValueError(f"{value!r} is not a ServiceNow column name")
        return value


class TicketSettings(_Model):
    """What record a request becomes. ``fields`` maps column -> template over the call's
    arguments (``args``), ``tool`` and ``request``; the connector adds the arguments, rationale,
    request id and digest to ``description`` itself, so the approver always sees what runs."""

    table: str = "change_request"
    correlation_field: str = "correlation_id"
    correlation_prefix: str = "agent-action:"
    seal_field: str = Field(
        default="correlation_display",
        description="column the connector writes the ticket seal into at creation (76 characters) "
        "and reads back with every decision; an edit of it is detected and refuses the approval",
    )
    fields: dict[str, str] = Field(default_factory=dict)
    window: WindowColumns | None = Field(
        default=None,
        description="columns with the planned start and end (routes with window: {from: ticket})",
    )
    standard_template: str | None = Field(
        default=None,
        description="sys_id of the standard change template a pre-approved (mode: standard) route's "
        "records are created from, through the Change Management API; without it: a change_request "
        "with type standard through the Table API",
    )

    @field_validator("standard_template")
    @classmethod
    def _sys_id(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[0-9a-f]{32}$", value):
            raise ValueError(f"{value!r} is not a sys_id (32 hexadecimal characters)")
        return value

    @field_validator("table", "correlation_field", "seal_field")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _TABLE.match(value):
            raise ValueError(f"{value!r} is not a ServiceNow table or column name")
        return value

    @field_validator("correlation_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if _QUERY_UNSAFE.search(value) or len(value) > 40:
            raise ValueError("correlation_prefix must be short and contain no ^ , or line breaks")
        return value

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        for name, template in value.items():
            if not _FIELD.match(name):
                raise ValueError(f"{name!r} is not a ServiceNow column name")
            if name in _RESERVED_FIELDS or name.startswith("sys_"):
                raise ValueError(f"{name!r} is written by the connector or the platform, not by a mapping")
            _check_template(name, str(template))
        return {name: str(template) for name, template in value.items()}

    @model_validator(mode="after")
    def _correlation_not_mapped(self) -> TicketSettings:
        if self.correlation_field in self.fields:
            raise ValueError(f"{self.correlation_field!r} carries the request id; do not map it")
        if self.seal_field in self.fields:
            raise ValueError(f"{self.seal_field!r} carries the ticket seal; do not map it")
        if self.seal_field == self.correlation_field:
            raise ValueError("seal_field and correlation_field must be different columns")
        return self


class DecisionSettings(_Model):
    """How a record says "decided". ``source: record`` reads the approval and/or state columns
    (every configured column must agree before a request counts as approved; any of them can
    reject; a value listed nowhere is UNKNOWN, which fails closed). ``source: approvers`` reads
    the record's ``sysapproval_approver`` rows (any rejected row rejects; ``rule`` any|all)."""

    source: Literal["record", "approvers"] = "record"
    approval_field: str | None = "approval"
    approved_values: list[str] = Field(default_factory=lambda: ["approved"])
    rejected_values: list[str] = Field(default_factory=lambda: ["rejected"])
    pending_values: list[str] = Field(default_factory=lambda: ["not requested", "requested"])
    state_field: str = "state"
    approved_states: list[str] = Field(default_factory=list)
    rejected_states: list[str] = Field(default_factory=list)
    pending_states: list[str] = Field(default_factory=list)
    rule: Literal["any", "all"] = "any"
    resolve_groups: bool = Field(
        default=False, description="look up the actor's groups (needed for 'group:' approvers)"
    )
    arguments_field: str | None = Field(
        default=None,
        description="a string column the connector owns (e.g. u_approved_arguments): the proposed "
        "arguments as JSON, which an approver may edit before approving",
    )
    arguments_max_length: int = Field(
        default=4000, ge=100, description="the column's max length: longer proposals are not editable"
    )

    @field_validator("approval_field", "state_field", "arguments_field")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _FIELD.match(value):
            raise ValueError(f"{value!r} is not a ServiceNow column name")
        return value

    @field_validator(
        "approved_values",
        "rejected_values",
        "pending_values",
        "approved_states",
        "rejected_states",
        "pending_states",
    )
    @classmethod
    def _values(cls, value: list[str | int]) -> list[str]:
        out = [str(v) for v in value]  # every Table API value is a string: state -2 is "-2"
        for item in out:
            if _QUERY_UNSAFE.search(item):
                raise ValueError(f"{item!r}: values cannot contain ^ , or line breaks")
        return out

    @model_validator(mode="after")
    def _consistent(self) -> DecisionSettings:
        if self.source == "record":
            if not self.approval_field and not (self.approved_states or self.rejected_states):
                raise ValueError("decide by approval_field, by approved_states/rejected_states, or both")
            if (self.approved_states or self.rejected_states) and not self.pending_states:
                raise ValueError(
                    "pending_states: list the states a waiting record can be in "
                    "(anything unlisted is treated as unknown and fails closed)"
                )
        for a, b in (("approved", "rejected"), ("approved", "pending"), ("rejected", "pending")):
            for kind in ("values", "states"):
                both = set(getattr(self, f"{a}_{kind}")) & set(getattr(self, f"{b}_{kind}"))
                if both:
                    raise ValueError(f"{sorted(both)} listed as both {a} and {b} {kind}")
        return self

    @property
    def uses_approval(self) -> bool:
        return self.source == "record" and bool(self.approval_field)

    @property
    def uses_state(self) -> bool:
        return self.source == "record" and bool(self.approved_states or self.rejected_states)


class Transition(_Model):
    """States to move through, one PATCH each (ServiceNow refuses jumps), then ``fields``
    (e.g. close_code, close_notes; templates over ``text`` and ``kind``) with the last step."""

    path: list[str] = Field(default_factory=list)
    fields: dict[str, str] = Field(default_factory=dict)

    @field_validator("path", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        """State values are strings in the Table API; a number (``-1``) is taken as its string.
        Anything else (null, a mapping, a bare string) is left for the type check to refuse."""
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        for name, template in value.items():
            if not _FIELD.match(name) or name in _RESERVED_FIELDS or name.startswith("sys_"):
                raise ValueError(f"{name!r} cannot be set by an outcome transition")
            _check_template(name, str(template))
        return {name: str(template) for name, template in value.items()}


class OutcomeSettings(_Model):
    """Where outcomes are written (work_notes: internal, comments: customer visible) and how the
    record moves on per outcome kind (only when the report is final)."""

    journal_field: Literal["work_notes", "comments"] = "work_notes"
    state_field: str = "state"
    transitions: dict[ReportKind, Transition] = Field(default_factory=dict)


class EscalationSettings(_Model):
    """Where an escalated record goes: its new assignment group (name or sys_id), and optionally
    an approval group asked to approve as well (a sysapproval_group row: its members are asked)."""

    assignment_group: str | None = None
    approval_group: str | None = None

    @field_validator("assignment_group", "approval_group")
    @classmethod
    def _safe(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or _QUERY_UNSAFE.search(value)):
            raise ValueError(f"{value!r}: a group name or sys_id without ^ , or line breaks")
        return value

    @model_validator(mode="after")
    def _something(self) -> EscalationSettings:
        if not (self.assignment_group or self.approval_group):
            raise ValueError("name an assignment_group, an approval_group, or both")
        return self


class ServiceNowRouteSettings(RouteSettings):
    """``routes[].ticket/decision/outcome`` for a route on a ServiceNow system. ``approvers`` is
    accepted so the core can hand the route's approver list through; a ``group:`` entry there
    turns on group resolution."""

    ticket: TicketSettings = Field(default_factory=TicketSettings)
    decision: DecisionSettings = Field(default_factory=DecisionSettings)
    outcome: OutcomeSettings = Field(default_factory=OutcomeSettings)
    escalation: EscalationSettings | None = None
    approvers: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_decision_field_mapped(self) -> ServiceNowRouteSettings:
        for name in (
            self.decision.approval_field,
            self.decision.state_field if self.decision.uses_state else None,
            self.decision.arguments_field,
        ):
            if name and name in self.ticket.fields:
                raise ValueError(
                    f"ticket.fields.{name}: the decision is read from this column; do not map it"
                )
        column = self.decision.arguments_field
        if column and column in (self.ticket.seal_field, self.ticket.correlation_field):
            raise ValueError(
                f"decision.arguments_field: {column!r} already carries the connector's own value"
            )
        return self

    @property
    def needs_groups(self) -> bool:
        return self.decision.resolve_groups or any(a.startswith("group:") for a in self.approvers)
