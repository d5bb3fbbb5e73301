"""A thin Table API client: one place where HTTP becomes typed errors, retries happen, tokens are
renewed and every call is counted. It knows the Table API envelope, not approvals."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from connector.core.adapter import AdapterContext
from connector.core.errors import AdapterError, AuthError, PermissionDenied, UnavailableError
from connector.core.http import RetryPolicy, error_for_status, error_from_exception, with_retries

from .settings import BasicAuth, OAuthAuth, ServiceNowSystemSettings

log = logging.getLogger(__name__)

_BUSINESS_RULE = re.compile(r"aborted by Business Rule '([^'^]+)")
MAX_PAGES = 1000


@dataclass
class Page:
    """One decoded answer: the ``result`` member and the next page's URL, if any."""

    status: int
    result: Any
    next_url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def error_message(body: Any) -> str:
    """The human part of a ServiceNow error envelope ({"error": {"message", "detail"}})."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            message = str(err.get("message") or "").strip()
            detail = str(err.get("detail") or "").strip()
            return f"{message}: {detail}" if message and detail else message or detail or "no detail"
        if isinstance(err, str):  # OAuth endpoint: {"error": "invalid_grant", "error_description": ...}
            desc = str(body.get("error_description") or "").strip()
            return f"{err}: {desc}" if desc else err
    return "no detail"


def business_rule(body: Any) -> str | None:
    """The business rule named in a 403 abort ('Operation against file ... aborted by Business Rule')."""
    match = _BUSINESS_RULE.search(error_message(body))
    return match.group(1).strip() if match else None


class TokenRefused(AuthError):
    """The OAuth endpoint refused the client or the grant: renewing again will not help."""


class _TokenSource:
    """OAuth 2 tokens from /oauth_token.do, renewed before expiry and once after a 401."""

    def __init__(self, client: ServiceNowClient, auth: OAuthAuth) -> None:
        self.client = client
        self.auth = auth
        self.lock = threading.Lock()
        self.access: str | None = None
        self.refresh: str | None = None
        self.expires_at = 0.0

    def header(self) -> str:
        with self.lock:
            if (
                self.access is None
                or self.client.clock() >= self.expires_at - self.auth.refresh_margin_seconds
            ):
                self._fetch(use_refresh=self.refresh is not None)
            return f"Bearer {self.access}"

    def invalidate(self) -> None:
        with self.lock:
            self.access = None

    def _fetch(self, use_refresh: bool) -> None:
        ctx, where = self.client.context, f"systems.{self.client.system}.auth"
        form = {
            "client_id": ctx.secret(self.auth.client_id_env, f"{where}.client_id_env"),
            "client_secret": ctx.secret(self.auth.client_secret_env, f"{where}.client_secret_env"),
        }
        if use_refresh and self.refresh:
            form.update(grant_type="refresh_token", refresh_token=self.refresh)
        elif self.auth.grant == "password":
            form.update(
                grant_type="password",
                username=ctx.secret(self.auth.user_env, f"{where}.user_env"),
                password=ctx.secret(self.auth.password_env, f"{where}.password_env"),
            )
        else:
            form["grant_type"] = "client_credentials"
        try:
            body = self.client.token_request(self.auth.token_path, form)
        except AuthError:
            if use_refresh:  # refresh token expired or revoked: start again with the grant
                self.refresh = None
                self._fetch(use_refresh=False)
                return
            raise
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise AuthError(
                f"{self.client.system}: the OAuth token answer has no access_token", system=self.client.system
            )
        self.access = str(token)
        self.refresh = str(body["refresh_token"]) if body.get("refresh_token") else self.refresh
        try:
            lifetime = float(body.get("expires_in") or 1800)
        except (TypeError, ValueError):
            lifetime = 1800.0
        self.expires_at = self.client.clock() + lifetime


class ServiceNowClient:
    """requests.Session wrapper for ``/api/now/table``. All values stay strings (as the API sends
    them); reference fields come back as plain sys_ids (``sysparm_exclude_reference_link``)."""

    def __init__(
        self,
        system: str,
        settings: ServiceNowSystemSettings,
        context: AdapterContext,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.system = system
        self.settings = settings
        self.context = context
        self.base = settings.instance_url
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": "application/json"})
        self.sleep = sleep
        self.clock = clock
        self.retry = retry or settings.retry.policy()
        self.timeout = (settings.timeouts.connect, settings.timeouts.read)
        self.tokens = _TokenSource(self, settings.auth) if isinstance(settings.auth, OAuthAuth) else None

    # --- public Table API -------------------------------------------------------------------------
    def list(
        self,
        table: str,
        query: str,
        fields: list[str],
        *,
        limit: int | None = None,
        max_pages: int = MAX_PAGES,
    ) -> list[dict[str, Any]]:
        """Every row matching ``query``, following the Link header's rel="next" (a short page
        does not mean the end: the limit applies before ACLs)."""
        return [
            row for page in self.pages(table, query, fields, limit=limit, max_pages=max_pages) for row in page
        ]

    def pages(
        self,
        table: str,
        query: str,
        fields: list[str],
        *,
        limit: int | None = None,
        max_pages: int = MAX_PAGES,
    ) -> Iterator[list[dict[str, Any]]]:
        params = self._params(fields)
        params.update(sysparm_query=query, sysparm_limit=str(limit or self.settings.page_size))
        url: str | None = f"{self.base}/api/now/table/{table}"
        seen: set[str] = set()
        first = True
        while url and len(seen) < max_pages:
            page = self.call("GET", url, params=params if first else None)
            first = False
            seen.add(url)
            rows = page.result if isinstance(page.result, list) else []
            yield [r for r in rows if isinstance(r, dict)]
            url = page.next_url if page.next_url not in seen else None
            if url and not self._same_instance(url):
                raise AdapterError(f"{self.system}: paging link leaves the instance; refusing to follow it")

    def get(self, table: str, sys_id: str, fields: list[str]) -> dict[str, Any]:
        page = self.call("GET", f"{self.base}/api/now/table/{table}/{sys_id}", params=self._params(fields))
        return self._record(page)

    def create(self, table: str, values: dict[str, str], fields: list[str]) -> dict[str, Any]:
        """POST is not idempotent: only a 429 (nothing happened) is retried here; the caller
        looks the record up by correlation id before trying again."""
        page = self.call(
            "POST",
            f"{self.base}/api/now/table/{table}",
            params=self._params(fields),
            json=values,
            unsafe=True,
        )
        return self._record(page)

    def update(
        self, table: str, sys_id: str, values: dict[str, str], fields: list[str], *, appends: bool = False
    ) -> dict[str, Any]:
        """PATCH. Setting columns is idempotent and retried; a journal entry (``appends``) is not:
        each PATCH appends one, so only a 429 is retried and the caller checks before trying again."""
        page = self.call(
            "PATCH",
            f"{self.base}/api/now/table/{table}/{sys_id}",
            params=self._params(fields),
            json=values,
            unsafe=appends,
        )
        return self._record(page)

    # --- plumbing -----------------------------------------------------------------------------------
    @staticmethod
    def _params(fields: list[str]) -> dict[str, str]:
        return {
            "sysparm_display_value": "false",
            "sysparm_exclude_reference_link": "true",
            "sysparm_fields": ",".join(fields),
        }

    def _record(self, page: Page) -> dict[str, Any]:
        if not isinstance(page.result, dict):
            raise UnavailableError(
                f"{self.system}: expected one record, got {type(page.result).__name__}", system=self.system
            )
        return page.result

    def _same_instance(self, url: str) -> bool:
        return url == self.base or url.startswith(self.base + "/")

    def call(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        unsafe: bool = False,
    ) -> Page:
        """One API call with retries (429 Retry-After, 5xx and timeouts with backoff and jitter)."""
        return with_retries(
            lambda: self._authorized(method, url, params, json),
            self.retry,
            sleep=self.sleep,
            retry_unsafe=not unsafe,
        )

    def _authorized(self, method: str, url: str, params: dict[str, str] | None, json: Any) -> Page:
        try:
            return self._send(method, url, params, json)
        except AuthError as exc:
            if self.tokens is None or exc.status != 401 or isinstance(exc, TokenRefused):
                raise
            self.tokens.invalidate()  # the token may have been revoked or expired early: renew once
            try:
                return self._send(method, url, params, json)
            except TokenRefused:
                raise
            except AuthError as again:
                raise AuthError(
                    f"{self.system}: ServiceNow refused a freshly issued OAuth token (401); check the OAuth "
                    f"application and the user it acts as",
                    system=self.system,
                    status=again.status,
                ) from None

    def _auth(self) -> tuple[dict[str, str], tuple[str, str] | None]:
        auth = self.settings.auth
        if isinstance(auth, BasicAuth):
            where = f"systems.{self.system}.auth"
            user = self.context.secret(auth.user_env, f"{where}.user_env")
            password = self.context.secret(auth.password_env, f"{where}.password_env")
            return {}, (user, password)
        assert self.tokens is not None
        return {"Authorization": self.tokens.header()}, None

    def _send(self, method: str, url: str, params: dict[str, str] | None, json: Any) -> Page:
        headers, basic = self._auth()
        if method != "GET":
            headers["Content-Type"] = "application/json"
        path = url[len(self.base) :] if url.startswith(self.base) else url
        try:
            resp = self.session.request(
                method, url, params=params, json=json, headers=headers, auth=basic, timeout=self.timeout
            )
        except requests.RequestException as exc:
            self.context.count_call(self.system, "timeout" if isinstance(exc, requests.Timeout) else "error")
            log.info("servicenow %s %s failed: %s", method, path.split("?")[0], type(exc).__name__)
            raise error_from_exception(exc, self.system) from None
        self.context.count_call(self.system, str(resp.status_code))
        log.debug("servicenow %s %s -> %s", method, path.split("?")[0], resp.status_code)
        body = self._json(resp)
        if resp.status_code >= 400:
            raise self._error(resp, body)
        if body is None or not isinstance(body, dict) or "result" not in body:
            raise UnavailableError(
                f"{self.system}: answered {resp.status_code} without a JSON result "
                f"(a hibernating developer instance answers with an HTML page)",
                system=self.system,
                status=resp.status_code,
            )
        next_url = (resp.links.get("next") or {}).get("url")
        return Page(resp.status_code, body["result"], next_url, resp.headers)

    @staticmethod
    def _json(resp: requests.Response) -> Any:
        if "json" not in resp.headers.get("Content-Type", "").lower():
            return None
        try:
            return resp.json()
        except ValueError:
            return None

    def _error(self, resp: requests.Response, body: Any) -> AdapterError:
        message = error_message(body)
        if resp.status_code == 401:
            return AuthError(
                f"{self.system}: ServiceNow refused the credentials (401: {message}); check the user and "
                f"secret named in systems.{self.system}.auth",
                system=self.system,
                status=401,
            )
        if resp.status_code == 403:
            rule = business_rule(body)
            if rule:
                return PermissionDenied(
                    f"{self.system}: business rule '{rule}' refused the change (403): {message}",
                    system=self.system,
                    status=403,
                )
        return error_for_status(resp.status_code, message, system=self.system, headers=resp.headers)

    def token_request(self, token_path: str, form: dict[str, str]) -> dict[str, Any]:
        """POST the (form-encoded) token request; the form holds secrets, so it is never logged."""
        url = f"{self.base}{token_path}"

        def once() -> dict[str, Any]:
            try:
                resp = self.session.post(
                    url, data=form, headers={"Accept": "application/json"}, timeout=self.timeout
                )
            except requests.RequestException as exc:
                self.context.count_call(
                    self.system, "timeout" if isinstance(exc, requests.Timeout) else "error"
                )
                raise error_from_exception(exc, self.system) from None
            self.context.count_call(self.system, str(resp.status_code))
            body = self._json(resp)
            if resp.status_code in (400, 401, 403):
                raise TokenRefused(
                    f"{self.system}: OAuth token request refused ({resp.status_code}: {error_message(body)})",
                    system=self.system,
                    status=resp.status_code,
                )
            if resp.status_code >= 400:
                raise error_for_status(
                    resp.status_code, error_message(body), system=self.system, headers=resp.headers
                )
            if not isinstance(body, dict):
                raise UnavailableError(f"{self.system}: OAuth token answer is not JSON", system=self.system)
            return body

        return with_retries(once, self.retry, sleep=self.sleep)

    def close(self) -> None:
        self.session.close()
