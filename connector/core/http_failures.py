"""Why a request got no answer, in words an operator can act on: the instance's URL and a short
fixed phrase (connection refused, host name not found, TLS), never the request's headers."""

from __future__ import annotations

import requests

from connector.core.errors import AdapterError, UnavailableError


def error_from_exception(
    exc: requests.RequestException, system: str, url: str = "", read_timeout: float = 0.0
) -> AdapterError:
    """Timeouts and connection failures are transient; the message names the host (``url``, the
    instance's base URL) and why it could not be reached, never the request's headers (secrets).
    A read timeout (``read_timeout`` seconds: the request was sent, no answer came in time) may
    still land: the error's ``settle`` says to look for it no sooner than that much later."""
    if isinstance(exc, requests.ConnectTimeout) or (
        isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout)
    ):
        why = (
            "no answer to connect (timed out)"
            if isinstance(exc, requests.Timeout)
            else unreachable_reason(exc)
        )
        before = isinstance(exc, requests.Timeout) or why in _BEFORE_CONNECTING
        target = ("cannot reach " if before else "connection to ") + (url or "the instance")
        return UnavailableError(f"{system}: {target}{'' if before else ' failed'}: {why}", system=system)
    if isinstance(exc, requests.Timeout):
        error = UnavailableError(f"{system}: timed out: {type(exc).__name__}", system=system)
        error.settle = read_timeout  # a server that held it that long may take as long again
        return error
    return UnavailableError(f"{system}: request failed: {type(exc).__name__}", system=system)


_REASONS = (  # what the socket layer says -> a few words for the operator
    ("connection refused", "connection refused"),
    ("name or service not known", "host name not found"),
    ("nodename nor servname", "host name not found"),
    ("temporary failure in name resolution", "host name not found"),
    ("getaddrinfo failed", "host name not found"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("certificate verify failed", "TLS certificate not trusted"),
    ("ssl", "TLS handshake failed"),
    ("connection reset", "connection reset"),
    ("remotedisconnected", "closed the connection without answering"),
)


_BEFORE_CONNECTING = {
    "connection refused",
    "host name not found",
    "no route to host",
    "network unreachable",
    "TLS certificate not trusted",
    "TLS handshake failed",
}


def unreachable_reason(exc: BaseException) -> str:
    """A short, fixed phrase for a connection failure (matched on the exception's own text, which
    holds no secret; the phrase is ours, so nothing of the text is echoed)."""
    text = f"{type(exc).__name__} {exc}".lower()
    for needle, phrase in _REASONS:
        if needle in text:
            return phrase
    return type(exc).__name__
