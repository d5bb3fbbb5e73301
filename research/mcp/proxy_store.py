"""A JSON-file stand-in for the connector's store, for the proxy research only.

One request per dedupe key (requester, server, tool, canonical arguments); a request
moves pending -> approved|rejected -> executed. ``fcntl`` locks the file so the proxy and
the deciding process can share it. The real connector uses its SQL store and
``ApprovalService.submit``; this only shows the states a proxy has to answer from.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def dedupe_key(requester: str, server: str, tool: str, arguments: dict[str, Any]) -> str:
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256("\x00".join([requester, server, tool, canonical]).encode()).hexdigest()


class FileStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.path.touch(exist_ok=True)
        with self.path.open("r+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            text = f.read()
            data = json.loads(text) if text else {"requests": {}, "by_key": {}}
            yield data
            f.seek(0)
            f.truncate()
            f.write(json.dumps(data, indent=1))

    def submit(self, requester: str, server: str, tool: str, arguments: dict[str, Any]) -> tuple[dict, bool]:
        """The request for this exact call: the existing one, or a new pending one (created=True)."""
        key = dedupe_key(requester, server, tool, arguments)
        with self._locked() as data:
            if key in data["by_key"]:
                return data["requests"][data["by_key"][key]], False
            request_id = uuid.uuid4().hex
            ticket = f"OPS-{len(data['requests']) + 1}"
            request = {
                "id": request_id,
                "ticket": ticket,
                "server": server,
                "tool": tool,
                "arguments": arguments,
                "requester": requester,
                "state": "pending",
                "result": None,
            }
            data["requests"][request_id] = request
            data["by_key"][key] = request_id
            return request, True

    def get(self, request_id: str) -> dict | None:
        with self._locked() as data:
            return data["requests"].get(request_id)

    def claim(self, request_id: str, decision: str) -> dict | None:
        """Move pending -> approved/rejected once; None if someone already decided."""
        with self._locked() as data:
            request = data["requests"][request_id]
            if request["state"] != "pending":
                return None
            request["state"] = decision
            return dict(request)

    def record(self, request_id: str, result: dict[str, Any]) -> None:
        with self._locked() as data:
            data["requests"][request_id].update(state="executed", result=result)
