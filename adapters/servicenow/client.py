"""The Table API client: URL templates and one method per endpoint on the connector's one HTTP
transport (connector.core.http), plus what is ServiceNow's own: the ``result`` envelope, error
envelopes and business-rule refusals, OAuth tokens renewed once after a 401, Link-header paging."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import requests

from connector.core.adapter import AdapterContext
from connector.core.errors import AdapterError, AuthError, PermissionDenied, UnavailableError
from connector.core.http import NO_RETRY, Answer, ApiClient, RetryPolicy

from .settings import BasicAuth, OAuthAuth, ServiceNowSystemSettings

log = logging.getLogger(__name__)

_BUSINESS_RULE = re.compile(r"aborted by Business Rule '([^'^]+)")
MAX_PAGES = 1000


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


def business_rule(message: str) -> str | None:
    """The business rule named in a 403 abort ('Operation against file ... aborted by Business Rule')."""
    match = _BUSINESS_RULE.search(message)
    return match.group(1).strip() if match else None


class TokenRefused(AuthError):
    """The OAuth endpoint refused the client or the grant: renewing again will not help."""


class _TokenSource:
    """OAuth 2 tokens from /oauth_token.do, renewed before expiry and once after a 401. A token
    request is one attempt: it runs inside an attempt of the call that needs it, which retries."""

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
            body = self.client.token(self.auth.token_path, form)
        except AuthError:
            if use_refresh:  # refresh token expired or revoked: start again with the grant
                self.refresh = None
                self._fetch(use_refresh=False)
                return
            raise
        token = body.get("access_token")
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


class ServiceNowClient(ApiClient):
    """``/api/now/table``. All values stay strings (as the API sends them); reference fields come
    back as plain sys_ids (``sysparm_exclude_reference_link``)."""

    TABLE = "/api/now/table/{table}"
    RECORD = "/api/now/table/{table}/{sys_id}"
    BATCH = "/api/now/v1/batch"  # only the versioned URL is a resource
    STANDARD_CHANGE = "/api/sn_chg_rest/change/standard/{template_id}"
    STANDARD_TEMPLATE = "/api/sn_chg_rest/change/standard/template/{template_id}"

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
        super().__init__(
            system, settings.instance_url, context, settings, retry=retry, session=session, sleep=sleep
        )
        self.settings = settings
        self.clock = clock
        self.tokens = _TokenSource(self, settings.auth) if isinstance(settings.auth, OAuthAuth) else None
        self.batch_refused: str | None = None  # why the instance refused the Batch API, once it did

    # --- endpoints ----------------------------------------------------------------------------------
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
        params = {
            **_params(fields),
            "sysparm_query": query,
            "sysparm_limit": str(limit or self.settings.page_size),
        }
        url: str | None = self.path(self.TABLE, table=table)
        seen: set[str] = set()
        while url and len(seen) < max_pages:
            page = self._table("GET", url, params=params if not seen else None)
            seen.add(url)
            rows = page.body["result"] if isinstance(page.body["result"], list) else []
            yield [r for r in rows if isinstance(r, dict)]
            url = page.next_url if page.next_url not in seen else None

    def record_path(self, table: str, sys_id: str) -> str:
        return self.path(self.RECORD, table=table, sys_id=sys_id)

    def table_path(self, table: str) -> str:
        return self.path(self.TABLE, table=table)

    def read_params(
        self, fields: list[str], query: str | None = None, limit: int | None = None
    ) -> dict[str, str]:
        """The parameters ``read`` (no query) and a first ``list`` page (with one) send."""
        params = _params(fields)
        if query is not None:
            params |= {"sysparm_query": query, "sysparm_limit": str(limit or self.settings.page_size)}
        return params

    def batch_get(
        self, items: Mapping[str, tuple[str, dict[str, str]]]
    ) -> dict[str, Answer | AdapterError] | None:
        """Several Table API GETs (id -> (path, params)) in one Batch API call, each answer (or
        its typed error) by id; the instance runs each item with the caller's ACLs. Reads only,
        so the whole batch is retried when any item failed transiently. None when the instance
        refuses the Batch API itself (a REST API access policy, an old release): the caller
        then sends the GETs one by one, as it does from then on."""
        if self.batch_refused is not None:
            return None
        body = {
            "batch_request_id": uuid.uuid4().hex,
            "rest_requests": [
                {
                    "id": item_id,
                    "method": "GET",
                    "url": f"{path}?{urlencode(params, quote_via=quote)}",
                    "headers": [{"name": "Accept", "value": "application/json"}],
                    "exclude_response_headers": True,
                }
                for item_id, (path, params) in items.items()
            ],
        }
        found: dict[str, Answer | AdapterError] = {}

        def check(answer: Answer) -> None:
            found.clear()
            found.update(self._batch_items(answer, list(items)))

        try:
            self._request("POST", self.BATCH, json=body, idempotent=True, check=check)
        except AdapterError as exc:
            if exc.transient or isinstance(exc, AuthError):
                raise
            self.batch_refused = str(exc)
            log.warning("%s: the Batch API is refused (%s); reading one call at a time", self.system, exc)
            return None
        return found

    def _batch_items(self, answer: Answer, wanted: list[str]) -> dict[str, Answer | AdapterError]:
        """Each item's answer; a transient item failure (or an item left unserviced) raises, so
        the retry loop sends the batch again."""
        served = answer.body.get("serviced_requests") if isinstance(answer.body, dict) else None
        if not isinstance(served, list):
            raise UnavailableError(
                f"{self.system}: the Batch API answered {answer.status} without serviced_requests",
                system=self.system,
                status=answer.status,
            )
        out: dict[str, Answer | AdapterError] = {}
        for entry in served:
            if not isinstance(entry, dict) or entry.get("id") not in wanted:
                continue
            try:
                text = base64.b64decode(str(entry.get("body") or ""), validate=True).decode("utf-8")
                status = int(entry.get("status_code") or 0)
            except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
                text, status = "", 0
            try:
                parsed = json.loads(text) if text else None
            except ValueError:
                parsed = None
            item = Answer(status, parsed, text)
            if not 200 <= status < 300:
                error = self.error_for(item, self.redacted_message(item)) if status else None
                if error is None or error.transient:
                    raise error or UnavailableError(
                        f"{self.system}: a Batch API item came back unreadable", system=self.system
                    )
                out[str(entry["id"])] = error
                continue
            self._table_answer(item)
            out[str(entry["id"])] = item
        missing = [i for i in wanted if i not in out]
        if missing:
            raise UnavailableError(
                f"{self.system}: the Batch API left {', '.join(missing)} unserviced", system=self.system
            )
        return out

    def read(self, table: str, sys_id: str, fields: list[str]) -> dict[str, Any]:
        path = self.path(self.RECORD, table=table, sys_id=sys_id)
        return self._record(self._table("GET", path, _params(fields)))

    def create(self, table: str, values: dict[str, str], fields: list[str]) -> dict[str, Any]:
        """POST is not idempotent: only a 429 (nothing happened) is retried here; the caller
        looks the record up by correlation id before trying again."""
        return self._record(self._table("POST", self.path(self.TABLE, table=table), _params(fields), values))

    def create_standard(self, template: str, values: dict[str, str]) -> dict[str, Any]:
        """POST a standard change from its template (Change Management API: 200, every field as
        {"value", "display_value"}). Not idempotent, like any create: only a 429 is retried."""
        path = self.path(self.STANDARD_CHANGE, template_id=template)
        return self._record(self._table("POST", path, None, values))

    def standard_template(self, template: str) -> dict[str, Any]:
        return self._record(self._table("GET", self.path(self.STANDARD_TEMPLATE, template_id=template), None))

    def update(
        self, table: str, sys_id: str, values: dict[str, str], fields: list[str], *, appends: bool = False
    ) -> dict[str, Any]:
        """PATCH. Setting columns is idempotent and retried; a journal entry (``appends``) is not:
        each PATCH appends one, so only a 429 is retried and the caller checks before trying again."""
        path = self.path(self.RECORD, table=table, sys_id=sys_id)
        return self._record(self._table("PATCH", path, _params(fields), values, idempotent=not appends))

    def token(self, token_path: str, form: dict[str, str]) -> dict[str, Any]:
        """POST the (form-encoded) token request: one attempt, no credentials; never logged."""
        answer = self._request(
            "POST",
            token_path,
            data=form,
            authorized=False,
            retry=NO_RETRY,
            check=self._token_answer,
            refusal=self._token_refused,
        )
        return answer.body

    # --- ServiceNow's own rules ---------------------------------------------------------------------
    def _table(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        values: dict[str, str] | None = None,
        *,
        idempotent: bool | None = None,
    ) -> Answer:
        return self._request(
            method,
            path,
            params=params,
            json=values,
            idempotent=False if method == "POST" else idempotent,
            check=self._table_answer,
        )

    def _table_answer(self, answer: Answer) -> None:
        if not isinstance(answer.body, dict) or "result" not in answer.body:
            raise UnavailableError(
                f"{self.system}: answered {answer.status} without a JSON result "
                f"(a hibernating developer instance answers with an HTML page)",
                system=self.system,
                status=answer.status,
            )

    def _token_answer(self, answer: Answer) -> None:
        if not isinstance(answer.body, dict):
            raise UnavailableError(f"{self.system}: OAuth token answer is not JSON", system=self.system)

    def _token_refused(self, answer: Answer, message: str) -> AdapterError | None:
        if answer.status not in (400, 401, 403):
            return None
        return TokenRefused(
            f"{self.system}: OAuth token request refused ({answer.status}: {message})",
            system=self.system,
            status=answer.status,
        )

    def record_of(self, answer: Answer) -> dict[str, Any]:
        """The one record an answer carries (a Batch API item's, say)."""
        return self._record(answer)

    def _record(self, answer: Answer) -> dict[str, Any]:
        result = answer.body["result"]
        if not isinstance(result, dict):
            raise UnavailableError(
                f"{self.system}: expected one record, got {type(result).__name__}", system=self.system
            )
        return result

    def credentials(self) -> tuple[dict[str, str], Any]:
        auth = self.settings.auth
        if isinstance(auth, BasicAuth):
            where = f"systems.{self.system}.auth"
            user = self.context.secret(auth.user_env, f"{where}.user_env")
            password = self.context.secret(auth.password_env, f"{where}.password_env")
            return {}, self.basic_auth(user, password)
        assert self.tokens is not None
        return {"Authorization": self.tokens.header()}, None

    def renew_credentials(self, refused: AuthError) -> bool:
        if self.tokens is None or isinstance(refused, TokenRefused):
            return False
        self.tokens.invalidate()  # the token may have been revoked or expired early: renew once
        return True

    def refused_after_renewal(self, refused: AuthError) -> AdapterError:
        if isinstance(refused, TokenRefused):
            return refused
        return AuthError(
            f"{self.system}: ServiceNow refused a freshly issued OAuth token (401); check the OAuth "
            f"application and the user it acts as",
            system=self.system,
            status=refused.status,
        )

    def requests_per_attempt(self) -> int:
        # OAuth: a refresh and a new grant before the call, and again after a 401 on it
        return 1 if self.tokens is None else 6

    def error_message(self, body: Any, text: str) -> str:
        return error_message(body)

    def error_for(self, answer: Answer, message: str) -> AdapterError:
        if answer.status == 401:
            return AuthError(
                f"{self.system}: ServiceNow refused the credentials (401: {message}); check the user and "
                f"secret named in systems.{self.system}.auth",
                system=self.system,
                status=401,
            )
        rule = business_rule(message) if answer.status == 403 else None
        if rule:
            return PermissionDenied(
                f"{self.system}: business rule '{rule}' refused the change (403): {message}",
                system=self.system,
                status=403,
            )
        return super().error_for(answer, message)

    def close(self) -> None:
        self.session.close()


def _params(fields: list[str]) -> dict[str, str]:
    return {
        "sysparm_display_value": "false",
        "sysparm_exclude_reference_link": "true",
        "sysparm_fields": ",".join(fields),
    }
