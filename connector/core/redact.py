"""The one redactor: every text built from a server's answer (adapter errors), every log record,
and tool errors bound for the audit trail and tickets pass through ``redact``.

It removes the secrets the connector was given (values read by ``AdapterContext.secret``, in plain,
URL-encoded, JSON-escaped and Base64 forms, plus the Base64 of ``user:password`` that basic auth
sends), the values of ``Authorization`` / ``Proxy-Authorization`` / ``Cookie`` / ``Set-Cookie``
headers, bearer and basic tokens, ``key=value`` credentials and credentials in URLs. Once the
first secret is remembered, log records of every logger are redacted as they are created."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_LENGTH = 4  # a shorter value would mask ordinary words wherever it occurs

_HEADER_VALUE = re.compile(
    r"(?i)\b(proxy-authorization|authorization|set-cookie|cookie)([\"']?\s*[:=]\s*)"
    r"(?:([\"'])(?:\\.|(?!\3).)*\3|[^\r\n&]*)"
)
_TOKEN_CHARS = r"[A-Za-z0-9._~+/=-]"
_SCHEME_TOKEN = re.compile(  # a digit or symbol in it: "Basic authentication" is not a token
    rf"(?i)\b(bearer|basic)\s+(?={_TOKEN_CHARS}*[0-9._~+/=-]){_TOKEN_CHARS}{{8,}}"
)
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]*@")
_KEY_VALUE = re.compile(
    r"(?i)\b([\w-]*?(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|x-api-key))"
    r"([\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}<]+)"
)


def _header_value(match: re.Match[str]) -> str:
    quote_char = match.group(3) or ""
    return f"{match.group(1)}{match.group(2)}{quote_char}{MASK}{quote_char}"


def encoded_forms(value: str) -> set[str]:
    """The ways a secret shows up in text: as is, URL-encoded, JSON-escaped and Base64."""
    raw = value.encode("utf-8")
    forms = {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        json.dumps(value)[1:-1],
    }
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode("ascii")
        forms |= {text, text.rstrip("=")}
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


class Redactor:
    """Known secrets plus the patterns above. Thread-safe; the compiled pattern is swapped whole."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: set[str] = set()
        self._known: re.Pattern[str] | None = None
        self._seen: set[str] = set()  # values whose forms are all in _forms already

    def remember(self, *values: str | None) -> None:
        """Values that must never be shown (each in every encoded form). A value seen before
        costs one set look-up: secrets are read again on every webhook and API call."""
        fresh = [value for value in values if value and value not in self._seen]
        if not fresh:
            return
        self._add(form for value in fresh for form in encoded_forms(value))
        with self._lock:
            self._seen.update(fresh)

    def remember_basic(self, user: str, password: str) -> None:
        """The credentials pair of basic auth: its Base64 is not made of the parts' Base64."""
        self.remember(user, password, f"{user}:{password}")

    def _add(self, forms: Iterable[str]) -> None:
        with self._lock:
            new = set(forms) - self._forms
            if not new:
                return
            self._forms |= new
            ordered = sorted(self._forms, key=len, reverse=True)  # longest first: no partial leftovers
            self._known = re.compile("|".join(re.escape(f) for f in ordered))

    def redact(self, text: str) -> str:
        known = self._known
        if known is not None:
            text = known.sub(MASK, text)
        text = _HEADER_VALUE.sub(_header_value, text)
        text = _SCHEME_TOKEN.sub(rf"\1 {MASK}", text)
        text = _URL_CREDENTIALS.sub(rf"\1{MASK}@", text)
        return _KEY_VALUE.sub(rf"\1\2{MASK}", text)


REDACTOR = Redactor()


def redact(text: str | None) -> str | None:
    """``text`` with every secret the process knows of, and every credential-shaped token, masked."""
    if not text:
        return text
    return REDACTOR.redact(text)


def remember_secret(*values: str | None) -> None:
    """Called where secrets are read (``AdapterContext.secret``); turns on log redaction."""
    REDACTOR.remember(*values)
    install_log_redaction()


def remember_basic_auth(user: str, password: str) -> None:
    """Called where basic-auth credentials are assembled (the HTTP transport)."""
    REDACTOR.remember_basic(user, password)
    install_log_redaction()


_install_lock = threading.Lock()
_installed = False


def install_log_redaction() -> None:
    """Redact every log record when it is created (any logger, any handler, pytest's caplog too):
    python-jira and urllib3 log answers and URLs, and a handler added later must not miss it."""
    global _installed
    if _installed:  # every secret read calls this; only the first one installs
        return
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: logging reports it when the record is formatted
        return
    clean = REDACTOR.redact(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and record.exc_info[1] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        clean = REDACTOR.redact(text)
        if clean != text:
            record.exc_text = clean
