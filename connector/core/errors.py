"""Typed errors: user mistakes print one line, adapter faults say whether a retry can help."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class for every error the connector raises on purpose."""


class UserError(ConnectorError):
    """A mistake the user can fix (bad config, unknown id, bad argument): one clear line, no traceback."""


class ConfigError(UserError):
    """The configuration file is missing or invalid; the message names the key path and line."""


class StoreUnavailable(ConfigError):
    """The store's database cannot be reached (down, refused, unreachable host): a system failure
    rather than a typo, though the URL in the config is where to look first."""


class NotFoundInStore(UserError):
    """An id given on the command line matches no stored request."""


class OutcomeUnknown(ConnectorError):
    """Raised by a tool that was started but cannot tell whether it took effect (its request was
    sent, then the answer timed out or the connection dropped). The request becomes IN_DOUBT, not
    FAILED: "failed" would invite a re-run that may do the thing twice. A human settles it with
    ``approval-connector requests resolve``."""


class StateConflict(ConnectorError):
    """A state change lost a race or was asked from the wrong state; nothing was changed."""


class AdapterError(ConnectorError):
    """A ticketing system call failed. ``transient`` tells the caller whether retrying can help."""

    transient: bool = False

    def __init__(self, message: str, *, system: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.system = system
        self.status = status


class AuthError(AdapterError):
    """401/403 on credentials: the account or token is wrong, retrying will not help."""


class PermissionDenied(AdapterError):
    """403 on an operation: the account lacks a permission or a business rule refused it."""


class NotFoundError(AdapterError):
    """404: project, table, record or issue does not exist (or is invisible to the account)."""


class ConflictError(AdapterError):
    """409 or an invalid workflow step: the ticket is not in a state that allows the change."""


class BadRequestError(AdapterError):
    """400: the system refused the body (unknown field, invalid value); the message says which."""


class RateLimitedError(AdapterError):
    """429: retry after ``retry_after`` seconds."""

    transient = True

    def __init__(
        self, message: str, *, retry_after: float | None = None, system: str = "", status: int = 429
    ) -> None:
        super().__init__(message, system=system, status=status)
        self.retry_after = retry_after


class UnavailableError(AdapterError):
    """5xx, timeout or connection failure: the system may come back; retry with backoff.
    ``settle``: the request was sent and its answer timed out, so it may still be under way and
    land later; a retry that first looks for what it did waits at least this long, or it would
    find nothing yet and do it a second time."""

    transient = True
    settle: float = 0.0


class AmbiguousCreate(UnavailableError):
    """A create whose answer was lost: the ticket may exist without being findable yet (search
    index lag). The core records when this first happened, for every replica, and creates again
    only after the adapter's ``create_grace`` if a look-up still finds nothing."""


class WebhookRejected(ConnectorError):
    """A webhook delivery failed verification or could not be parsed; ``status`` is the HTTP answer."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
