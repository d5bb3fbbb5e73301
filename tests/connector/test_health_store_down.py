"""``/healthz`` and ``/metrics`` after the store goes down: PostgreSQL is reached through a TCP
relay that the test cuts, as a network partition or a database restart would. The last
successful poll age per system is still reported (from memory) and the store is marked down."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from connector.app.config import parse_config
from connector.app.runtime import Connector
from tests.connector.service_harness import RunningService, wait_until
from tests.connector.test_store import pg_store_url  # noqa: F401 - fixture


class Relay:
    """Forwards a loopback port to the database until ``cut()`` closes it and every connection."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()


CONFIG = """
store: {{url: "{url}"}}
scheduler: {{poll_interval: 0.2s, outbox_interval: 0.2s}}
systems: {{desk: {{type: local}}}}
"""


@pytest.fixture
def relayed(pg_store_url: str) -> Iterator[tuple[Connector, Relay]]:  # noqa: F811
    url = make_url(pg_store_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    through = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    conn = Connector.from_config(parse_config(CONFIG.format(url=through)))
    yield conn, relay
    relay.cut()
    conn.close()


def test_healthz_keeps_the_last_poll_age_after_the_store_goes_down(relayed):
    conn, relay = relayed
    with RunningService(conn) as service:
        up = wait_until(lambda: _polled(service.get("/healthz").json()), timeout=20)
        assert up["status"] == "ok" and up["systems"]["desk"]["from"] == "store"
        relay.cut()
        down = service.get("/healthz")
        assert down.status_code == 503
        body = down.json()
        assert body["status"] == "down" and body["store"] == "unreachable"
        desk = body["systems"]["desk"]
        assert desk["from"] == "memory"
        age = desk["last_successful_poll_age_seconds"]
        assert age is not None and age < 30
        metrics = service.get("/metrics")
        assert metrics.status_code == 200
        assert 'approval_last_successful_poll_age_seconds{system="desk"}' in metrics.text
        assert "approval_store_up 0.0" in metrics.text


def _polled(body: dict) -> dict | None:
    return body if body["systems"]["desk"]["last_successful_poll_age_seconds"] is not None else None
