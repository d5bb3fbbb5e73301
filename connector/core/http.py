"""One HTTP failure vocabulary for every adapter (Sentry-style): status codes become typed errors,
429/5xx/timeouts are retried with backoff and jitter, Retry-After is honoured in either form."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

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

T = TypeVar("T")


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
    headers = headers or {}
    if status == 401:
        return AuthError(f"{system}: authentication failed (401): {message}", system=system, status=status)
    if status == 403:
        return PermissionDenied(f"{system}: forbidden (403): {message}", system=system, status=status)
    if status == 404:
        return NotFoundError(f"{system}: not found (404): {message}", system=system, status=status)
    if status == 409:
        return ConflictError(f"{system}: conflict (409): {message}", system=system, status=status)
    if status == 429:
        retry_after = parse_retry_after(_header(headers, "Retry-After"))
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


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def error_from_exception(exc: requests.RequestException, system: str) -> AdapterError:
    """Timeouts and connection failures are transient; never echo request headers (secrets)."""
    if isinstance(exc, requests.Timeout):
        return UnavailableError(f"{system}: timed out: {type(exc).__name__}", system=system)
    if isinstance(exc, requests.ConnectionError):
        return UnavailableError(f"{system}: connection failed: {type(exc).__name__}", system=system)
    return UnavailableError(f"{system}: request failed: {type(exc).__name__}", system=system)


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
