"""The load generator in its own process: ``wrk`` (Debian package ``wrk``) driven by a Lua script
that signs nothing itself (the body is fixed, so its signature is too) but gives every request its
own delivery id, counts statuses, and prints one JSON line of rate, percentiles and errors.
``available()`` says whether wrk is installed; bench/loadgen.py is the fallback."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

LUA = r"""
local counter = 0
local threads = {}
local prefix = "%(prefix)s"
wrk.method = "POST"
wrk.body = io.open("%(body)s", "rb"):read("*a")
wrk.headers["Content-Type"] = "application/json; charset=UTF-8"
%(signature)s
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  statuses = {}
end
function request()
  counter = counter + 1
  if prefix ~= "" then
    wrk.headers["X-Atlassian-Webhook-Identifier"] = prefix .. "-" .. id .. "-" .. counter
    wrk.headers["X-Atlassian-Webhook-Flow"] = "Primary"
  end
  return wrk.format(nil, "%(path)s")
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do
      counts[tostring(code)] = (counts[tostring(code)] or 0) + n
    end
  end
  local parts = {}
  for code, n in pairs(counts) do table.insert(parts, string.format('"%%s": %%d', code, n)) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, '
    .. '"max_us": %%d, "mean_us": %%.1f, "errors": {"connect": %%d, "read": %%d, "write": %%d, '
    .. '"status": %%d, "timeout": %%d}, "statuses": {%%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status,
    e.timeout, table.concat(parts, ", ")))
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def run(
    url: str, path: str, body: str, seconds: float, connections: int, secret: str, prefix: str
) -> dict[str, Any]:
    """One wrk run (1 thread: the other core is the server's); latencies in seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        body_path = Path(tmp) / "body.json"
        body_path.write_bytes(body.encode("utf-8"))
        signature = ""
        if secret:
            digest = hmac.new(secret.encode(), body.encode("utf-8"), hashlib.sha256).hexdigest()
            signature = f'wrk.headers["X-Hub-Signature"] = "sha256={digest}"'
        script = Path(tmp) / "bench.lua"
        script.write_text(LUA % {"prefix": prefix, "body": body_path, "signature": signature, "path": path})
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {done.stdout[-300:]} {done.stderr[-300:]}")
    data = json.loads(line[len("WRKJSON ") :])
    elapsed = data["duration_us"] / 1e6
    return {
        "completed": data["requests"],
        "elapsed": elapsed,
        "rate": data["requests"] / elapsed if elapsed else 0.0,
        "p50_ms": data["p50_us"] / 1000,
        "p90_ms": data["p90_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "max_ms": data["max_us"] / 1000,
        "statuses": data["statuses"],
        "errors": {k: v for k, v in data["errors"].items() if v},
    }
