"""The executor side of the proxy research: decide a request and, when approved, open the
upstream server and call the tool itself, exactly once (the store's claim makes a second
decision a no-op).

Run:  python decide.py --store S --ledger L REQUEST_ID approve|reject
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from common import stdio_params
from mcp import ClientSession
from mcp.client.stdio import stdio_client
from proxy_store import FileStore


async def decide(store: FileStore, ledger: Path, request_id: str, decision: str) -> str:
    claimed = store.claim(request_id, "approved" if decision == "approve" else "rejected")
    if claimed is None:
        return "already decided: nothing run"
    if claimed["state"] == "rejected":
        return "rejected"
    async with stdio_client(stdio_params(ledger)) as (read, write), ClientSession(read, write) as upstream:
        await upstream.initialize()
        result = await upstream.call_tool(claimed["tool"], claimed["arguments"])
    store.record(request_id, result.model_dump(mode="json", by_alias=True, exclude_none=True))
    return f"executed: {result.content[0].text}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("request_id")
    parser.add_argument("decision", choices=["approve", "reject"])
    a = parser.parse_args()
    print(asyncio.run(decide(FileStore(Path(a.store)), Path(a.ledger), a.request_id, a.decision)))
