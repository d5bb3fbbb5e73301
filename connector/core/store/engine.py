"""Engines for the two supported databases: SQLite (embedded default, WAL) and PostgreSQL
(several replicas, psycopg 3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError

from connector.core.errors import ConfigError

WRITE = "acr_write"  # execution option: this transaction writes (SQLite: take the write lock first)


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A writing transaction: on SQLite it takes the write lock at BEGIN and waits its turn; one
    that read first could not upgrade after another writer committed ("database is locked")."""
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        yield conn


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
    rolled back if it raises; on SQLite with LEDGER_AUTOCHECKPOINT in force meanwhile."""
    sqlite = engine.dialect.name == "sqlite"
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
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _on_sqlite_begin(conn: Any) -> None:
    """A writing transaction takes the write lock at BEGIN (waiting up to busy_timeout): one that
    read first and wrote later could not upgrade its lock while another writer committed, and
    would fail at once instead of waiting its turn."""
    immediate = conn.get_execution_options().get(WRITE)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


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
