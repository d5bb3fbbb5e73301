"""The one HTTP transport every adapter sends through (the Sentry ``ApiClient`` habit): a client
subclass declares URL templates and one-line methods per endpoint; ``ApiClient._request`` does
auth, timeouts, Retry-After, retries where safe, error translation to the typed errors (with the
server's text redacted) and API-call counting, once for every system."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote

import requests
from pydantic import BaseModel, ConfigDict, Field

from connector.core.durations import seconds_between
from connector.core.errors import (
    AdapterError,
    AuthError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    RateLimitedError,
    UnavailableError,
)
from connector.core.http_failures import error_from_exception  # noqa: F401 - re-exported
from connector.core.redact import redact, remember_basic_auth

if TYPE_CHECKING:
    from connector.core.adapter import AdapterContext

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_MESSAGE = 500  # characters of a server's error text kept in an error message
_SCAN_LIMIT = 65536  # characters of an answer scanned for that text


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Case-insensitive header look-up (HTTP header names are case-insensitive)."""
    if not headers:
        return None
    wanted = name.lower()
    found = headers.get(wanted)  # the usual case: names already lower-case (ASGI, the intake)
    if found is not None:
        return found
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date, any length."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def error_for_status(
    status: int,
    message: str,
    *,
    system: str,
    headers: Mapping[str, str] | None = None,
) -> AdapterError:
    """Map an HTTP status to the typed error the service understands."""
    if status == 401:
        return AuthError(f"{system}: authentication failed (401): {message}", system=system, status=status)
    if status == 403:
        return PermissionDenied(f"{system}: forbidden (403): {message}", system=system, status=status)
    if status == 404:
        return NotFoundError(f"{system}: not found (404): {message}", system=system, status=status)
    if status == 409:
        return ConflictError(f"{system}: conflict (409): {message}", system=system, status=status)
    if status == 429:
        retry_after = parse_retry_after(header(headers, "Retry-After"))
        return RateLimitedError(
            f"{system}: rate limited (429){_after(retry_after)}: {message}",
            retry_after=retry_after,
            system=system,
        )
    if status >= 500 or status == 408:
        return UnavailableError(f"{system}: unavailable ({status}): {message}", system=system, status=status)
    if status in (400, 422):
        text = f"{system}: request refused ({status}): {message}"
        return BadRequestError(text, system=system, status=status)
    return AdapterError(f"{system}: unexpected HTTP {status}: {message}", system=system, status=status)


def _after(retry_after: float | None) -> str:
    return f", retry after {retry_after:.0f}s" if retry_after is not None else ""


def exception_outcome(exc: requests.RequestException) -> str:
    """The API-call counter's outcome for a request that got no answer."""
    return "timeout" if isinstance(exc, requests.Timeout) else "error"


@dataclass(frozen=True)
class RetryPolicy:
    """Retries inside one call. A Retry-After longer than ``max_inline_wait`` is not slept on:
    the error goes up so the caller can reschedule the work durably (outbox, next poll)."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_inline_wait: float = 15.0

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to sleep before attempt ``attempt + 1``, or None to give up now."""
        if attempt + 1 >= self.attempts:
            return None
        if retry_after is not None:
            if retry_after > self.max_inline_wait:
                return None
            return retry_after + random.uniform(0, self.base_delay)
        backoff = min(self.max_delay, self.base_delay * (2**attempt))
        return random.uniform(backoff / 2, backoff)  # jitter: spread retrying replicas apart

    def longest_sleeps(self) -> float:
        """The most ``delay`` can add up to over one call: each sleep is a backoff or an inline
        Retry-After wait (plus its jitter), whichever is longer."""
        inline = self.max_inline_wait + self.base_delay
        return sum(
            max(min(self.max_delay, self.base_delay * (2**attempt)), inline)
            for attempt in range(self.attempts - 1)
        )


NO_RETRY = RetryPolicy(attempts=1)


# Timeouts of one HTTP call, in seconds (``timeouts: {connect: 5, read: 30}``).
ConnectTimeout = seconds_between("10ms", "5m")
ReadTimeout = seconds_between("10ms", "10m")
_Backoff = seconds_between("0s", "1m")
_LongWait = seconds_between("0s", "5m")


