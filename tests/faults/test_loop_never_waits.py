"""The event loop never waits on the database: while another connection holds the lock a write
needs, the loop keeps ticking (webhook intake and lease heartbeats with it), and the write goes
through once the lock is released."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

from sqlalchemy import text

from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import RequestState, Verdict
from connector.demo.tools import send_email
from tests.conftest import EMAIL, LOCAL_CONFIG
from tests.connector.test_store import pg_store_url  # noqa: F401 - fixture

HOLD = 1.5


async def max_loop_gap(work) -> tuple[float, object]:
    """Run ``work`` while a ticker measures the longest time the loop could not run it."""
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    tick = asyncio.ensure_future(ticker())
    try:
        result = await work
    finally:
        stop.set()
        await tick
    return max(gaps), result


async def test_a_locked_sqlite_database_does_not_stall_the_loop(workdir):
    db = workdir / "connector.db"
    connector = Connector.from_config(parse_config(LOCAL_CONFIG.format(db=db)))
    connector.register_tool(send_email)
    try:
        locked = threading.Event()

        def hold_lock() -> None:  # another process holds the write lock for a while
            holder = sqlite3.connect(db, timeout=30)
            holder.execute("BEGIN IMMEDIATE")
            locked.set()
            time.sleep(HOLD)
            holder.commit()
            holder.close()

        thread = threading.Thread(target=hold_lock)
        thread.start()
        assert locked.wait(10)
        started = time.monotonic()
        gap, request = await max_loop_gap(connector.service.submit("send_email", EMAIL, {"agent": "a"}))
        assert time.monotonic() - started >= HOLD * 0.9  # it really waited for the lock ...
        assert gap < 0.25  # ... but in a worker thread: the loop kept running
        assert request.state is RequestState.TICKETED
        thread.join()
    finally:
        connector.close()


async def test_a_locked_request_row_on_postgresql_does_not_stall_the_loop(pg_store_url, workdir):  # noqa: F811
    config = parse_config(LOCAL_CONFIG.format(db="unused").replace("sqlite:///unused", pg_store_url))
    connector = Connector.from_config(config)
    connector.register_tool(send_email)
    try:
        request = await connector.service.submit("send_email", EMAIL, {"agent": "a"})
        connector.adapters["desk"].decide(request.ticket.key, Verdict.APPROVED, "alice")
        locked = threading.Event()

        def hold_row() -> None:
            with connector.store.engine.begin() as conn:
                conn.execute(
                    text("SELECT 1 FROM approval_requests WHERE id = :id FOR UPDATE"), {"id": request.id}
                )
                locked.set()
                time.sleep(HOLD)

        thread = threading.Thread(target=hold_row)
        thread.start()
        assert locked.wait(10)
        gap, after = await max_loop_gap(connector.service.refresh(request.id))
        thread.join()
        assert gap < 0.25
        assert after.state is RequestState.SUCCEEDED
    finally:
        connector.close()


async def test_the_audit_seal_waits_its_turn_behind_another_writer(workdir):
    """The seal job reads the moved heads, then writes their seals: begun as a reader, it could
    not take the write lock after another writer committed, and failed at once with "database is
    locked" (an ERROR every minute on a busy SQLite store) instead of waiting its turn."""
    db = workdir / "connector.db"
    connector = Connector.from_config(parse_config(LOCAL_CONFIG.format(db=db)))
    connector.register_tool(send_email)
    try:
        await connector.service.submit("send_email", EMAIL, {"agent": "a"})  # a head that moved
        locked = threading.Event()

        def write_meanwhile() -> None:  # another process writes and commits while the seal reads
            holder = sqlite3.connect(db, timeout=30)
            holder.execute("BEGIN IMMEDIATE")
            locked.set()
            time.sleep(0.5)
            holder.execute("UPDATE approval_requests SET updated_at = updated_at")
            holder.commit()
            holder.close()

        thread = threading.Thread(target=write_meanwhile)
        thread.start()
        assert locked.wait(10)
        store, key = connector.store, connector.service.ctx.sealer.audit_key()
        sealed = await asyncio.to_thread(store.audit.seal, store.engine, key)  # as the seal job does
        thread.join()
        assert sealed >= 1
        assert store.audit.verify(store.engine, key) == []
    finally:
        connector.close()
