"""The servers under load, each in its own process on 127.0.0.1: the real ``approval-connector
serve`` and a bare Starlette endpoint on the same uvicorn settings. ``python -m bench.servers
bare PORT`` runs the bare one. Helpers start, wait for, inspect (/proc) and stop them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

from .setup import REPO

LOOPBACK = "127.0.0.1"
# connector/server.py build_server: uvicorn.Config(app, host, port, log_level="warning",
# lifespan="on", timeout_graceful_shutdown=<server.shutdown_grace, 30 s by default>)
UVICORN_SETTINGS: dict[str, Any] = {"log_level": "warning", "lifespan": "on", "timeout_graceful_shutdown": 30}
CLI = Path(sys.executable).with_name("approval-connector")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    name: str
    process: subprocess.Popen
    port: int
    log: IO[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def proc_status(self) -> dict[str, int]:
        """VmRSS / VmHWM (kB) from /proc/<pid>/status."""
        out: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
        return out

    def cpu_seconds(self) -> float:
        """utime + stime of the server process (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def settle(self, idle_cpu: float = 0.01, interval: float = 0.2, timeout: float = 15.0) -> float:
        """Wait (bounded) until the server stops burning CPU: work handed off after replies is done."""
        started = time.monotonic()
        last = self.cpu_seconds()
        while time.monotonic() - started < timeout:
            time.sleep(interval)
            now = self.cpu_seconds()
            if now - last < idle_cpu:
                break
            last = now
        return time.monotonic() - started

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()
        return self.process.returncode


def _wait_ready(server: ServerProcess, path: str, timeout: float, ready: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode}; see {server.log.name}"
            )
        try:
            answer = requests.get(server.url + path, timeout=2)
            if answer.status_code == 200 and (ready is None or ready(answer)):
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{server.name} not ready after {timeout}s; see {server.log.name}")


def start_serve(config: Path, env: dict[str, str], log_path: Path, timeout: float = 60.0) -> ServerProcess:
    """``approval-connector --config CONFIG serve --port PORT``; ready when /healthz says ok (the
    start-up cycle ran)."""
    port = free_port()
    command = [str(CLI), "--config", str(config), "serve", "--host", LOOPBACK, "--port", str(port)]
    log = log_path.open("wb")
    process = subprocess.Popen(command, cwd=config.parent, env={**os.environ, **env}, stdout=log, stderr=log)
    server = ServerProcess("serve", process, port, log)
    _wait_ready(server, "/healthz", timeout, lambda a: a.json().get("status") == "ok")
    return server


def start_bare(log_path: Path, timeout: float = 30.0) -> ServerProcess:
    port = free_port()
    command = [sys.executable, "-m", "bench.servers", "bare", str(port)]
    log = log_path.open("wb")
    process = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=log)
    server = ServerProcess("bare", process, port, log)
    _wait_ready(server, "/healthz", timeout)
    return server


def bare_app() -> Any:
    """Same route shape as the connector's intake, answering 200 JSON at once (body not read)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def webhook(request: Request) -> Response:
        return JSONResponse({"status": "ok"}, status_code=200)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/webhooks/{system}", webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def serve_bare(port: int) -> None:
    import asyncio

    import uvicorn

    config = uvicorn.Config(bare_app(), host=LOOPBACK, port=port, **UVICORN_SETTINGS)
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "bare":
        raise SystemExit("usage: python -m bench.servers bare PORT")
    serve_bare(int(sys.argv[2]))
