"""The load generator, run in its own process (``python -m bench.loadgen '<json spec>'``): a small
keep-alive HTTP/1.1 client on raw asyncio streams (lighter than an HTTP library, so the server,
not the client, is what saturates), bounded in requests and in time, to 127.0.0.1 only.
Prints one JSON object: completed requests, statuses, elapsed time, latencies, client CPU."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

LOOPBACK = "127.0.0.1"


@dataclass
class Spec:
    port: int
    path: str
    body: str  # the request body (sent as UTF-8)
    requests: int
    concurrency: int
    max_seconds: float
    secret: str = ""  # sign the body like Jira (X-Hub-Signature) when set
    delivery_prefix: str = ""  # unique X-Atlassian-Webhook-Identifier per request when set
    keep_latencies: bool = True


@dataclass
class Tally:
    next_index: int = 0
    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)


def _request_bytes(spec: Spec, body: bytes, signature: str, index: int) -> bytes:
    lines = [
        f"POST {spec.path} HTTP/1.1",
        f"Host: {LOOPBACK}:{spec.port}",
        "Content-Type: application/json; charset=UTF-8",
        f"Content-Length: {len(body)}",
    ]
    if signature:
        lines.append(f"X-Hub-Signature: {signature}")
    if spec.delivery_prefix:
        lines.append(f"X-Atlassian-Webhook-Identifier: {spec.delivery_prefix}-{index}")
        lines.append("X-Atlassian-Webhook-Flow: Primary")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:  # not expected from Starlette's JSONResponse; handled for safety
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def _worker(spec: Spec, body: bytes, signature: str, tally: Tally, deadline: float) -> None:
    reader, writer = await asyncio.open_connection(LOOPBACK, spec.port)
    try:
        while tally.next_index < spec.requests and time.perf_counter() < deadline:
            index = tally.next_index
            tally.next_index += 1
            payload = _request_bytes(spec, body, signature, index)
            started = time.perf_counter()
            try:
                writer.write(payload)
                status = await asyncio.wait_for(_read_response(reader), timeout=30)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
                tally.errors[type(exc).__name__] += 1
                writer.close()
                reader, writer = await asyncio.open_connection(LOOPBACK, spec.port)
                continue
            if spec.keep_latencies:
                tally.latencies.append(time.perf_counter() - started)
            tally.statuses[status] += 1
    finally:
        writer.close()


async def run(spec: Spec) -> dict[str, Any]:
    body = spec.body.encode("utf-8")
    signature = ""
    if spec.secret:
        signature = "sha256=" + hmac.new(spec.secret.encode(), body, hashlib.sha256).hexdigest()
    tally = Tally()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    deadline = started + spec.max_seconds
    workers = [_worker(spec, body, signature, tally, deadline) for _ in range(spec.concurrency)]
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    completed = sum(tally.statuses.values())
    return {
        "completed": completed,
        "elapsed": elapsed,
        "statuses": {str(k): v for k, v in tally.statuses.items()},
        "errors": dict(tally.errors),
        "latencies": tally.latencies,
        "client_cpu_seconds": cpu,
        "timed_out": completed < spec.requests,
        "body_bytes": len(body),
    }


def main(argv: list[str]) -> None:
    spec = Spec(**json.loads(argv[0]))
    print(json.dumps(asyncio.run(run(spec))))


if __name__ == "__main__":
    main(sys.argv[1:])