class RetrySettings(BaseModel):
    """The ``retry:`` block of a system's settings (same keys for every HTTP adapter)."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(default=4, ge=1, le=20)
    base_delay: _Backoff = 0.5
    max_delay: _LongWait = 8.0
    max_inline_wait: _LongWait = 15.0

    def policy(self) -> RetryPolicy:
        return RetryPolicy(self.attempts, self.base_delay, self.max_delay, self.max_inline_wait)


def with_retries(
    call: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Any] = time.sleep,
    retry_unsafe: bool = True,
) -> T:
    """Run ``call``; retry transient AdapterErrors per ``policy``. With ``retry_unsafe`` False
    (a non-idempotent POST) only errors that prove nothing happened (429) are retried."""
    attempt = 0
    while True:
        try:
            return call()
        except AdapterError as exc:
            if not exc.transient:
                raise
            if not retry_unsafe and not isinstance(exc, RateLimitedError):
                raise
            wait = policy.delay(attempt, getattr(exc, "retry_after", None))
            if wait is None:
                raise
            sleep(wait)
            attempt += 1


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, decoded JSON body (None when not JSON or empty), headers and the
    Link header's rel="next" URL."""

    status: int
    body: Any
    text: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    next_url: str | None = None


class HttpSettings(Protocol):
    """What every HTTP adapter's system settings carry: ``timeouts`` (connect and read seconds)
    and the ``retry`` block."""

    timeouts: Any
    retry: RetrySettings


