"""Base for stateful simulators of ticketing-system REST APIs (moto-style): in-memory state behind
thin routes, usable in-process on ``responses`` and as a real HTTP server on loopback. Users can
drive the Jira and ServiceNow simulators from their own tests."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from connector.core.http import header


@dataclass
class SimRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str) -> str | None:
        return header(self.headers, name)


@dataclass
class SimResponse:
    status: int = 200
    body: Any = None  # JSON-serialisable, bytes, or None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode("utf-8")


Handler = Callable[[SimRequest, re.Match], SimResponse]


@dataclass
class Fault:
    status: int
    times: int
    headers: dict[str, str]
    body: Any
    method: str | None
    path: str | None


class SimulatedAPI:
    """Subclasses register routes with ``self.add_route`` and keep their state as attributes;
    every request is handled under one lock, so state transitions stay explicit and atomic."""

    system_name = "simulator"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[Fault] = []
        self.lock = threading.RLock()
        self.calls: list[tuple[str, str, int]] = []
        self.webhooks_sent: list[dict[str, Any]] = []

    # --- routing --------------------------------------------------------------------------------
    def add_route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(f"^{pattern}$"), handler))

    def inject_fault(
        self,
        status: int,
        times: int = 1,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (429 storm, 503 ...).
        ``path`` is a regular expression searched in the request path."""
        self._faults.append(
            Fault(status, times, headers or {}, body, method.upper() if method else None, path)
        )

    def clear_faults(self) -> None:
        """Drop every injected fault that has not fired yet."""
        with self.lock:
            self._faults.clear()

    def _take_fault(self, request: SimRequest) -> SimResponse | None:
        for fault in self._faults:
            if fault.method and fault.method != request.method:
                continue
            if fault.path and not re.search(fault.path, request.path):
                continue
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            body = fault.body if fault.body is not None else self.fault_body(fault.status)
            return SimResponse(fault.status, body, dict(fault.headers))
        return None

    def fault_body(self, status: int) -> Any:
        return {"error": f"injected fault {status}"}

    def authenticate(self, request: SimRequest) -> SimResponse | None:
        """Return a 401 response to refuse the request; None to accept. Override per system."""
        return None

    def handle(self, request: SimRequest) -> SimResponse:
        with self.lock:
            response = self._take_fault(request) or self.authenticate(request)
            if response is None:
                response = self._dispatch(request)
            self.calls.append((request.method, request.path, response.status))
            return response

    def _dispatch(self, request: SimRequest) -> SimResponse:
        path_allowed = False
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if not match:
                continue
            path_allowed = True
            if method == request.method:
                return handler(request, match)
        if path_allowed:
            return SimResponse(405, {"error": f"method {request.method} not allowed"})
        return SimResponse(404, {"error": f"no route for {request.method} {request.path}"})

    # --- counting -------------------------------------------------------------------------------
    def call_count(self, method: str | None = None, path: str | None = None) -> int:
        """Requests answered so far, optionally filtered by method and a path regex."""
        return sum(
            1
            for m, p, _ in self.calls
            if (method is None or m == method.upper()) and (path is None or re.search(path, p))
        )

    def call_summary(self) -> Counter:
        return Counter(f"{m} {p}" for m, p, _ in self.calls)

    # --- in-process on responses -----------------------------------------------------------------
    def install(self, rsps: Any) -> None:
        """Route every request to ``base_url`` on a ``responses.RequestsMock`` to this simulator."""
        pattern = re.compile(re.escape(self.base_url) + r"(/.*)?$")
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            rsps.add_callback(method, pattern, callback=self._responses_callback)

    def _responses_callback(self, prepared: requests.PreparedRequest) -> tuple[int, dict, bytes]:
        parts = urlsplit(prepared.url)
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        request = SimRequest(
            method=prepared.method or "GET",
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=dict(prepared.headers),
            body=body,
        )
        response = self.handle(request)
        headers = {"Content-Type": "application/json", **response.headers}
        return response.status, headers, response.encoded()

    # --- as a real HTTP server -------------------------------------------------------------------
    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve on loopback in a background thread; yields the base URL (also set on self)."""
        sim = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = SimRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers=dict(self.headers.items()),
                    body=body,
                )
                response = sim.handle(request)
                payload = response.encoded()
                self.send_response(response.status)
                headers = {"Content-Type": "application/json", **response.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        server = ThreadingHTTPServer((host, port), _Handler)
        server.daemon_threads = True
        previous = self.base_url
        self.base_url = f"http://{host}:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, name=f"{self.system_name}-sim", daemon=True)
        thread.start()
        try:
            yield self.base_url
        finally:
            server.shutdown()
            server.server_close()
            self.base_url = previous

    # --- outbound webhooks ------------------------------------------------------------------------
    def deliver_webhook(self, url: str, body: bytes, headers: dict[str, str], timeout: float = 5.0) -> int:
        """POST a webhook to ``url`` (the connector's endpoint); records what was sent and the
        answer's status (0 when unreachable). Called outside the state lock."""
        record = {"url": url, "body": body, "headers": headers, "status": 0}
        try:
            answer = requests.post(url, data=body, headers=headers, timeout=timeout)
            record["status"] = answer.status_code
        except requests.RequestException as exc:
            record["error"] = type(exc).__name__
        self.webhooks_sent.append(record)
        return record["status"]
