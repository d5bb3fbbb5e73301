"""Configuration schema of the Jira adapter, declared as data (Apprise-style). Secrets are named by
environment variable only; values are read through AdapterContext.secret() when the client starts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connector.core.adapter import RouteSettings, SystemSettings
from connector.core.http import ConnectTimeout, ReadTimeout, RetrySettings

DEFAULT_LABEL = "approval-connector"

DEFAULT_SUMMARY = "[approval] {{ tool }} requested by {{ request.agent or 'an agent' }} ({{ request.id }})"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JiraAuth(_Strict):
    """Cloud: e-mail + API token (HTTP basic). Data Center: a personal access token (bearer)."""

    email_env: str | None = Field(default=None, description="variable holding the account e-mail (Cloud)")
    token_env: str | None = Field(default=None, description="variable holding the API token (Cloud)")
    pat_env: str | None = Field(default=None, description="variable holding a PAT (Data Center)")

    @model_validator(mode="after")
    def _one_scheme(self) -> JiraAuth:
        basic = bool(self.email_env or self.token_env)
        if basic and self.pat_env:
            raise ValueError("use either email_env + token_env (Cloud) or pat_env (Data Center), not both")
        if basic and not (self.email_env and self.token_env):
            raise ValueError("email_env and token_env must both be given")
        if not basic and not self.pat_env:
            raise ValueError("name the credentials: email_env + token_env (Cloud) or pat_env (Data Center)")
        return self


class JiraWebhook(_Strict):
    secret_env: str | None = Field(default=None, description="variable holding the webhook HMAC secret")
    events: list[str] = Field(default_factory=lambda: ["jira:issue_updated"])


class JiraTimeouts(_Strict):
    connect: ConnectTimeout = 5.0
    read: ReadTimeout = 30.0


class JiraSystemSettings(SystemSettings):
    url: str = Field(description="base URL, e.g. https://example.atlassian.net")
    deployment: Literal["cloud", "datacenter", "auto"] = "auto"
    auth: JiraAuth
    service_account: str | None = Field(
        default=None, description="accountId (Cloud) or user name (DC) of the connector's account"
    )
    webhook: JiraWebhook = Field(default_factory=JiraWebhook)
    timeouts: JiraTimeouts = Field(default_factory=JiraTimeouts)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    label: str = Field(default=DEFAULT_LABEL, description="label put on every approval issue")
    request_id_field: str | None = Field(
        default=None, description="optional short-text custom field (id or name) that holds the request id"
    )
    page_size: int = Field(default=100, ge=1, le=1000)
    identity_cache_seconds: float = Field(
        default=300.0,
        ge=0,
        le=86400,
        description="how long a resolved person and an approver's groups are reused (0: always ask)",
    )
    create_grace_seconds: float = Field(
        default=300.0,
        ge=1,
        le=3600,
        description="how long a create that may have landed (answer lost, 5xx) blocks creating again, "
        "while the issue may not be searchable yet",
    )
    verify_tls: bool | str = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        if not value or any(c.isspace() for c in value):
            raise ValueError("a Jira label cannot be empty or contain spaces")
        return value


class WindowFields(_Strict):
    """The issue fields holding a change's planned start and end (ids or names). Date-time fields
    carry their offset; a date-only field is a whole day in ``timezone``."""

    start: str
    end: str
    timezone: str | None = Field(default=None, description="IANA zone for date-only fields")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            from connector.core.timing import zone

            zone(value)
        return value


class TicketSettings(_Strict):
    """How the issue is filled. Templates are sandboxed Jinja2 (arguments come from a model)."""

    project: str = Field(description="project key, e.g. OPS")
    issue_type: str = Field(default="Task", description="issue type name or id")
    summary: str = DEFAULT_SUMMARY
    description: str | None = Field(
        default=None,
        description="wiki-markup template; None = built-in text with an escaped argument table. In this "
        "template `args` values are already escaped; `raw_args` are not",
    )
    labels: list[str] = Field(default_factory=list)
    priority: str | None = None
    components: list[str] = Field(default_factory=list)
    assignee: str | None = Field(default=None, description="accountId (Cloud) or user name (DC)")
    reporter: str | None = None
    fields: dict[str, Any] = Field(
        default_factory=dict,
        description="custom fields by id (customfield_10050) or display name; string values are templates",
    )
    window: WindowFields | None = Field(
        default=None, description="fields with the planned start and end (routes with window: {from: ticket})"
    )

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        for label in value:
            if not label or any(c.isspace() for c in label):
                raise ValueError(f"label {label!r} cannot be empty or contain spaces")
        return value


class DecisionSettings(_Strict):
    """Which statuses mean what. Entries are status names (case-insensitive) or numeric ids."""

    mode: Literal["status", "jsm"] = Field(
        default="status", description="status: by workflow status; jsm: by the JSM approval's finalDecision"
    )
    pending: list[str] = Field(default_factory=lambda: ["Awaiting Approval"])
    approved: list[str] = Field(default_factory=lambda: ["Approved"])
    rejected: list[str] = Field(default_factory=lambda: ["Rejected"])
    rejected_categories: list[Literal["new", "indeterminate", "done"]] = Field(
        default_factory=lambda: ["done"],
        description="a status in one of these categories that is not listed as approved counts as rejected",
    )
    fetch_groups: bool = Field(
        default=False, description="read the approver's groups (needed when approvers list 'group:' entries)"
    )
    arguments_field: str | None = Field(
        default=None,
        description="a multi-line text custom field the connector owns (id or name): the proposed "
        "arguments as JSON, which an approver may edit before approving",
    )
    vote_approve: str = Field(
        default="/approve", min_length=2, description="a comment that is an approving vote (quorum routes)"
    )
    vote_reject: str = Field(
        default="/reject", min_length=2, description="a comment that is a rejecting vote (quorum routes)"
    )

    @model_validator(mode="after")
    def _disjoint(self) -> DecisionSettings:
        def norm(values: list[str]) -> set[str]:
            return {v.strip().lower() for v in values}

        if not self.approved:
            raise ValueError("approved: name at least one status")
        if not self.pending:
            raise ValueError("pending: name the status(es) a waiting issue is in")
        for a, b in (("approved", "rejected"), ("approved", "pending"), ("rejected", "pending")):
            both = norm(getattr(self, a)) & norm(getattr(self, b))
            if both:
                raise ValueError(f"{a} and {b} both list {', '.join(sorted(both))}")
        if self.vote_approve.strip().casefold() == self.vote_reject.strip().casefold():
            raise ValueError("vote_approve and vote_reject must be different comments")
        return self


class TransitionSpec(_Strict):
    """A transition by id, transition name or target status name, with fields its screen requires."""

    transition: str
    fields: dict[str, Any] = Field(default_factory=dict)


def _spec(value: Any) -> Any:
    if isinstance(value, str | int):
        return {"transition": str(value)}
    return value


class OutcomeSettings(_Strict):
    on_success: TransitionSpec | None = None
    on_failure: TransitionSpec | None = None
    on_in_doubt: TransitionSpec | None = None
    on_rejection: TransitionSpec | None = None
    on_expiry: TransitionSpec | None = None
    on_unauthorized: TransitionSpec | None = None
    on_shadow: TransitionSpec | None = None
    on_tampered: TransitionSpec | None = None
    on_window_closed: TransitionSpec | None = None
    on_reopen: TransitionSpec | None = Field(
        default=None, description="back to the waiting status when an approval went stale (valid_for)"
    )
    jsm_internal_comment: bool = Field(
        default=False, description="post outcome comments as JSM internal notes (hidden from customers)"
    )

    @field_validator(
        "on_success",
        "on_failure",
        "on_in_doubt",
        "on_rejection",
        "on_expiry",
        "on_unauthorized",
        "on_shadow",
        "on_tampered",
        "on_window_closed",
        "on_reopen",
        mode="before",
    )
    @classmethod
    def _accept_string(cls, value: Any) -> Any:
        return _spec(value)


class EscalationSettings(_Strict):
    """Where an escalated issue goes: its new assignee (accountId on Cloud, user name on DC)."""

    assignee: str = Field(min_length=1)


class JiraRouteSettings(RouteSettings):
    ticket: TicketSettings | None = Field(
        default=None, description="required for routes that open issues (gate, shadow, auto with record)"
    )
    decision: DecisionSettings = Field(default_factory=DecisionSettings)
    outcome: OutcomeSettings = Field(default_factory=OutcomeSettings)
    escalation: EscalationSettings | None = None

    @field_validator("ticket", mode="before")
    @classmethod
    def _empty_ticket(cls, value: Any) -> Any:
        """The core passes ``{}`` for a route without ticket settings."""
        return None if value == {} else value
