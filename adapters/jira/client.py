"""The Jira REST v2 client: URL templates and one method per endpoint on the connector's one HTTP
transport (connector.core.http), with python-jira 3.10.x doing the plain reads it builds exactly
as we would (myself, fields, project, issue, transitions) through its public API only.

Which path a call takes, and why:
- python-jira (public API only; ``max_retries=0``, since its ResilientSession retries POSTs and
  caps Retry-After at 60 s): myself, fields, project, issue, transitions. GETs it builds exactly
  as we would and that do not depend on the deployment (python-jira learns that only from a
  serverInfo call of its own). Each goes through ``_library``: counted (python-jira hides a
  success's status; these GETs answer 200 and nothing else on success), retried by our policy,
  and its JIRAError mapped by the same ``error_for`` as the transport's answers.
- the transport (our own ``requests.Session``, the same credentials): what python-jira lacks or
  builds otherwise (serverInfo, project statuses, changelog and comment paging by
  startAt/total/isLast, users by accountId, username or key and the user search, search/jql
  with nextPageToken, JSM approvals and comments, webhooks) and every write (create, comment,
  transition): a write's body is exactly ours, its status is counted as answered, and it is
  retried only on 429, which proves nothing happened."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import requests
from jira import JIRA, JIRAError

from connector.core.adapter import AdapterContext
from connector.core.errors import AdapterError, BadRequestError, UnavailableError
from connector.core.http import (
    Answer,
    ApiClient,
    RetryPolicy,
    error_from_exception,
    exception_outcome,
    header,
    with_retries,
)

from .settings import JiraSystemSettings

T = TypeVar("T")

API = "/rest/api/2"
LIBRARY_OK = "200"  # python-jira returns only after a 2xx, and its GETs used here define only 200


class JiraClient(ApiClient):
    """One configured Jira (Cloud or Data Center). python-jira is created on first use."""

    SERVER_INFO = f"{API}/serverInfo"
    PROJECT_STATUSES = API + "/project/{key}/statuses"
    ISSUES = f"{API}/issue"
    CHANGELOG = API + "/issue/{key}/changelog"
    COMMENTS = API + "/issue/{key}/comment"
    TRANSITIONS = API + "/issue/{key}/transitions"
    ASSIGNEE = API + "/issue/{key}/assignee"
    USER = f"{API}/user"
    USER_SEARCH = f"{API}/user/search"
    SEARCH_JQL = f"{API}/search/jql"
    SEARCH = f"{API}/search"
    JSM_APPROVALS = "/rest/servicedeskapi/request/{key}/approval"
    JSM_COMMENT = "/rest/servicedeskapi/request/{key}/comment"
    WEBHOOKS = "/rest/webhooks/1.0/webhook"

    def __init__(
        self,
        settings: JiraSystemSettings,
        system: str,
        context: AdapterContext,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        super().__init__(
            system, settings.url, context, settings, retry=policy, sleep=sleep, verify=settings.verify_tls
        )
        self.session.headers.update({"X-Atlassian-Token": "no-check"})
        self.settings = settings
        self._lock = threading.Lock()
        self._jira: JIRA | None = None
        self._server_info: dict[str, Any] | None = None

    # --- credentials ----------------------------------------------------------------------------
    def _secret_auth(self) -> tuple[str, str] | str:
        """(email, API token) for Cloud basic auth, or a Data Center personal access token."""
        auth = self.settings.auth
        where = f"systems.{self.system}.auth"
        if auth.pat_env:
            return self.context.secret(auth.pat_env, f"{where}.pat_env")
        email = self.context.secret(auth.email_env, f"{where}.email_env")
        return self.basic_auth(email, self.context.secret(auth.token_env, f"{where}.token_env"))

    def credentials(self) -> tuple[dict[str, str], Any]:
        auth = self._secret_auth()
        if isinstance(auth, str):
            return {"Authorization": f"Bearer {auth}"}, None
        return {}, auth

    @property
    def jira(self) -> JIRA:
        """The python-jira client, built from public constructor arguments only (no serverInfo
        call of its own: the calls it makes here do not depend on the deployment)."""
        with self._lock:
            if self._jira is None:
                auth = self._secret_auth()
                self._jira = JIRA(
                    server=self.settings.url,
                    options={"verify": self.settings.verify_tls},
                    max_retries=0,
                    timeout=self.timeouts,
                    get_server_info=False,
                    **({"token_auth": auth} if isinstance(auth, str) else {"basic_auth": auth}),
                )
            return self._jira

    # --- deployment -----------------------------------------------------------------------------
    @property
    def server_info(self) -> dict[str, Any]:
        """GET serverInfo once (a failure is not cached: the next call asks again)."""
        if self._server_info is None:
            self._server_info = self.get(self.SERVER_INFO) or {}
        return self._server_info

    @property
    def is_cloud(self) -> bool:
        deployment = self.settings.deployment
        if deployment != "auto":
            return deployment == "cloud"
        return str(self.server_info.get("deploymentType") or "").lower() == "cloud"

    def call_budget(self) -> float:
        # with ``deployment: auto`` the first call may read serverInfo first, with its own retries
        single = super().call_budget()
        return 2 * single if self.settings.deployment == "auto" else single

    def close(self) -> None:
        with self._lock:
            if self._jira is not None:
                self._jira.close()
                self._jira = None
        self.session.close()

    # --- reads through python-jira --------------------------------------------------------------
    def myself(self) -> dict[str, Any]:
        return self._library(lambda j: j.myself())

    def fields(self) -> list[dict[str, Any]]:
        return self._library(lambda j: j.fields())

    def project(self, key: str) -> dict[str, Any]:
        return self._library(lambda j: j.project(key).raw)

    def issue(
        self, key: str, fields: list[str], expand: str | None = None, properties: list[str] | None = None
    ) -> dict[str, Any]:
        """One issue; ``expand`` may name ``changelog`` and ``transitions`` (what the caller may
        do from the current status), ``properties`` the entity properties to include."""
        wanted = ",".join(properties) if properties else None
        return self._library(
            lambda j: j.issue(key, fields=",".join(fields), expand=expand, properties=wanted).raw
        )

    def transitions(self, key: str, with_fields: bool = False) -> list[dict[str, Any]]:
        expand = "transitions.fields" if with_fields else None
        return self._library(lambda j: j.transitions(key, expand=expand))

    # --- reads through the transport ------------------------------------------------------------
    def project_statuses(self, key: str) -> list[dict[str, Any]]:
        return self.get(self.path(self.PROJECT_STATUSES, key=key)) or []

    def changelog(self, key: str) -> list[dict[str, Any]]:
        """Every history entry. Cloud pages /changelog (oldest first); DC returns all with expand."""
        if not self.is_cloud:
            issue = self.issue(key, ["status"], expand="changelog")
            return list((issue.get("changelog") or {}).get("histories") or [])
        return self._start_at_pages(self.path(self.CHANGELOG, key=key), "values")

    def comments(self, key: str, with_properties: bool = False) -> list[dict[str, Any]]:
        """Every comment; ``with_properties``: each with its entity properties (``properties``)."""
        extra = {"expand": "properties"} if with_properties else {}
        return self._start_at_pages(self.path(self.COMMENTS, key=key), "comments", extra)

    def user(self, user_id: str, with_groups: bool = True, *, by: str | None = None) -> dict[str, Any]:
        """One user: Cloud by accountId; Data Center by ``username`` (default) or ``key``."""
        params: dict[str, Any] = {by or ("accountId" if self.is_cloud else "username"): user_id}
        if with_groups:
            params["expand"] = "groups"
        return self.get(self.USER, params=params) or {}

    def search_users(self, text: str, limit: int = 50) -> list[dict[str, Any]]:
        """Users a text finds (Cloud: ``query`` over display name and e-mail; Data Center:
        ``username`` over user name, display name and e-mail); prefix matches, not identities."""
        params = {"query" if self.is_cloud else "username": text, "maxResults": limit}
        found = self.get(self.USER_SEARCH, params=params)
        return [u for u in found if isinstance(u, dict)] if isinstance(found, list) else []

    def search(
        self,
        jql: str,
        fields: list[str],
        expand: str | None = None,
        properties: list[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """All matches of one query: Cloud /search/jql with nextPageToken, DC /search with startAt.
        ``properties``: issue entity properties to include with each hit (at most 5). A search is
        a read, so its POST may be retried."""
        size = self.settings.page_size
        if self.is_cloud:
            token: str | None = None
            while True:
                body: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": size}
                if expand:
                    body["expand"] = expand
                if properties:
                    body["properties"] = list(properties)
                if token:
                    body["nextPageToken"] = token
                page = self.post(self.SEARCH_JQL, json=body, idempotent=True) or {}
                yield from page.get("issues") or []
                token = page.get("nextPageToken")
                if not token or page.get("isLast"):
                    return
        start = 0
        while True:
            body = {"jql": jql, "startAt": start, "maxResults": size, "fields": fields}
            if expand:
                body["expand"] = [e.strip() for e in expand.split(",") if e.strip()]
            if properties:
                body["properties"] = list(properties)
            page = self.post(self.SEARCH, json=body, idempotent=True) or {}
            issues = page.get("issues") or []
            yield from issues
            start += len(issues)
            total = page.get("total")
            if not issues or total is None or start >= int(total):
                return

    def jsm_approvals(self, key: str) -> dict[str, Any]:
        path = self.path(self.JSM_APPROVALS, key=key)
        values: list[dict[str, Any]] = []
        while True:
            page = self.get(path, params={"start": len(values), "limit": 50}) or {}
            batch = page.get("values") or []
            values.extend(batch)
            if page.get("isLastPage", True) or not batch:
                return {"values": values}

    def webhooks(self) -> list[dict[str, Any]]:
        return self.get(self.WEBHOOKS) or []

    def _start_at_pages(
        self, path: str, items: str, extra: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a startAt-paged list; stops at isLast, at total, or at an empty page."""
        collected: list[dict[str, Any]] = []
        while True:
            params = {"startAt": len(collected), "maxResults": 100, **(extra or {})}
            page = self.get(path, params=params) or {}
            values = page.get(items) or []
            collected.extend(values)
            total = page.get("total")
            if not values or page.get("isLast"):
                return collected
            if total is not None and len(collected) >= int(total):
                return collected
            if total is None and "isLast" not in page:
                return collected  # neither marker: the list came in one page

    # --- writes through the transport -----------------------------------------------------------
    def create_issue(
        self, fields: dict[str, Any], properties: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """One POST, never retried on an ambiguous failure: the adapter looks up before re-creating.
        ``properties`` ([{key, value}]) are set atomically with the issue."""
        body: dict[str, Any] = {"fields": fields}
        if properties:
            body["properties"] = properties
        created = self.post(self.ISSUES, json=body)
        if not created or not created.get("key"):
            raise BadRequestError(f"{self.system}: create answered without an issue key", system=self.system)
        return created

    def transition(
        self,
        key: str,
        transition_id: str,
        *,
        comment: str | None = None,
        comment_properties: list[dict[str, Any]] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        """The transition and its outcome comment (with the comment's properties) in one POST,
        where the screen allows it."""
        body: dict[str, Any] = {"transition": {"id": str(transition_id)}}
        if fields:
            body["fields"] = fields
        if comment is not None:
            added: dict[str, Any] = {"body": comment}
            if comment_properties:
                added["properties"] = comment_properties
            body["update"] = {"comment": [{"add": added}]}
        self.post(self.path(self.TRANSITIONS, key=key), json=body)

    def add_comment(
        self,
        key: str,
        body: str,
        *,
        internal: bool = False,
        properties: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """``internal``: the JSM comment property that hides it from customers; ``properties``:
        further comment properties ([{key, value}])."""
        data: dict[str, Any] = {"body": body}
        props = list(properties or [])
        if internal:
            props.append({"key": "sd.public.comment", "value": {"internal": True}})
        if props:
            data["properties"] = props
        return self.post(self.path(self.COMMENTS, key=key), json=data) or {}

    def assign(self, key: str, who: str) -> None:
        """PUT …/assignee (Cloud: accountId, DC: user name); setting the same one again is a no-op."""
        body = {"accountId": who} if self.is_cloud else {"name": who}
        self._request("PUT", self.path(self.ASSIGNEE, key=key), json=body, idempotent=True)

    def jsm_comment(self, key: str, body: str) -> dict[str, Any]:
        return self.post(self.path(self.JSM_COMMENT, key=key), json={"body": body, "public": False}) or {}

    def register_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.post(self.WEBHOOKS, json=body) or {}

    # --- Jira's error envelope, and calls through python-jira -----------------------------------
    def error_message(self, body: Any, text: str) -> str:
        """``errorMessages`` and per-field ``errors`` ({"errorMessages": [], "errors": {f: m}})."""
        if isinstance(body, dict):
            listed = body.get("errorMessages")
            parts = [str(m) for m in (listed if isinstance(listed, list) else [listed]) if m]
            errors = body.get("errors")
            if isinstance(errors, dict):
                parts += [f"{name}: {message}" for name, message in errors.items()]
            parts += [str(body[k]) for k in ("message", "errorMessage") if isinstance(body.get(k), str)]
            if parts:
                return "; ".join(parts)
        return super().error_message(body, text)

    def error_for(self, answer: Answer, message: str) -> AdapterError:
        reason = header(answer.headers, "X-Authentication-Denied-Reason") if answer.status == 403 else None
        return super().error_for(answer, f"{reason}: {message}" if reason else message)

    def _library(self, call: Callable[[JIRA], T]) -> T:
        """One python-jira read, counted, retried and mapped like a transport call."""

        def attempt() -> T:
            client = self.jira
            try:
                result = call(client)
            except JIRAError as exc:
                self.context.count_call(self.system, str(exc.status_code or "error"))
                raise self._library_error(exc) from None
            except requests.JSONDecodeError:  # a 2xx whose body is not JSON (python-jira logs it)
                self.context.count_call(self.system, LIBRARY_OK)
                raise UnavailableError(f"{self.system}: the answer is not JSON", system=self.system) from None
            except requests.RequestException as exc:
                self.context.count_call(self.system, exception_outcome(exc))
                raise error_from_exception(exc, self.system, self.base_url, self.timeouts[1]) from None
            self.context.count_call(self.system, LIBRARY_OK)
            return result

        return with_retries(attempt, self.retry, sleep=self.sleep)

    def _library_error(self, exc: JIRAError) -> AdapterError:
        response = exc.response if isinstance(exc.response, requests.Response) else None
        if exc.status_code is None or response is None:
            return UnavailableError(f"{self.system}: request failed (no answer)", system=self.system)
        try:
            body = response.json()
        except ValueError:
            body = None
        answer = Answer(int(exc.status_code), body, response.text, response.headers)
        return self.error_for(answer, self.redacted_message(answer))
