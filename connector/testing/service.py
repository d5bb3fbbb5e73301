"""``serve`` inside a test: the webhook app and the scheduler on uvicorn, on a loopback port, in
a thread and event loop of their own, so a simulator's signed webhooks reach a real endpoint (the
testing kit's served mode, and the project's own serve tests)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import requests

from connector.app.runtime import Connector
from connector.app.server import build_server


class RunningService:
    """``with RunningService(connector) as service:`` serves until the block ends; ``service.url``
    is where it listens (``/webhooks/<system>``, ``/healthz``, ``/metrics``)."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.server = build_server(connector, "127.0.0.1", 0)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)
        self.url = ""

    def __enter__(self) -> RunningService:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    def post(self, system: str, body: bytes, headers: dict[str, str]) -> requests.Response:
        return requests.post(f"{self.url}/webhooks/{system}", data=body, headers=headers, timeout=10)

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.url}{path}", timeout=10)


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it is truthy (returned) or ``timeout`` seconds pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not reached in time")
