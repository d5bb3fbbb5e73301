"""The redactor as a table: each form a secret takes in text, credential headers, tokens, URLs;
text without secrets comes out unchanged."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from urllib.parse import quote, quote_plus

import pytest

from connector.core.redact import Redactor, redact, remember_secret

SECRET = 'p@ss/w:rd+1"\\x'
USER = "bot@example.com"
b64 = base64.b64encode
pair = b64(f"{USER}:{SECRET}".encode()).decode()


@pytest.fixture
def redactor() -> Redactor:
    r = Redactor()
    r.remember_basic(USER, SECRET)
    r.remember("abcd1234", "abcd1234xyz", "abc")  # a prefix of another secret; one too short to mask
    return r


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"token is {SECRET} here", "token is *** here"),
        (f"q=1&p={quote(SECRET, safe='')}", "q=1&p=***"),
        (f"form: pw={quote_plus(SECRET)}", "form: pw=***"),
        (f"json: {json.dumps(SECRET)}", 'json: "***"'),
        (f"b64 {b64(SECRET.encode()).decode()}", "b64 ***"),
        (f"b64url {base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip('=')}", "b64url ***"),
        (f"sent {pair} as basic", "sent *** as basic"),
        (f"user {USER} made it", "user *** made it"),
        ("abcd1234xyz and abcd1234", "*** and ***"),
        (
            "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\nAccept: */*",
            "Authorization: ***\r\nAccept: */*",
        ),
        ("Proxy-Authorization: Bearer abc.def.ghi", "Proxy-Authorization: ***"),
        ('{"Cookie": "JSESSIONID=9f8e7d; atl.xsrf=1", "Accept": "x"}', '{"Cookie": "***", "Accept": "x"}'),
        ("{'set-cookie': 'glide_session_store=ABC123; Path=/'}", "{'set-cookie': '***'}"),
        ("Set-Cookie: BIGipServer=12.34; HttpOnly", "Set-Cookie: ***"),
        ("failed with bearer eyJhbGciOiJIUzI1NiJ9.e30.sig0 today", "failed with bearer *** today"),
        ("header was basic dXNlcjpwYXNzd29yZA==", "header was basic ***"),
        ("GET https://svc:hunter2@sn.example.com/api", "GET https://***@sn.example.com/api"),
        ("password=hunter22&user=x", "password=***&user=x"),
        ('{"client_secret": "c5", "access_token": "t-1", "refresh_token": "r-2"}', None),
        ("?api_key=k123&x=1", "?api_key=***&x=1"),
    ],
)
def test_secret_forms_are_masked(redactor: Redactor, text: str, expected: str | None) -> None:
    clean = redactor.redact(text)
    if expected is not None:
        assert clean == expected
    for leaked in (SECRET, USER, pair, "hunter2", "JSESSIONID=9f8e7d", "c5", "t-1", "r-2"):
        assert leaked not in clean


@pytest.mark.parametrize(
    "text",
    [
        "jira: authentication failed (401): Client must be authenticated to access this resource.",
        "Basic authentication is refused; Bearer token expired",
        "issue OPS-42 moved to Done by 5b10a2844c20165700ede21a",
        "https://example.atlassian.net/rest/api/2/search/jql?maxResults=50",
        "systems.jira.auth.token_env: environment variable JIRA_API_TOKEN is not set",
        "webhook secret not configured",
        "the cookie jar is empty; abc is too short to be a secret",
        "",
    ],
)
def test_text_without_secrets_is_unchanged(redactor: Redactor, text: str) -> None:
    assert redactor.redact(text) == text


def test_none_passes_through() -> None:
    assert redact(None) is None


def test_remembered_secret_is_masked_in_every_log_record(caplog: pytest.LogCaptureFixture) -> None:
    secret = f"tok-{uuid.uuid4().hex}"
    remember_secret(secret)
    log = logging.getLogger("some.library")
    with caplog.at_level(logging.DEBUG):
        log.debug("answer body: %s", {"echo": secret})
        try:
            raise RuntimeError(f"boom with {secret}")
        except RuntimeError:
            log.exception("failed")
    assert secret not in caplog.text and "***" in caplog.text
    assert "RuntimeError: boom with ***" in caplog.text


def test_a_secret_read_again_is_not_encoded_again(monkeypatch: pytest.MonkeyPatch):
    """Secrets are read on every webhook and API call: only the first read builds their forms."""
    import connector.core.redact as redact_module

    r = Redactor()
    calls: list[str] = []
    real = redact_module.encoded_forms
    monkeypatch.setattr(redact_module, "encoded_forms", lambda v: calls.append(v) or real(v))
    r.remember("webhook-secret-1")
    r.remember_basic(USER, SECRET)
    first = len(calls)
    for _ in range(3):
        r.remember("webhook-secret-1")
        r.remember_basic(USER, SECRET)
    assert len(calls) == first == 4  # the secret, the user, the password, the pair: once each
    assert r.redact(f"x webhook-secret-1 {pair}") == "x *** ***"
    r.remember("webhook-secret-2")  # a new value is still added
    assert r.redact("webhook-secret-2") == "***"
