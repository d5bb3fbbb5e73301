"""A thin wrapper over python-jira (3.10.x) that speaks the connector's failure vocabulary.

python-jira's ResilientSession retries POSTs (duplicate issues/comments) and caps Retry-After at
60 s, so the session is built with ``max_retries=0`` and every call goes through
connector.http: typed errors, our own retry policy (POSTs retried only on 429, which proves nothing
happened), Retry-After in seconds or as an HTTP date. Every HTTP answer is counted per status."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import requests
from jira import JIRA, JIRAError

from connector.core.adapter import AdapterContext
from connector.core.errors import AdapterError, BadRequestError, UnavailableError
from connector.core.http import RetryPolicy, error_for_status, error_from_exception, with_retries

from .settings import JiraSystemSettings

T = TypeVar("T")

API = "/rest/api/2"


class JiraClient:
    """One authenticated python-jira session per configured system, created on first use."""

    def __init__(
        self,
        settings: JiraSystemSettings,
        system: str,
        context: AdapterContext,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.settings = settings
        self.system = system
        self.context = context
        self.policy = policy or settings.retry.policy()
        self.sleep = sleep
        self._jira: JIRA | None = None
        self._server_info: dict[str, Any] | None = None

    # --- session ------------------------------------------------------------------------------
    def _credentials(self) -> dict[str, Any]:
        auth = self.settings.auth
        where = f"systems.{self.system}.auth"
        if auth.pat_env:
            return {"token_auth": self.context.secret(auth.pat_env, f"{where}.pat_env")}
        email = self.context.secret(auth.email_env, f"{where}.email_env")
        token = self.context.secret(auth.token_env, f"{where}.token_env")
        return {"basic_auth": (email, token)}

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        self.context.count_call(self.system, str(response.status_code))
        return response

    @property
    def jira(self) -> JIRA:
        """The python-jira client. serverInfo is fetched here (not by the constructor) so that it is
        counted, retried and mapped like every other call."""
        if self._jira is None:
            client = JIRA(
                server=self.settings.url,
                options={"verify": self.settings.verify_tls},
                max_retries=0,
                timeout=(self.settings.timeouts.connect, self.settings.timeouts.read),
                get_server_info=False,
                **self._credentials(),
            )
            client._session.hooks["response"].append(self._count)
            self._jira = client
            try:
                info = self._call(client.server_info)
            except AdapterError:
                self._jira = None
                raise
            client.deploymentType = info.get("deploymentType")
            try:
                client._version = tuple(info.get("versionNumbers") or (0, 0, 0))
            except TypeError:
                client._version = (0, 0, 0)
            self._server_info = info
        return self._jira

    @property
    def server_info(self) -> dict[str, Any]:
        self.jira  # noqa: B018 - connects and reads serverInfo once
        return self._server_info or {}

    @property
    def is_cloud(self) -> bool:
        deployment = self.settings.deployment
        if deployment != "auto":
            return deployment == "cloud"
        return str(self.server_info.get("deploymentType") or "").lower() == "cloud"

    def close(self) -> None:
        if self._jira is not None:
            self._jira.close()
            self._jira = None

    # --- calling --------------------------------------------------------------------------------
    def _map(self, exc: JIRAError) -> AdapterError:
        status = exc.status_code
        message = (exc.text or "").strip()[:500] or "no details"
        if status is None:
            return UnavailableError(f"{self.system}: request failed: {message}", system=self.system)
        headers = dict(exc.response.headers) if exc.response is not None else {}
        return error_for_status(int(status), message, system=self.system, headers=headers)

    def _once(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except JIRAError as exc:
            raise self._map(exc) from None
        except requests.RequestException as exc:
            outcome = "timeout" if isinstance(exc, requests.Timeout) else "error"
            self.context.count_call(self.system, outcome)
            raise error_from_exception(exc, self.system) from None
        except ValueError as exc:  # a 2xx whose body is not JSON
            raise UnavailableError(f"{self.system}: unreadable answer: {exc}", system=self.system) from None

    def _call(self, fn: Callable[[], T], *, safe: bool = True) -> T:
        """``safe`` False for writes that must not be repeated blindly (only 429 is retried)."""
        return with_retries(lambda: self._once(fn), self.policy, sleep=self.sleep, retry_unsafe=safe)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        safe: bool | None = None,
    ) -> Any:
        """Any REST call through the authenticated session; JSON answer or None (204)."""
        url = self.settings.url + path

        def send() -> Any:
            data = json.dumps(body) if body is not None else None
            response = self.jira._session.request(method, url, params=params, data=data)
            if response.status_code == 204 or not response.content:
                return None
            return response.json()

        if safe is None:
            safe = method.upper() in ("GET", "PUT", "DELETE")
        return self._call(send, safe=safe)

    # --- reads ----------------------------------------------------------------------------------
    def myself(self) -> dict[str, Any]:
        return self._call(lambda: self.jira.myself())

    def fields(self) -> list[dict[str, Any]]:
        return self._call(lambda: self.jira.fields())

    def project(self, key: str) -> dict[str, Any]:
        return self._call(lambda: self.jira.project(key).raw)

    def project_statuses(self, key: str) -> list[dict[str, Any]]:
        return self.request("GET", f"{API}/project/{key}/statuses") or []

    def issue(self, key: str, fields: list[str], expand: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"fields": ",".join(fields)}
        if expand:
            params["expand"] = expand
        return self.request("GET", f"{API}/issue/{key}", params=params) or {}

    def changelog(self, key: str) -> list[dict[str, Any]]:
        """Every history entry. Cloud pages /changelog (oldest first); DC returns all with expand."""
        if not self.is_cloud:
            issue = self.issue(key, ["status"], expand="changelog")
            return list((issue.get("changelog") or {}).get("histories") or [])
        return self._start_at_pages(f"{API}/issue/{key}/changelog", "values")

    def transitions(self, key: str, with_fields: bool = False) -> list[dict[str, Any]]:
        expand = "transitions.fields" if with_fields else None
        return self._call(lambda: self.jira.transitions(key, expand=expand))

    def comments(self, key: str) -> list[dict[str, Any]]:
        return self._start_at_pages(f"{API}/issue/{key}/comment", "comments")

    def _start_at_pages(self, path: str, items: str) -> list[dict[str, Any]]:
        """Every item of a startAt-paged list; stops at isLast, at total, or at an empty page."""
        collected: list[dict[str, Any]] = []
        while True:
            page = self.request("GET", path, params={"startAt": len(collected), "maxResults": 100}) or {}
            values = page.get(items) or []
            collected.extend(values)
            total = page.get("total")
            if not values or page.get("isLast"):
                return collected
            if total is not None and len(collected) >= int(total):
                return collected
            if total is None and "isLast" not in page:
                return collected  # neither marker: the list came in one page

    def user(self, user_id: str, with_groups: bool = True) -> dict[str, Any]:
        params: dict[str, Any] = {"accountId" if self.is_cloud else "username": user_id}
        if with_groups:
            params["expand"] = "groups"
        return self.request("GET", f"{API}/user", params=params) or {}

    def search(self, jql: str, fields: list[str], expand: str | None = None) -> Iterator[dict[str, Any]]:
        """All matches of one query: Cloud /search/jql with nextPageToken, DC /search with startAt.
        A search is a read, so its POST may be retried."""
        size = self.settings.page_size
        if self.is_cloud:
            token: str | None = None
            while True:
                body: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": size}
                if expand:
                    body["expand"] = expand
                if token:
                    body["nextPageToken"] = token
                page = self.request("POST", f"{API}/search/jql", body=body, safe=True) or {}
                yield from page.get("issues") or []
                token = page.get("nextPageToken")
                if not token or page.get("isLast"):
                    return
        start = 0
        while True:
            body = {"jql": jql, "startAt": start, "maxResults": size, "fields": fields}
            if expand:
                body["expand"] = [e.strip() for e in expand.split(",") if e.strip()]
            page = self.request("POST", f"{API}/search", body=body, safe=True) or {}
            issues = page.get("issues") or []
            yield from issues
            start += len(issues)
            total = page.get("total")
            if not issues or total is None or start >= int(total):
                return

    def jsm_approvals(self, key: str) -> dict[str, Any]:
        values: list[dict[str, Any]] = []
        start = 0
        while True:
            page = (
                self.request(
                    "GET",
                    f"/rest/servicedeskapi/request/{key}/approval",
                    params={"start": start, "limit": 50},
                )
                or {}
            )
            batch = page.get("values") or []
            values.extend(batch)
            start += len(batch)
            if page.get("isLastPage", True) or not batch:
                return {"values": values}

    # --- writes ---------------------------------------------------------------------------------
    def create_issue(self, fields: dict[str, Any]) -> dict[str, Any]:
        """One POST, never retried on an ambiguous failure: the adapter looks up before re-creating."""
        created = self.request("POST", f"{API}/issue", body={"fields": fields}, safe=False)
        if not created or not created.get("key"):
            raise BadRequestError(f"{self.system}: create answered without an issue key", system=self.system)
        return created

    def transition(
        self,
        key: str,
        transition_id: str,
        *,
        comment: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        body: dict[str, Any] = {"transition": {"id": str(transition_id)}}
        if fields:
            body["fields"] = fields
        if comment is not None:
            body["update"] = {"comment": [{"add": {"body": comment}}]}
        self.request("POST", f"{API}/issue/{key}/transitions", body=body, safe=False)

    def add_comment(self, key: str, body: str, *, internal: bool = False) -> dict[str, Any]:
        return self._call(lambda: self.jira.add_comment(key, body, is_internal=internal).raw, safe=False)

    def jsm_comment(self, key: str, body: str) -> dict[str, Any]:
        return (
            self.request(
                "POST",
                f"/rest/servicedeskapi/request/{key}/comment",
                body={"body": body, "public": False},
                safe=False,
            )
            or {}
        )

    def register_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/rest/webhooks/1.0/webhook", body=body, safe=False) or {}

    def webhooks(self) -> list[dict[str, Any]]:
        return self.request("GET", "/rest/webhooks/1.0/webhook") or []
