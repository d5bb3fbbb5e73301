"""Engines for the two supported databases: SQLite (embedded default, WAL) and PostgreSQL
(several replicas, psycopg 3)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, OperationalError

from connector.core.errors import ConfigError

WRITE = "acr_write"  # execution option: this transaction writes (SQLite: take the write lock first)


BUSY_SECONDS = 30  # how long a writer waits for SQLite's write lock (busy_timeout) or ours
_sqlite_writers: dict[str, threading.RLock] = {}
_sqlite_writers_guard = threading.Lock()


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A writing transaction: on SQLite it takes the write lock at BEGIN and waits its turn; one
    that read first could not upgrade after another writer committed ("database is locked").

    On SQLite, writers of this process first queue on one lock per database file: SQLite makes a
    writer that finds the lock taken sleep and retry (1, 2, 5, 10 ms…), so threads of one
    process contending for it lost milliseconds each time. Other processes still meet SQLite's
    own lock and busy timeout. The wait is bounded like SQLite's, with the same error."""
    with _queued(engine), engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        yield conn


@contextmanager
def _queued(engine: Engine) -> Iterator[None]:
    """Hold this process's writer lock of the engine's SQLite file (nothing on PostgreSQL)."""
    lock = _writer_lock(engine)
    if lock is None:
        yield
        return
    if not lock.acquire(timeout=BUSY_SECONDS):
        raise OperationalError(
            "BEGIN IMMEDIATE",
            {},
            sqlite3.OperationalError(f"database is locked (waited {BUSY_SECONDS} s for this process)"),
        )
    try:
        yield
    finally:
        lock.release()


def _writer_lock(engine: Engine) -> threading.RLock | None:
    """The lock of the engine's SQLite database file, however the URL spells its path
    (re-entrant: a nested writer of the same thread meets SQLite's busy timeout, as before);
    None for other databases. Looked up by the URL's spelling (every transaction asks)."""
    if engine.dialect.name != "sqlite":
        return None
    spelling = engine.url.database or ""
    lock = _sqlite_writers.get(spelling)
    if lock is None:
        real = os.path.realpath(spelling) if spelling and spelling != ":memory:" else ":memory:"
        with _sqlite_writers_guard:
            lock = _sqlite_writers.setdefault(real, threading.RLock())
            _sqlite_writers[spelling] = lock
    return lock


# WAL pages after which a driver_writing commit copies the WAL into the database (SQLite's own
# default, kept by every other connection, is 1000): each such checkpoint holds up the replies
# waiting on that commit for milliseconds, so the webhook ledger pays it 10 times less often,
# for a WAL of up to ~40 MB while webhooks pour in.
LEDGER_AUTOCHECKPOINT = 10000


@contextmanager
def driver_writing(engine: Engine) -> Iterator[Any]:
    """The same writing transaction at the driver level, for the webhook hot path: a DB-API
    cursor on a pooled connection, without SQLAlchemy's per-transaction machinery (about 40 µs
    of Python, and the event loop's GIL, per delivery batch). Committed when the block ends,
    rolled back if it raises; on SQLite with LEDGER_AUTOCHECKPOINT in force meanwhile, queued
    behind this process's other writers like ``writing``."""
    sqlite = engine.dialect.name == "sqlite"
    with _queued(engine):
        yield from _driver_transaction(engine, sqlite)


def _driver_transaction(engine: Engine, sqlite: bool) -> Iterator[Any]:
    pooled = engine.raw_connection()
    try:
        cursor = pooled.cursor()
        try:
            if sqlite:  # the driver autocommits (_on_sqlite_connect)
                cursor.execute(f"PRAGMA wal_autocheckpoint={int(LEDGER_AUTOCHECKPOINT)}")
                cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
                if sqlite:
                    cursor.execute("COMMIT")
                else:
                    pooled.commit()
            except BaseException:
                pooled.rollback()  # the driver rolls back only a transaction still open
                raise
        finally:
            if sqlite:
                _restore_autocheckpoint(pooled, cursor)
            cursor.close()
    finally:
        pooled.close()  # back to the pool


def _restore_autocheckpoint(pooled: Any, cursor: Any) -> None:
    """Back to the pool as it came: every other writer checkpoints at SQLite's default."""
    try:
        cursor.execute("PRAGMA wal_autocheckpoint=1000")
    except Exception:  # noqa: BLE001 - a broken connection: the pool drops it instead
        pooled.invalidate()


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling begins lazily and leaves DDL outside transactions;
    # SQLAlchemy's recipe: let the driver autocommit and emit BEGIN ourselves (_on_sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _on_sqlite_begin(conn: Any) -> None:
    """A writing transaction takes the write lock at BEGIN (waiting up to busy_timeout): one that
    read first and wrote later could not upgrade its lock while another writer committed, and
    would fail at once instead of waiting its turn. Sent to the driver directly (every
    transaction pays for it; SQLAlchemy's statement machinery costs more than the BEGIN), with
    its errors ("database is locked") raised as SQLAlchemy's, as from any statement."""
    statement = "BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN"
    driver = conn.connection.dbapi_connection
    try:
        driver.execute(statement)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, (), exc, sqlite3.Error) from exc


PING_AFTER_IDLE = 2.0  # seconds a pooled PostgreSQL connection may rest before it is pinged


def _note_idle(_dbapi_connection: Any, record: Any, *_: Any) -> None:
    record.info["acr_idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Pessimistic disconnect handling for connections that rested: one that was in use a moment
    ago is not pinged (every gated call checks a connection out twice; a ping each time was two
    extra round trips), one that rested longer than PING_AFTER_IDLE is (a restart, a failover or
    an idle timeout closes connections while they rest). A dead one is replaced before use."""
    since = record.info.get("acr_idle_since")
    if since is not None and time.monotonic() - since <= PING_AFTER_IDLE:
        return
    try:
        _ping(dbapi_connection)
    except Exception as exc:  # noqa: BLE001 - any failure: the pool reconnects (or raises if down)
        raise DisconnectionError(f"pooled connection is gone: {exc}") from exc


def _ping(dbapi_connection: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT 1")
    finally:
        cursor.close()


def make_engine(url: str, where: str = "store.url") -> Engine:
    """``where`` says where the URL came from (``store.url (c.yaml:3)``) in the one-line error."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _on_sqlite_connect)
            event.listen(engine, "begin", _on_sqlite_begin)
        else:
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            engine = create_engine(url, pool_size=10, max_overflow=10)
            event.listen(engine, "connect", _note_idle)
            event.listen(engine, "checkin", _note_idle)
            event.listen(engine, "checkout", _ping_if_idle)
    except ImportError as exc:
        shown = masked(url)
        if (exc.name or "").startswith("psycopg") or "psycopg" in str(exc):
            raise ConfigError(
                f"{where}: {shown} needs the [postgres] extra: pip install 'approval-connector[postgres]'"
            ) from None
        raise ConfigError(f"{where}: {shown} needs a database driver that is not installed: {exc}") from None
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number, say
        raise ConfigError(f"{where}: cannot use {masked(url)}: {exc}") from None
    return engine


def masked(url: str) -> str:
    """The URL with scheme, user, host and database, its password shown as ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a URL: never echo it, it may hold credentials
        return "a value that is not a database URL (e.g. postgresql+psycopg://user@host/db)"