Check = Callable[[Answer], None]
Refusal = Callable[[Answer, str], "AdapterError | None"]
_METHODS_SAFE_TO_REPEAT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class ApiClient:
    """Base of every adapter's HTTP client. Subclasses set URL templates as class constants and
    give one short method per endpoint (``return self.get(self.path(self.ISSUE, key=key))``);
    they override ``credentials`` and, where their system needs it, ``error_message``,
    ``error_for`` and ``renew_credentials``. Nothing else in an adapter sends HTTP."""

    def __init__(
        self,
        system: str,
        base_url: str,
        context: AdapterContext,
        settings: HttpSettings,
        *,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], Any] = time.sleep,
        verify: bool | str = True,
    ) -> None:
        self.system = system
        self.base_url = base_url.rstrip("/")
        self.context = context
        self.timeouts = (float(settings.timeouts.connect), float(settings.timeouts.read))
        self.retry = retry or settings.retry.policy()
        self.sleep = sleep
        self.session = session or requests.Session()
        # no-cache: a decision read through a caching proxy could be stale
        self.session.headers.update({"Accept": "application/json", "Cache-Control": "no-cache"})
        self.session.verify = verify

    # --- what a system's client provides ------------------------------------------------------------
    def credentials(self) -> tuple[dict[str, str], Any]:
        """Headers and ``requests`` auth for one request (read per request: tokens expire)."""
        return {}, None

    def renew_credentials(self, refused: AuthError) -> bool:
        """After a 401: drop cached credentials and return True to send once more with new ones."""
        return False

    def refused_after_renewal(self, refused: AuthError) -> AdapterError:
        """The error for a 401 on freshly renewed credentials."""
        return refused

    def error_message(self, body: Any, text: str) -> str:
        """The human part of an error answer (override for a system's error envelope)."""
        if isinstance(body, dict):
            for key in ("message", "error_description", "error", "detail"):
                if isinstance(body.get(key), str) and body[key].strip():
                    return body[key].strip()
        return " ".join(text.split()) or "no details"

    def error_for(self, answer: Answer, message: str) -> AdapterError:
        """The typed error for an error answer; ``message`` is already redacted."""
        return error_for_status(answer.status, message, system=self.system, headers=answer.headers)

    # --- helpers for subclasses ---------------------------------------------------------------------
    def basic_auth(self, user: str, password: str) -> tuple[str, str]:
        """A basic-auth pair; the redactor learns the Base64 ``user:password`` it becomes."""
        remember_basic_auth(user, password)
        return user, password

    @staticmethod
    def path(template: str, **values: Any) -> str:
        """Fill a URL template, each value percent-encoded (an id cannot add path segments)."""
        return template.format(**{k: quote(str(v), safe="") for k, v in values.items()})

    def redacted_message(self, answer: Answer) -> str:
        """``error_message`` of an answer with every secret removed, cut to MAX_MESSAGE."""
        text = redact(self.error_message(answer.body, answer.text[:_SCAN_LIMIT])) or "no details"
        return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"

    def call_budget(self) -> float:
        """Seconds one call can take at worst: every attempt's requests timing out on connect and
        read, plus the longest sleeps between attempts (see ``requests_per_attempt``)."""
        connect, read = self.timeouts
        per_attempt = self.requests_per_attempt() * (connect + read)
        return self.retry.attempts * per_attempt + self.retry.longest_sleeps()

    def requests_per_attempt(self) -> int:
        """HTTP requests one attempt can send (more with token renewal)."""
        return 1

    # --- verbs --------------------------------------------------------------------------------------
    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        return self._request("GET", path, params=params).body

    def post(
        self,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool = False,
    ) -> Any:
        """``idempotent`` True for POSTs that only read (searches): they may be repeated."""
        return self._request("POST", path, json=json, params=params, idempotent=idempotent).body

    # --- the one request ----------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        authorized: bool = True,
        retry: RetryPolicy | None = None,
        check: Check | None = None,
        refusal: Refusal | None = None,
    ) -> Answer:
        """Send with retries. Idempotent calls are retried on 429, 5xx and timeouts; the others
        (a create, a comment, a journal entry) only on 429, which proves nothing happened.
        ``check`` vets a 2xx answer inside the retry loop (default ``expect_json``); ``refusal``
        maps an error answer before ``error_for`` does (None to fall through)."""
        method = method.upper()
        url = self._url(path)
        if idempotent is None:
            idempotent = method in _METHODS_SAFE_TO_REPEAT

        def attempt() -> Answer:
            try:
                return self._send(method, url, params, json, data, authorized, check, refusal)
            except AuthError as exc:
                if not authorized or exc.status != 401 or not self.renew_credentials(exc):
                    raise
            try:
                return self._send(method, url, params, json, data, authorized, check, refusal)
            except AuthError as again:
                if again.status != 401:
                    raise
                raise self.refused_after_renewal(again) from None

        return with_retries(attempt, retry or self.retry, sleep=self.sleep, retry_unsafe=idempotent)

    def _url(self, path: str) -> str:
        if "://" not in path:
            return self.base_url + path
        if path == self.base_url or path.startswith(self.base_url + "/"):
            return path
        raise AdapterError(
            f"{self.system}: a link leaves the instance; refusing to follow it", system=self.system
        )

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Mapping[str, str] | None,
        authorized: bool,
        check: Check | None,
        refusal: Refusal | None,
    ) -> Answer:
        headers, auth = self.credentials() if authorized else ({}, None)
        where = url[len(self.base_url) :].split("?")[0] or "/"
        try:
            resp = self.session.request(
                method,
                url,
                params=params,
                json=json,
                data=data,
                headers=headers,
                auth=auth,
                timeout=self.timeouts,
            )
        except requests.RequestException as exc:
            self.context.count_call(self.system, exception_outcome(exc))
            log.info("%s %s %s failed: %s", self.system, method, where, type(exc).__name__)
            raise error_from_exception(exc, self.system, self.base_url, self.timeouts[1]) from None
        self.context.count_call(self.system, str(resp.status_code))
        log.debug("%s %s %s -> %s", self.system, method, where, resp.status_code)
        answer = Answer(resp.status_code, _json(resp), resp.text, resp.headers, _next_link(resp))
        if answer.status >= 400:
            message = self.redacted_message(answer)
            raise (refusal and refusal(answer, message)) or self.error_for(answer, message)
        (check or self.expect_json)(answer)
        return answer

    def expect_json(self, answer: Answer) -> None:
        """A 2xx answer is JSON or empty: a login page or a proxy's HTML page is not "no results"."""
        if answer.body is None and answer.text.strip():
            raise UnavailableError(
                f"{self.system}: answered {answer.status} with a body that is not JSON "
                "(a login page or a proxy in the way?)",
                system=self.system,
                status=answer.status,
            )


def _json(resp: requests.Response) -> Any:
    """The JSON body, whatever the Content-Type says (mislabelled answers exist); else None."""
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return None


def _next_link(resp: requests.Response) -> str | None:
    return (resp.links.get("next") or {}).get("url")
