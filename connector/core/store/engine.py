"""Engines for the two supported databases: SQLite (embedded default, WAL) and PostgreSQL
(several replicas, psycopg 3)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

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
    lock = _writer_lock(engine)
    if lock is not None and not lock.acquire(timeout=BUSY_SECONDS):
        raise OperationalError(
            "BEGIN IMMEDIATE",
            {},
            sqlite3.OperationalError(f"database is locked (waited {BUSY_SECONDS} s for this process)"),
        )
    try:
        with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            yield conn
    finally:
        if lock is not None:
            lock.release()


def _writer_lock(engine: Engine) -> threading.RLock | None:
    """The lock of the engine's SQLite database file (re-entrant: a nested writer of the same
    thread meets SQLite's busy timeout, as before); None for other databases."""
    if engine.dialect.name != "sqlite":
        return None
    key = str(engine.url.database or ":memory:")
    lock = _sqlite_writers.get(key)
    if lock is None:
        with _sqlite_writers_guard:
            lock = _sqlite_writers.setdefault(key, threading.RLock())
    return lock


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
            engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    except ImportError as exc:
        shown = masked(url)
        if (exc.name or "").startswith("psycopg") or "psycopg" in str(exc):
            raise ConfigError(
                f"{where}: {shown} needs the [postgres] extra: pip install 'approval-connector[postgres]'"
            ) from None
        raise ConfigError(f"{where}: {shown} needs a database driver that is not installed: {exc}") from None
    except ArgumentError as exc:
        raise ConfigError(f"{where}: cannot use {masked(url)}: {exc}") from None
    return engine


def masked(url: str) -> str:
    """The URL with scheme, user, host and database, its password shown as ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not a URL: never echo it, it may hold credentials
        return "a value that is not a database URL (e.g. postgresql+psycopg://user@host/db)"
