"""Base for stateful simulators of ticketing-system REST APIs (moto-style): in-memory state behind
thin routes, usable in-process on ``responses`` and as a real HTTP server on loopback. Users can
drive the Jira and ServiceNow simulators from their own tests."""

from __future__ import annotations

import json
import random
import re
import socket
import sys
import threading
import time
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


class LostAnswer(Exception):
    """The request was handled (its change landed) but its answer never reaches the client: a
    timeout on the way back. In-process the client sees ``ReadTimeout``; over HTTP the connection
    is closed without an answer."""


@dataclass
class Fault:
    status: int
    times: int
    headers: dict[str, str]
    body: Any
    method: str | None
    path: str | None


@dataclass
class Chaos:
    """Random faults on a share (``rate``) of the requests ``applies`` accepts: an error status
    (429 with Retry-After, 5xx), a lost answer (the change lands, the answer does not) or a slow
    answer (held ``slow`` seconds before it is handled: past the client's read timeout, so the
    client gives up and the change lands after it did). ``counts`` says what was injected."""

    rate: float
    rng: random.Random
    statuses: tuple[int, ...] = (429, 500, 502, 503)
    slow: float = 0.0
    applies: Callable[[SimRequest], bool] | None = None
    lost: bool = True
    counts: Counter = field(default_factory=Counter)

    def pick(self, request: SimRequest) -> str | int | None:
        if self.applies is not None and not self.applies(request):
            return None
        kinds: list[str | int] = list(self.statuses)
        kinds += ["lost"] if self.lost else []
        kinds += ["slow"] if self.slow > 0 else []
        if not kinds or self.rng.random() >= self.rate:
            return None
        kind = self.rng.choice(kinds)
        self.counts[str(kind)] += 1
        return kind


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (its read timed out) or dropped the connection is normal traffic
    for a simulator that injects slow answers: closed quietly, not logged with a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            return
        super().handle_error(request, client_address)


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
        self.chaos: Chaos | None = None

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

    def inject_chaos(
        self,
        rate: float,
        *,
        seed: int = 0,
        statuses: tuple[int, ...] = (429, 500, 502, 503),
        slow: float = 0.0,
        applies: Callable[[SimRequest], bool] | None = None,
        lost: bool = True,
    ) -> Chaos:
        """Answer a random ``rate`` of requests with a fault (see ``Chaos``) until cleared;
        returns the ``Chaos`` whose ``counts`` say what was injected."""
        with self.lock:
            self.chaos = Chaos(rate, random.Random(seed), statuses, slow, applies, lost)
            return self.chaos

    def clear_faults(self) -> None:
        """Drop every injected fault that has not fired yet."""
        with self.lock:
            self._faults.clear()
            self.chaos = None

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
        """Answer one request; raises ``LostAnswer`` when its answer is to be lost."""
        with self.lock:
            chaos = self.chaos.pick(request) if self.chaos is not None else None
        if chaos == "slow" and self.chaos is not None:
            time.sleep(self.chaos.slow)  # outside the lock: other requests go on meanwhile
        with self.lock:
            response = self._take_fault(request)
            if response is None and isinstance(chaos, int):
                headers = {"Retry-After": "0"} if chaos == 429 else {}
                response = SimResponse(chaos, self.fault_body(chaos), headers)
            response = response or self.authenticate(request)
            if response is None:
                try:
                    response = self._dispatch(request)
                except requests.exceptions.ReadTimeout as lost:  # a route lost its own answer
                    self.calls.append((request.method, request.path, 0))
                    raise LostAnswer(str(lost)) from None
            self.calls.append((request.method, request.path, 0 if chaos == "lost" else response.status))
        if chaos == "lost":
            raise LostAnswer("simulated: the answer was lost on the way back")
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
        try:
            response = self.handle(request)
        except LostAnswer as lost:
            raise requests.exceptions.ReadTimeout(str(lost)) from None
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
                try:
                    response = sim.handle(request)
                except LostAnswer:
                    self.close_connection = True  # the client sees the connection drop, no answer
                    return
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

        server = _QuietServer((host, port), _Handler)
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
